"""The shared-memory frame ring: real files under a tmpfs directory, a real second process."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from edged.pipelines.ring import FrameRing, RingError, ShmTooSmall, check_shm_capacity, ring_bytes, ring_name

SHAPE = (48, 64, 3)


def _shm_dir(tmp_path: Path) -> Path:
    # /dev/shm when present (the real thing), with a per-test name; tmp_path otherwise
    return Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path


@pytest.fixture()
def name(request: pytest.FixtureRequest) -> str:
    return ring_name(f"test:{request.node.name}:{time.monotonic_ns()}")


def test_roundtrip_and_attach_reads_geometry_from_header(tmp_path: Path, name: str) -> None:
    d = _shm_dir(tmp_path)
    writer = FrameRing.create(name, 4, SHAPE, shm_dir=d)
    try:
        reader = FrameRing.attach(name, shm_dir=d)
        assert (reader.slots, reader.shape, reader.token) == (4, SHAPE, writer.token)
        img = np.random.default_rng(1).integers(0, 255, SHAPE, dtype=np.uint8)
        slot, seq = writer.write(img, t=1.5, wall=100.0)
        assert (slot, seq) == (0, 1)
        got = reader.read(slot, seq)
        assert got is not None and np.array_equal(got, img)
        assert reader.frame_time(slot, seq) == (1.5, 100.0)
        # a smaller frame fits and comes back with its own shape
        small = np.full((10, 20, 3), 7, np.uint8)
        s2, q2 = writer.write(small, t=2.0)
        back = reader.read(s2, q2)
        assert back is not None and back.shape == (10, 20, 3) and int(back.max()) == 7
        with pytest.raises(RingError):
            reader.write(img, 0.0)
        with pytest.raises(ValueError):
            writer.write(np.zeros((100, 100, 3), np.uint8), 0.0)
        reader.close()
    finally:
        writer.close()
        writer.unlink()
    assert not (d / name).exists()


def test_overwritten_slot_reads_none(tmp_path: Path, name: str) -> None:
    d = _shm_dir(tmp_path)
    with FrameRing.create(name, 3, SHAPE, shm_dir=d) as ring:
        try:
            descs = [ring.write(np.full(SHAPE, i, np.uint8), float(i)) for i in range(5)]
            # seqs 1,2 were overwritten by 4,5; 3,4,5 are live
            assert [ring.read(*d_) is None for d_ in descs] == [True, True, False, False, False]
            assert ring.read(99, 1) is None and ring.read(0, 0) is None
            # a write that starts while a reader holds the view invalidates the read
            slot, seq = descs[-1]
            assert ring.peek(slot, seq, lambda v: [ring.write(v.copy(), 9.0) for _ in range(3)]) is None
        finally:
            ring.unlink()


def test_recreated_ring_is_detected_by_reader(tmp_path: Path, name: str) -> None:
    d = _shm_dir(tmp_path)
    first = FrameRing.create(name, 2, SHAPE, shm_dir=d)
    reader = FrameRing.attach(name, shm_dir=d)
    assert reader.is_current()
    first.close()  # writer "crashes" without unlinking; its restart replaces the stale file
    second = FrameRing.create(name, 2, SHAPE, shm_dir=d)
    try:
        assert not reader.is_current()
        assert FrameRing.attach(name, shm_dir=d).token == second.token != first.token
    finally:
        reader.close()
        second.close()
        second.unlink()


def _writer_proc(name: str, d: str, n: int) -> None:
    ring = FrameRing.create(name, 3, SHAPE, shm_dir=Path(d))
    for i in range(1, n + 1):
        ring.write(np.full(SHAPE, i % 251, np.uint8), float(i))
    time.sleep(0.5)
    ring.close()


def test_concurrent_writer_never_yields_a_torn_frame(tmp_path: Path, name: str) -> None:
    d = _shm_dir(tmp_path)
    proc = mp.get_context("spawn").Process(target=_writer_proc, args=(name, str(d), 20000))
    proc.start()
    try:
        deadline = time.monotonic() + 20
        while not (d / name).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        reader = FrameRing.attach(name, shm_dir=d)
        good = stale = 0
        while proc.is_alive() and reader.last_seq < 20000:
            seq = reader.last_seq
            if seq == 0:
                continue
            img = reader.read((seq - 1) % reader.slots, seq)
            if img is None:
                stale += 1
                continue
            # every pixel of frame seq was written as seq % 251: a mix would be a torn read
            assert int(img.min()) == int(img.max()) == seq % 251
            good += 1
        reader.close()
        assert good > 0
    finally:
        proc.join(10)
        (d / name).unlink(missing_ok=True)


def test_shm_capacity_check_refuses_with_a_clear_message(tmp_path: Path) -> None:
    check_shm_capacity(ring_bytes(4, SHAPE), tmp_path)
    with pytest.raises(ShmTooSmall, match=r"need .* MiB.*shm-size"):
        check_shm_capacity(1 << 60, tmp_path)
