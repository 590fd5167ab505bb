"""Per-site OSDP secure channel base keys (SCBK).

A JSON file maps ``"default"`` and optionally ``"<bus>:<address>"`` to 16-byte hex keys. The
first start of a site generates a random default key (file mode 0600); readers are then
provisioned to it in install mode. Keys never go into logs or events.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class KeyFileError(ValueError):
    """The key file is unreadable or holds a key that is not 16 bytes of hex."""


def _key(hexstr: object, name: str) -> bytes:
    try:
        key = bytes.fromhex(str(hexstr))
    except ValueError as exc:
        raise KeyFileError(f"{name}: not hex") from exc
    if len(key) != 16:
        raise KeyFileError(f"{name}: an SCBK is 16 bytes, got {len(key)}")
    return key


class KeyRing:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if "default" not in keys:
            raise KeyFileError("the key file needs a 'default' key")
        self._keys = keys

    @classmethod
    def load(cls, path: Path, create: bool = True) -> KeyRing:
        if not path.exists():
            if not create:
                raise KeyFileError(f"{path}: no such key file")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"default": os.urandom(16).hex()}, f)
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"{path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise KeyFileError(f"{path}: expected a JSON object")
        return cls({str(k): _key(v, f"{path}:{k}") for k, v in raw.items()})

    def scbk(self, bus: str, address: int) -> bytes:
        return self._keys.get(f"{bus}:{address}", self._keys["default"])
