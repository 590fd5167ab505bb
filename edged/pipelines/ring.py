"""Per-camera shared-memory frame ring: pixels move once, sockets carry only (slot, seq).

Layout of one file under /dev/shm (little-endian, 64-byte aligned)::

    header  64 B   magic "EDGRING1", version, slots, H, W, C, slot stride, token, last seq
    slot i  64 B   seq_begin, seq_end, t, wall, h, w, c   then H*W*C bytes of pixels

The writer (camera worker) is the only one that writes. Per slot it is a seqlock: set
``seq_begin = seq``, copy pixels and metadata, then ``seq_end = seq``. A reader of
``(slot, seq)`` checks ``seq_end == seq`` before copying and ``seq_begin == seq`` after; if
either differs the slot was (or is being) overwritten and the read returns None. Nothing is
ever locked, so a slow detector can never stall a camera.

Plain files on /dev/shm with mmap are used instead of `multiprocessing.shared_memory`
because that module's resource tracker unlinks segments that a *reader* attached to when
the reader exits (Python < 3.13), which would break the ring under the camera worker.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
import re
import secrets
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

MAGIC = b"EDGRING1"
VERSION = 1
HEADER_BYTES = 64
SLOT_HEADER_BYTES = 64
ALIGN = 64
DEFAULT_SHM_DIR = Path("/dev/shm")

# header fields (uint64 indices into the header viewed as uint64[8])
_H_MAGIC, _H_GEOM1, _H_GEOM2, _H_STRIDE, _H_TOKEN, _H_LAST = 0, 1, 2, 3, 4, 5
# slot header fields (uint64 / float64 indices into the slot header viewed as 8-byte words)
_S_BEGIN, _S_END, _S_T, _S_WALL, _S_SHAPE = 0, 1, 2, 3, 4

T = TypeVar("T")


class RingError(RuntimeError):
    pass


class ShmTooSmall(RingError):
    """/dev/shm cannot hold the configured rings; the message says how to fix it."""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def slot_stride(shape: tuple[int, int, int]) -> int:
    h, w, c = shape
    return SLOT_HEADER_BYTES + _align(h * w * c)


def ring_bytes(slots: int, shape: tuple[int, int, int]) -> int:
    """Size of one ring file: what /dev/shm must hold for it."""
    return HEADER_BYTES + slots * slot_stride(shape)


def ring_name(camera_id: str, namespace: str = "edged") -> str:
    """A file-system-safe ring name for a camera (ids may contain ':' and '.')."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", camera_id)
    return f"{namespace}-ring-{safe}"


def ring_namespace(run_dir: Path | str) -> str:
    """Rings of two daemons on one box (tests, demo) must not collide: key them by run_dir."""
    digest = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:8]
    return f"edged-{digest}"


def check_shm_capacity(
    required_bytes: int,
    shm_dir: Path = DEFAULT_SHM_DIR,
    min_free_bytes: int = 0,
    what: str = "the configured camera rings",
) -> None:
    """Raise ShmTooSmall unless `shm_dir` has room for `required_bytes` plus headroom."""
    try:
        free = shutil.disk_usage(shm_dir).free
    except OSError as exc:
        raise ShmTooSmall(f"{shm_dir} is not usable for frame rings ({exc}); mount a tmpfs there") from exc
    need = required_bytes + min_free_bytes
    if free < need:
        mib = 1 << 20
        raise ShmTooSmall(
            f"{shm_dir} has {free / mib:.0f} MiB free but {what} need {required_bytes / mib:.0f} MiB "
            f"(+{min_free_bytes / mib:.0f} MiB headroom): enlarge it (docker: --shm-size="
            f"{(need // mib) + 64}m; host: mount -o remount,size=... {shm_dir}) or lower ring slots / "
            "frame size / the number of cameras"
        )


