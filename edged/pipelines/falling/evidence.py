"""Evidence for a falling-object event: a clip from 10 s before the release to 5 s after the last
sighting, and a snapshot with the trajectory drawn on it.

Both kinds of source end up in the same place, a ring of 2-second MPEG-TS segments on disk
written by an ffmpeg child process:

* ``copy``: for an RTSP (H.264) source ffmpeg reads the stream itself with ``-c copy``: a ring
  of the camera's own compressed packets, no re-encode, no decode cost in our process;
* ``encode``: otherwise our frames are piped to ffmpeg (libx264 ultrafast) from a writer
  thread; a slow encoder drops frames from the ring (counted), never stalls the analytic.

A clip is the concatenation (``-c copy``) of the segments that overlap the wanted span, so it
starts at the segment boundary at or before "release − 10 s". Keeping compressed segments
costs ~1 MB/s instead of the ~150 MB/s a raw 1080p frame ring would need for 15 s of history.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import structlog

from edged.pipelines.falling import metrics
from edged.pipelines.falling.track import Track
from edged.pipelines.frame import Frame

SEGMENT_S = 2.0
log = structlog.get_logger()


@dataclass(slots=True)
class Segment:
    path: Path
    start: float  # on the clip clock (encode) or wall clock (copy)
    end: float


@dataclass(slots=True)
class ClipJob:
    out: Path
    t_from: float
    t_to: float


class SegmentRing:
    """The ffmpeg child and the list of closed segments it has written."""

    def __init__(
        self,
        workdir: Path,
        fps: float,
        keep_s: float = 60.0,
        source: str | None = None,
        realtime: bool = True,
    ) -> None:
        self.dir = workdir
        self.realtime = realtime  # offline analysis waits for the encoder instead of dropping
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.copy_mode = source is not None
        self.wrap = max(int(keep_s / SEGMENT_S), 8)
        self.list_path = self.dir / "segments.csv"
        self.list_path.write_text("")
        self._list_pos = 0
        self.segments: list[Segment] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.t0: float | None = None  # clip clock of the first frame fed (encode mode)
        self.size: tuple[int, int] | None = None
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=int(fps * 2))
        self.dropped = 0
        self._writer: threading.Thread | None = None
        self.source = source
        self.closing = False
        self.restarts = 0
        self._next_start = 0.0
        if source is not None:
            self._start_copy()

    def _start_copy(self) -> None:
        assert self.source is not None
        # some servers send the first access units without timestamps; the muxer refuses those
        fix_ts = "setts=pts=if(eq(PTS\\,NOPTS)\\,0\\,PTS):dts=if(eq(DTS\\,NOPTS)\\,0\\,DTS)"
        self._start(["-rtsp_transport", "tcp", "-i", self.source, "-c", "copy", "-an", "-bsf:v", fix_ts])

    def _start(self, input_args: list[str]) -> None:
        seg = [
            "-f", "segment", "-segment_time", str(SEGMENT_S), "-segment_wrap", str(self.wrap),
            "-segment_list", str(self.list_path), "-segment_list_type", "csv",
            "-segment_format", "mpegts", str(self.dir / "seg%04d.ts"),
        ]  # fmt: skip
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *input_args, *seg]
        if not self.copy_mode:
            cmd.remove("-nostdin")
        self.proc = subprocess.Popen(cmd, stdin=None if self.copy_mode else subprocess.PIPE)

    def feed(self, frame: Frame) -> None:
        if self.copy_mode:
            return
        img = frame.image
        if self.proc is None:
            h, w = img.shape[:2]
            self.size = (w, h)
            self.t0 = frame.t
            gop = max(int(self.fps * SEGMENT_S), 1)
            self._start([
                "-f", "rawvideo", "-pix_fmt", "bgr24" if img.ndim == 3 else "gray", "-s", f"{w}x{h}",
                "-r", f"{self.fps}", "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast",
                "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            ])  # fmt: skip
            self._writer = threading.Thread(target=self._write_loop, name="falling-evidence", daemon=True)
            self._writer.start()
        if (img.shape[1], img.shape[0]) != self.size:
            self.dropped += 1
            return
        try:
            self.queue.put(img, block=not self.realtime, timeout=None if not self.realtime else 0)
        except queue.Full:
            self.dropped += 1

    def _write_loop(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        while True:
            img = self.queue.get()
            if img is None:
                break
            try:
                self.proc.stdin.write(np.ascontiguousarray(img).tobytes())
            except (BrokenPipeError, OSError):
                log.warning("falling_evidence_encoder_gone")
                break
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def refresh(self) -> None:
        """Read newly closed segments from ffmpeg's list file; restart a dead copier (backoff)."""
        if self.copy_mode and not self.closing and self.proc is not None and self.proc.poll() is not None:
            now = time.monotonic()
            if now >= self._next_start:
                self.restarts += 1
                self._next_start = now + min(2.0 * self.restarts, 30.0)
                log.warning(
                    "falling_evidence_copier_restart", rc=self.proc.returncode, restarts=self.restarts
                )
                self._start_copy()
        try:
            with self.list_path.open("r", encoding="utf-8") as fh:
                fh.seek(self._list_pos)
                text = fh.read()
        except OSError:
            return
        lines = text.split("\n")
        complete, rest = lines[:-1], lines[-1]
        self._list_pos += len(text) - len(rest)
        now = time.time()
        for line in complete:
            parts = line.strip().split(",")
            if len(parts) < 3:
                continue
            try:
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                continue
            path = self.dir / parts[0]
            if self.copy_mode:  # map onto the wall clock: the segment closed just now
                start, end = now - (end - start), now
            else:
                start, end = start + (self.t0 or 0.0), end + (self.t0 or 0.0)
            self.segments = [s for s in self.segments if s.path != path]
            self.segments.append(Segment(path, start, end))

    def covered_until(self) -> float:
        return self.segments[-1].end if self.segments else float("-inf")

    def pick(self, t_from: float, t_to: float) -> list[Segment]:
        return [s for s in self.segments if s.end > t_from and s.start < t_to]

    def close(self) -> None:
        self.closing = True
        if self.proc is None:
            return
        if self.copy_mode:
            self.proc.terminate()
        else:
            self.queue.put(None)
            if self._writer is not None:
                self._writer.join(timeout=30)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.refresh()


