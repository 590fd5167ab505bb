"""The edged side of the benchmark: the real daemon (`edged run`) on a generated site.

N camera workers play the film (looped, paced to real time, like a live substream), one
detector worker serves them all, with the supervisor, rules and uplink workers running as
in production. Rates come from the daemon's own /metrics (the camera counters), CPU and RSS
from /proc of the worker pids that `edged status` reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import zmq

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.pipelines.bench import promtext
from edged.pipelines.rtsp_server import free_port

SKIP_REASONS = ("behind", "no_credit", "stale")  # a due frame lost; no_motion is a choice, not a loss
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class PipelineResult:
    cameras: int
    fps: float  # mean analysed frames per second per camera
    min_fps: float
    skipped: int  # due frames lost (behind, no_credit, stale) over the window, all cameras
    no_motion: int  # due frames not sent because nothing moved (gating, not a loss)
    camera_rss_mb: float  # largest camera worker RSS seen
    camera_cpu_pct: float  # mean per camera worker, % of one core
    detector_cpu_pct: float
    detector_rss_mb: float
    detector_images_per_s: float = (
        0.0  # images through the model, all cameras (incl. answers that came too late)
    )
    skipped_by_reason: dict[str, int] = field(default_factory=dict)


def bench_site(
    workdir: Path, film: Path, cameras: int, fps: float, width: int, detector: dict[str, Any], port: int
) -> dict[str, Any]:
    """A site with `cameras` street cameras (zone + counting line) and one detector."""
    cams = []
    for i in range(cameras):
        cams.append(
            {
                "id": f"bench-{i}",
                "source": str(film),
                "fps": 30,
                "decode": {"loop": True, "realtime": True, "width": width},
                "detection": {"fps": fps, "classes": ["person", "bicycle", "car", "horse"]},
                "zones": [
                    {
                        "id": "roadway",
                        "polygon": [[0, 200], [640, 200], [640, 360], [0, 360]],
                        "classes": ["person", "bicycle"],
                        "inertia_frames": 3,
                    }
                ],
                "lines": [{"id": "kerb", "points": [[480, 360], [480, 0]], "classes": ["person", "bicycle"]}],
                "snapshots": {"max_files": 50},
            }
        )
    return {
        "site": {"id": "bench"},
        "runtime": {"run_dir": str(workdir / "run"), "state_dir": str(workdir / "state")},
        "metrics": {"listen": f"127.0.0.1:{port}"},
        "logging": {"level": "warning", "format": "json"},
        "detectors": [detector],
        "cameras": cams,
    }


def _proc_stat(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS MiB) of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return cpu, int(line.split()[1]) / 1024.0
    except (OSError, IndexError, ValueError):
        return None
    return cpu, 0.0


class BenchDaemon:
    def __init__(self, workdir: Path, site: dict[str, Any]) -> None:
        self.workdir = workdir
        self.site = site
        self.config = workdir / "site.yaml"
        self.config.write_text(yaml.safe_dump(site, sort_keys=False))
        self.metrics_url = f"http://{site['metrics']['listen']}/metrics"
        self.proc: subprocess.Popen[bytes] | None = None
        self._zmq: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._control = CommandClient(self._zmq, Endpoints(Path(site["runtime"]["run_dir"])).control)

    def __enter__(self) -> BenchDaemon:
        log = open(self.workdir / "edged.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "-c", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._control.close()
        self._zmq.term()

    def status(self) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._control.call("status", timeout_s=2.0)
            return result
        except (CommandTimeout, CommandError):
            return None

    def pids(self, *kinds: str) -> dict[str, list[int]]:
        """Live worker pids by kind, from one status answer (retried: a loaded box answers late)."""
        for _ in range(10):
            status = self.status()
            if status is not None:
                return {
                    kind: [
                        w["pid"] for w in status["workers"] if w["worker"].startswith(kind + ":") and w["pid"]
                    ]
                    for kind in kinds
                }
            time.sleep(0.5)
        raise TimeoutError("edged status did not answer")

    def wait_flowing(self, camera_ids: list[str], timeout_s: float) -> None:
        """Until every camera has had a detection result back (model loaded, rings attached)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"edged run exited with {self.proc.returncode}; see {self.workdir}/edged.log"
                )
            with contextlib.suppress(OSError):
                samples = promtext.scrape(self.metrics_url)
                name = "edged_camera_frames_processed_total"
                if all(promtext.total(samples, name, camera=c) > 0 for c in camera_ids):
                    return
            time.sleep(0.5)
        raise TimeoutError(f"cameras did not start analysing within {timeout_s:.0f} s; see {self.workdir}")


def run_pipeline(
    workdir: Path,
    film: Path,
    cameras: int,
    fps: float,
    width: int,
    detector: dict[str, Any],
    warmup_s: float,
    seconds: float,
) -> PipelineResult:
    site = bench_site(workdir, film, cameras, fps, width, detector, free_port())
    ids = [c["id"] for c in site["cameras"]]
    with BenchDaemon(workdir, site) as daemon:
        daemon.wait_flowing(ids, 120.0)
        time.sleep(warmup_s)
        pids = daemon.pids("camera", "detector")
        cam_pids, det_pids = pids["camera"], pids["detector"]
        before = promtext.scrape(daemon.metrics_url)
        cpu0 = {pid: s[0] for pid in cam_pids + det_pids if (s := _proc_stat(pid))}
        t0 = time.monotonic()
        rss: dict[int, float] = {}
        while time.monotonic() - t0 < seconds:
            time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - t0))))
            for pid in cam_pids + det_pids:
                if (s := _proc_stat(pid)) is not None:
                    rss[pid] = max(rss.get(pid, 0.0), s[1])
        elapsed = time.monotonic() - t0
        after = promtext.scrape(daemon.metrics_url)
        cpu1 = {pid: s[0] for pid in cam_pids + det_pids if (s := _proc_stat(pid))}
    return _result(ids, before, after, elapsed, cam_pids, det_pids, cpu0, cpu1, rss)


def _result(
    ids: list[str],
    before: promtext.Samples,
    after: promtext.Samples,
    elapsed: float,
    cam_pids: list[int],
    det_pids: list[int],
    cpu0: dict[int, float],
    cpu1: dict[int, float],
    rss: dict[int, float],
) -> PipelineResult:
    def delta(name: str, **match: str) -> float:
        return promtext.total(after, name, **match) - promtext.total(before, name, **match)

    per_cam = [delta("edged_camera_frames_processed_total", camera=c) / elapsed for c in ids]
    skipped = "edged_camera_frames_skipped_total"
    by_reason = {r: int(delta(skipped, reason=r)) for r in SKIP_REASONS}

    def cpu_pct(pids: list[int]) -> float:
        used = [cpu1[p] - cpu0[p] for p in pids if p in cpu0 and p in cpu1]
        return 100.0 * sum(used) / elapsed / max(1, len(used))

    return PipelineResult(
        cameras=len(ids),
        fps=sum(per_cam) / len(per_cam),
        min_fps=min(per_cam),
        skipped=sum(by_reason.values()),
        no_motion=int(delta(skipped, reason="no_motion")),
        camera_rss_mb=max((rss[p] for p in cam_pids if p in rss), default=0.0),
        camera_cpu_pct=cpu_pct(cam_pids),
        detector_cpu_pct=cpu_pct(det_pids),
        detector_rss_mb=max((rss[p] for p in det_pids if p in rss), default=0.0),
        detector_images_per_s=delta("edged_detector_batch_size_sum") / elapsed,
        skipped_by_reason=by_reason,
    )