class FrameRing:
    """One camera's ring. Use `create` in the writer and `attach` in readers."""

    def __init__(self, path: Path, fd: int, mm: mmap.mmap, owner: bool) -> None:
        self.path = path
        self.name = path.name
        self._fd = fd
        self._mm = mm
        self.owner = owner
        self._buf = np.frombuffer(mm, dtype=np.uint8)
        header = self._buf[:HEADER_BYTES].view(np.uint64)
        if header[_H_MAGIC].tobytes() != MAGIC:
            raise RingError(f"{path} is not a frame ring (bad magic)")
        geom1, geom2 = int(header[_H_GEOM1]), int(header[_H_GEOM2])
        version, self.slots = geom1 & 0xFFFFFFFF, geom1 >> 32
        if version != VERSION:
            raise RingError(f"{path}: ring version {version}, expected {VERSION}")
        h, w, c = geom2 & 0xFFFFF, (geom2 >> 20) & 0xFFFFF, geom2 >> 40
        self.shape: tuple[int, int, int] = (h, w, c)
        self.stride = int(header[_H_STRIDE])
        self.token = int(header[_H_TOKEN])
        self._header = header
        self._slot_words = [
            self._buf[self._slot_off(i) : self._slot_off(i) + SLOT_HEADER_BYTES].view(np.uint64)
            for i in range(self.slots)
        ]
        self._slot_floats = [words.view(np.float64) for words in self._slot_words]
        self._pixels = [
            self._buf[
                self._slot_off(i) + SLOT_HEADER_BYTES : self._slot_off(i) + SLOT_HEADER_BYTES + h * w * c
            ]
            for i in range(self.slots)
        ]

    def _slot_off(self, slot: int) -> int:
        return HEADER_BYTES + slot * self.stride

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        slots: int,
        shape: tuple[int, int, int],
        shm_dir: Path = DEFAULT_SHM_DIR,
        min_free_bytes: int = 0,
    ) -> FrameRing:
        """Create (replacing a stale ring of the same name left by a crashed writer)."""
        h, w, c = (int(x) for x in shape)
        if slots < 2 or not (0 < h < 1 << 20 and 0 < w < 1 << 20 and 0 < c < 256):
            raise ValueError(f"bad ring geometry: slots={slots} shape={shape}")
        size = ring_bytes(slots, (h, w, c))
        path = Path(shm_dir) / name
        path.unlink(missing_ok=True)
        check_shm_capacity(size, Path(shm_dir), min_free_bytes, what=f"ring {name}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            try:
                os.posix_fallocate(fd, 0, size)  # fail now, not with SIGBUS on a later write
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.ENOMEM):
                    raise ShmTooSmall(f"{shm_dir} has no room for ring {name} ({size} bytes)") from exc
                os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
            header = np.frombuffer(mm, dtype=np.uint64, count=HEADER_BYTES // 8)
            header[_H_MAGIC] = np.frombuffer(MAGIC, dtype=np.uint64)[0]
            header[_H_GEOM1] = VERSION | (slots << 32)
            header[_H_GEOM2] = h | (w << 20) | (c << 40)
            header[_H_STRIDE] = slot_stride((h, w, c))
            header[_H_TOKEN] = secrets.randbits(63)
            header[_H_LAST] = 0
            del header
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return cls(path, fd, mm, owner=True)

    @classmethod
    def attach(cls, name: str, shm_dir: Path = DEFAULT_SHM_DIR) -> FrameRing:
        """Open an existing ring read-only; geometry comes from its header."""
        path = Path(shm_dir) / name
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_BYTES:
                raise RingError(f"{path} is too small to be a frame ring")
            mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            ring = cls(path, fd, mm, owner=False)
        except BaseException:
            os.close(fd)
            raise
        if size < ring_bytes(ring.slots, ring.shape):
            ring.close()
            raise RingError(f"{path} is truncated")
        return ring

    def is_current(self) -> bool:
        """False when the writer re-created the ring (camera restarted): re-attach then."""
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            return False

    def close(self) -> None:
        if self._fd < 0:
            return
        # drop numpy views before closing the mmap they point into
        self._slot_words = []
        self._slot_floats = []
        self._pixels = []
        del self._header
        self._buf = np.empty(0, np.uint8)
        with contextlib.suppress(BufferError):  # a caller still holds a view; it goes with the process
            self._mm.close()
        os.close(self._fd)
        self._fd = -1

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FrameRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data ----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return int(self._header[_H_LAST])

    def write(self, image: np.ndarray, t: float, wall: float = 0.0) -> tuple[int, int]:
        """Copy one frame in; return (slot, seq) for the descriptor sent to readers."""
        if not self.owner:
            raise RingError("ring attached read-only")
        h, w, c = image.shape[0], image.shape[1], 1 if image.ndim == 2 else image.shape[2]
        nbytes = h * w * c
        cap = self.shape[0] * self.shape[1] * self.shape[2]
        if image.dtype != np.uint8 or nbytes > cap:
            raise ValueError(f"frame {image.shape} {image.dtype} does not fit ring {self.shape} uint8")
        seq = int(self._header[_H_LAST]) + 1
        slot = (seq - 1) % self.slots
        words, floats = self._slot_words[slot], self._slot_floats[slot]
        words[_S_BEGIN] = seq  # readers of the old seq now fail their after-copy check
        self._pixels[slot][:nbytes].reshape(h, w, c)[...] = image.reshape(h, w, c)
        floats[_S_T] = t
        floats[_S_WALL] = wall
        words[_S_SHAPE] = h | (w << 20) | (c << 40)
        words[_S_END] = seq
        self._header[_H_LAST] = seq
        return slot, seq

    def peek(self, slot: int, seq: int, fn: Callable[[np.ndarray], T]) -> T | None:
        """Apply `fn` to a zero-copy view of the frame; None if the slot was overwritten.

        `fn` must not keep the view: its result is trusted only if the slot is unchanged after.
        """
        if not 0 <= slot < self.slots or seq <= 0:
            return None
        words = self._slot_words[slot]
        if int(words[_S_END]) != seq or int(words[_S_BEGIN]) != seq:
            return None
        geom = int(words[_S_SHAPE])
        h, w, c = geom & 0xFFFFF, (geom >> 20) & 0xFFFFF, geom >> 40
        if h * w * c > self._pixels[slot].size:
            return None
        view = self._pixels[slot][: h * w * c].reshape(h, w, c)
        result = fn(view)
        if int(words[_S_BEGIN]) != seq:
            return None
        return result

    def read(self, slot: int, seq: int) -> np.ndarray | None:
        """A private copy of frame `seq`, or None when its slot was overwritten."""
        return self.peek(slot, seq, np.array)

    def frame_time(self, slot: int, seq: int) -> tuple[float, float] | None:
        """(stream t, capture wall time) of frame `seq`, or None when overwritten."""
        if not 0 <= slot < self.slots:
            return None
        words, floats = self._slot_words[slot], self._slot_floats[slot]
        if int(words[_S_END]) != seq:
            return None
        t, wall = float(floats[_S_T]), float(floats[_S_WALL])
        return (t, wall) if int(words[_S_BEGIN]) == seq else None


class RingCache:
    """Attached rings by name (bounded); re-attaches when a camera restart re-created its ring."""

    def __init__(self, shm_dir: Path = DEFAULT_SHM_DIR, limit: int = 64) -> None:
        self.shm_dir = shm_dir
        self.limit = limit
        self._rings: OrderedDict[str, FrameRing] = OrderedDict()

    def get(self, name: str) -> FrameRing:
        ring = self._rings.get(name)
        if ring is not None and ring.is_current():
            self._rings.move_to_end(name)
            return ring
        if ring is not None:
            ring.close()
            del self._rings[name]
        ring = FrameRing.attach(name, self.shm_dir)
        self._rings[name] = ring
        while len(self._rings) > self.limit:
            self._rings.popitem(last=False)[1].close()
        return ring

    def close(self) -> None:
        for ring in self._rings.values():
            ring.close()
        self._rings.clear()
