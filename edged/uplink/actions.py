"""What each downlink command does on the box.

- `credentials.sync` {mode: full|delta, version, base_version?, rows}: applied atomically by
  the doors' credential store; a delta whose `base_version` is not the box's version is
  refused (`version_gap`) so the server sends a full sync instead.
- `door.open` {door, seconds?}, `door.mode` {door, mode}: sent to the door's `doors:<group>`
  worker (`open_door`, `set_mode`); the worker's answer (or its timeout) is the result.
- `lockdown` {building?, active}: `lockdown` on every doors worker serving that building (or
  every building); any worker that fails or times out makes the result an error that names it.
- `config.push` {text, reload?}: validated exactly like `edged check-config`; errors come back
  as the same `path: message (line N)` lines and nothing changes. A valid config must keep
  the site id, is written atomically (previous kept as `.prev`), then the supervisor is asked
  to `reload` (which restarts this worker too, after the result is recorded).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from edged.config import ConfigError, SiteConfig, validate_text

DoorCall = Callable[[str, str, dict[str, Any], float], Any]  # (worker, command, args, timeout)


class ActionError(Exception):
    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []


def door_groups(cfg: SiteConfig) -> dict[str, str]:
    """Door id → the `doors:<group>` worker that drives it."""
    buses = {b.id: b.worker_group() for b in cfg.doors.buses}
    ctls = {c.id: c.worker_group() for c in cfg.doors.controllers}
    out: dict[str, str] = {}
    for d in cfg.doors.doors:
        if d.reader is not None and d.reader.bus in buses:
            out[d.id] = f"doors:{buses[d.reader.bus]}"
        elif d.controller is not None and d.controller.id in ctls:
            out[d.id] = f"doors:{ctls[d.controller.id]}"
    return out


def credentials_path(cfg: SiteConfig) -> Path:
    return cfg.doors.credentials_db or cfg.runtime.state_dir / "credentials.sqlite"


def write_atomically(path: Path, text: str) -> None:
    """tmp file + fsync + rename + fsync(dir): a crash leaves the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    with contextlib.suppress(OSError):
        if path.exists():
            prev = path.with_name(path.name + ".prev")
            prev.write_bytes(path.read_bytes())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Actions:
    def __init__(
        self,
        cfg: SiteConfig,
        config_path: Path | None,
        door_call: DoorCall,
        reload: Callable[[], Any] | None,
        door_timeout_s: float = 3.0,
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.door_call = door_call
        self.reload = reload
        self.door_timeout_s = door_timeout_s
        self.groups = door_groups(cfg)
        self._table: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ping": lambda _a: {"pong": True},
            "credentials.sync": self.credentials_sync,
            "door.open": self.door_open,
            "door.mode": self.door_mode,
            "lockdown": self.lockdown,
            "config.push": self.config_push,
        }

    def names(self) -> list[str]:
        return list(self._table)

    def run(self, name: str, args: dict[str, Any]) -> Any:
        fn = self._table.get(name)
        if fn is None:
            raise ActionError(f"unknown command {name!r}")
        return fn(args)

    def after(self, name: str, result: dict[str, Any]) -> None:
        """Side effects that must follow the recorded result (the reload restarts this worker)."""
        wants = result.get("ok") and result.get("result", {}).get("reload")
        if name == "config.push" and wants and self.reload is not None:
            timer = threading.Timer(1.0, self._reload)  # let the result go out first
            timer.daemon = True
            timer.start()

    def _reload(self) -> None:
        try:
            assert self.reload is not None
            self.reload()
        except Exception:  # the supervisor stops us while answering; nothing to do
            pass

    # -- credentials -----------------------------------------------------------------------
    def credentials_sync(self, args: dict[str, Any]) -> dict[str, Any]:
        from edged.access.credentials import CredentialError, CredentialStore

        mode, version, rows = args.get("mode"), args.get("version"), args.get("rows", [])
        if mode not in ("full", "delta") or not isinstance(version, int) or not isinstance(rows, list):
            raise ActionError("credentials.sync needs mode (full|delta), an int version and a list of rows")
        store = CredentialStore(credentials_path(self.cfg))
        try:
            have = store.version
            base = args.get("base_version")
            if mode == "delta" and base is not None and base != have:
                if version <= have:
                    return {"version": have, "applied": False, "reason": "already applied"}
                raise ActionError(f"version_gap: box has {have}, delta is based on {base}; send a full sync")
            try:
                now = store.apply_sync(mode == "full", version, rows)
            except CredentialError as exc:
                raise ActionError(f"bad credential row: {exc}") from exc
            return {"version": now, "applied": now == version and (mode == "full" or version > have),
                    "count": store.count()}  # fmt: skip
        finally:
            store.close()

    # -- doors -------------------------------------------------------------------------------
    def _door_worker(self, args: dict[str, Any]) -> tuple[str, str]:
        door = args.get("door")
        if not isinstance(door, str) or door not in self.groups:
            raise ActionError(f"unknown door {door!r}")
        return door, self.groups[door]

    def _call(self, worker: str, command: str, args: dict[str, Any]) -> Any:
        try:
            return self.door_call(worker, command, args, self.door_timeout_s)
        except TimeoutError as exc:
            raise ActionError(f"{worker}: timeout: {exc}") from exc
        except (RuntimeError, zmq.ZMQError) as exc:
            raise ActionError(f"{worker}: {exc}") from exc

    def door_open(self, args: dict[str, Any]) -> Any:
        door, worker = self._door_worker(args)
        extra = {"seconds": args["seconds"]} if "seconds" in args else {}
        return self._call(worker, "open_door", {"door": door, "by": "server", **extra})

    def door_mode(self, args: dict[str, Any]) -> Any:
        door, worker = self._door_worker(args)
        mode = args.get("mode")
        if not isinstance(mode, str):
            raise ActionError("door.mode needs a mode (normal, always_open, locked_down or auto)")
        return self._call(worker, "set_mode", {"door": door, "mode": mode})

    def lockdown(self, args: dict[str, Any]) -> dict[str, Any]:
        """Lock down (or release, `active: false`) one building, or every building of the site."""
        active = bool(args.get("active", True))
        building = args.get("building")
        buildings = {d.id: d.building for d in self.cfg.doors.doors}
        wanted = sorted(set(buildings.values())) if building is None else [str(building)]
        if building is not None and building not in buildings.values():
            raise ActionError(f"unknown building {building!r}")
        results: dict[str, Any] = {}
        failed: list[str] = []
        for b in wanted:
            workers = sorted({self.groups[d] for d, db in buildings.items() if db == b and d in self.groups})
            for worker in workers:
                try:
                    results[f"{b}@{worker}"] = self._call(
                        worker, "lockdown", {"building": b, "active": active}
                    )
                except ActionError as exc:
                    failed.append(f"{b}@{worker}: {exc}")
        if failed:
            raise ActionError(f"lockdown failed on {len(failed)} worker(s)", failed)
        return {"active": active, "buildings": wanted, "workers": results}

    # -- config ------------------------------------------------------------------------------
    def config_push(self, args: dict[str, Any]) -> dict[str, Any]:
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ActionError("config.push needs the config YAML as text")
        try:
            pushed = validate_text(text, SiteConfig, "pushed config")
        except ConfigError as exc:
            raise ActionError("config rejected", exc.lines) from exc
        if pushed.site.id != self.cfg.site.id:
            raise ActionError(
                "config rejected", [f"site.id: is {pushed.site.id}, this box is {self.cfg.site.id}"]
            )
        if self.config_path is None:
            raise ActionError("this box does not know its config file; nothing changed")
        write_atomically(self.config_path, text)
        reload = bool(args.get("reload", True)) and self.reload is not None
        return {
            "written": str(self.config_path),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "reload": reload,
        }
