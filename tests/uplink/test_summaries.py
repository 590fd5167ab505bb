"""Per-interval summaries: counts, people, alarms, screening, availability from offline/online."""

from __future__ import annotations

from edged.config import SiteConfig
from edged.events import new_event
from edged.uplink.summaries import Summaries


def test_summary_and_availability_over_an_interval() -> None:
    cfg = SiteConfig.model_validate({
        "site": {"id": "s"},
        "cameras": [{"id": "cam-1", "source": "x.mp4"}, {"id": "cam-2", "source": "y.mp4"}],
    })  # fmt: skip
    s = Summaries(cfg, 60.0, now=1000.0)
    s.observe(
        [new_event("access_granted", "door-1", {}), new_event("access_granted", "door-2", {})], now=1001
    )
    s.observe(
        [new_event("gate_opened", "north", {}), new_event("door_forced", "door-1", {}, priority=0)], now=1002
    )
    s.observe([new_event("fever", "thermal-1", {"temp_c": 38.1}, priority=0)], now=1003)
    # A thermal camera's screening window (P2): 4 people, none hotter than the fever above.
    s.observe(
        [new_event("screening", "thermal-1", {"people_screened": 4, "max_temp_c": 36.6}, priority=2)],
        now=1003,
    )
    s.state("camera", "cam-1", False, 1004)  # live camera.state: down 1004..1006
    s.state("camera", "cam-1", True, 1006)
    s.observe([new_event("camera_offline", "cam-2", {}, priority=0)], now=1010)
    s.observe([new_event("camera_online", "cam-2", {})], now=1025)
    s.observe([new_event("camera_offline", "cam-1", {}, priority=0)], now=1055)
    assert not s.due(1059) and s.due(1060)
    summary, availability = s.flush(now=1060)
    d = summary["data"]
    assert summary["priority"] == 1 and availability["priority"] == 2
    assert d["events"] == 9 and d["by_type"]["access_granted"] == 2
    assert d["people"] == {"doors": 2, "gates": 1}
    assert d["alarms"] == {"door_forced": 1, "fever": 1, "camera_offline": 2}
    assert d["screening"] == {"screened": 4, "fever": 1, "max_temp_c": 38.1}
    assert availability["data"]["cameras"] == {"cam-1": round(1 - 7 / 60, 4), "cam-2": 0.75}
    again, avail2 = s.flush(now=1120)  # the next interval starts empty; cam-1 is still offline
    assert again["data"]["events"] == 0
    assert avail2["data"]["cameras"]["cam-1"] == 0.0


def test_outbox_only_box_reports_lanes_and_oldest_unsent_age(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import zmq
    from prometheus_client import REGISTRY

    from edged.uplink.service import UplinkService

    cfg = SiteConfig.model_validate({"site": {"id": "s"}, "runtime": {"state_dir": str(tmp_path)}})
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    svc = UplinkService(cfg, zctx)  # no server configured: outbox only
    try:
        svc.ingest([new_event("door_forced", "door-1", {}, priority=0)])
        svc.outbox.call(lambda c: c.execute("UPDATE events SET created_ms = created_ms - 3600000"))
        svc.tick()
        age = REGISTRY.get_sample_value("edged_uplink_oldest_unsent_age_seconds", {"priority": "0"})
        assert age is not None and 3600 <= age < 3700
        assert REGISTRY.get_sample_value("edged_uplink_outbox_events", {"priority": "0"}) == 1
        assert REGISTRY.get_sample_value("edged_uplink_oldest_unsent_age_seconds", {"priority": "2"}) == 0
    finally:
        svc.stop()
        zctx.term()