class EvidenceRecorder:
    """Implements the analytic's `Evidence` sink: clips from the segment ring, JPEG snapshots."""

    def __init__(
        self,
        camera: str,
        out_dir: Path,
        fps: float,
        rtsp_source: str | None = None,
        max_bytes: int = 2 << 30,
        max_age_s: float = 30 * 86400.0,
        ring_dir: Path | None = None,
        realtime: bool = True,
    ) -> None:
        self.camera = camera
        self.out_dir = out_dir.resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = None if ring_dir else tempfile.TemporaryDirectory(prefix=f"edged-falling-{camera}-")
        ring = ring_dir or Path(self._tmp.name if self._tmp else ".")
        self.ring = SegmentRing(ring, fps, source=rtsp_source, realtime=realtime)
        self.jobs: list[ClipJob] = []
        self._assemblers: list[threading.Thread] = []
        self._retain_lock = threading.Lock()
        self.max_bytes, self.max_age_s = max_bytes, max_age_s
        self.clips = metrics.CLIPS
        self.deleted = metrics.EVIDENCE_BYTES_DELETED.labels(camera)

    def feed(self, frame: Frame) -> None:
        self.ring.feed(frame)

    def request_clip(self, name: str, t_from: float, t_to: float, wall_from: float, wall_to: float) -> str:
        out = self.out_dir / f"{name}.mp4"
        if self.ring.copy_mode:
            t_from, t_to = wall_from, wall_to
        self.jobs.append(ClipJob(out, t_from, t_to))
        return str(out)

    def snapshot(self, name: str, image: np.ndarray, track: Track) -> str:
        out = self.out_dir / f"{name}.jpg"
        img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        pts = np.round(np.column_stack([track.u, track.v]) * 4).astype(np.int32)
        cv2.polylines(img, [pts], False, (0, 0, 255), 2, cv2.LINE_AA, 2)
        for p in pts[:: max(len(pts) // 12, 1)]:
            cv2.circle(img, (int(p[0]), int(p[1])), 24, (0, 255, 255), 1, cv2.LINE_AA, 2)
        first = (int(track.u[0]), int(track.v[0]))
        cv2.drawMarker(img, first, (0, 0, 255), cv2.MARKER_CROSS, 24, 2)
        cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return str(out)

    def poll(self, frame: Frame) -> None:
        if not self.jobs:
            return
        self.ring.refresh()
        ready = [j for j in self.jobs if self.ring.covered_until() >= j.t_to]
        for job in ready:
            self.jobs.remove(job)
            # ffmpeg's concat takes a fraction of a second: never inside the frame loop
            segs = self.ring.pick(job.t_from, job.t_to)
            worker = threading.Thread(
                target=self._assemble, args=(job, segs), name="falling-clip", daemon=True
            )
            worker.start()
            self._assemblers = [w for w in self._assemblers if w.is_alive()] + [worker]

    def close(self) -> None:
        self.ring.close()
        for worker in self._assemblers:
            worker.join(timeout=60)
        for job in self.jobs:
            self._assemble(job, self.ring.pick(job.t_from, job.t_to))
        self.jobs = []
        if self._tmp is not None:
            self._tmp.cleanup()

    def _assemble(self, job: ClipJob, segs: list[Segment]) -> None:
        if not segs:
            self.clips.labels(self.camera, "missing").inc()
            log.warning("falling_clip_missing", clip=str(job.out))
            return
        listing = self.ring.dir / f"{job.out.stem}.txt"
        listing.write_text("".join(f"file '{s.path}'\n" for s in segs), encoding="utf-8")
        cmd = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0",
            "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(job.out),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        listing.unlink(missing_ok=True)
        ok = result.returncode == 0 and job.out.exists()
        self.clips.labels(self.camera, "ok" if ok else "failed").inc()
        if not ok:
            log.warning(
                "falling_clip_failed", clip=str(job.out), stderr=result.stderr.decode(errors="replace")[-300:]
            )
        self._retain()

    def _retain(self) -> None:
        """Delete the oldest evidence beyond the byte budget or the age limit."""
        with self._retain_lock:
            self._retain_locked()

    def _retain_locked(self) -> None:
        files = []
        for p in self.out_dir.iterdir():
            if p.suffix in (".mp4", ".jpg"):
                with contextlib.suppress(FileNotFoundError):
                    st = p.stat()
                    files.append((st.st_mtime, st.st_size, p))
        files.sort()
        total = sum(size for _, size, _ in files)
        now = time.time()
        for mtime, size, p in files:
            if now - mtime <= self.max_age_s and total <= self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
            self.deleted.inc(size)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None
