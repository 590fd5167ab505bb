"""Generate examples/site.yaml: the complex edged was built for, as an installer would write it.

15 buildings × 3 units × 5 doors = 225 unit doors on OSDP RS-485 buses (one bus per
building, 15 readers), 8 checkpoints with Modbus barrier IO, facade cameras for thrown
objects, thermal cameras at the entrances and AI security cameras. Run it after changing the
layout: `python examples/make_site.py > examples/site.yaml`.
"""

from __future__ import annotations

import sys

import yaml

BUILDINGS = [f"B{n:02d}" for n in range(1, 16)]
UNITS = ["U1", "U2", "U3"]
DOOR_KINDS = ["lobby", "lobby-rear", "garage", "bike-room", "roof"]


def doors_section() -> dict:
    buses, doors = [], []
    for b_index, building in enumerate(BUILDINGS):
        bus = f"rs485-{building.lower()}"
        buses.append(
            {
                "id": bus,
                "group": f"ring-{b_index // 3 + 1}",
                "port": f"/dev/ttyEDGE{b_index}",
                "baud": 115200,
                "secure": True,
            }
        )
        address = 1
        for unit in UNITS:
            for kind in DOOR_KINDS:
                door = {
                    "id": f"{building}-{unit}-{kind}",
                    "building": building,
                    "unit": unit,
                    "reader": {"bus": bus, "address": address},
                }
                if kind in ("lobby", "lobby-rear"):
                    door["evacuation"] = True
                if kind == "roof":
                    door["mode"] = "locked_down"
                doors.append(door)
                address += 1
    return {
        "stranger": {"denied_threshold": 3, "window_s": 60, "scope": "both"},
        "buses": buses,
        "doors": doors,
    }


def gates_section() -> dict:
    devices = [{"name": f"io-gate-{n}", "host": f"192.168.20.{10 + n}", "port": 502} for n in range(1, 9)]
    checkpoints = []
    for n in range(1, 9):
        vehicle = n <= 4
        cp: dict = {
            "id": f"{'vehicle' if vehicle else 'pedestrian'}-gate-{n}",
            "kind": "vehicle" if vehicle else "pedestrian",
            "io": {"device": f"io-gate-{n}", "unit": 1, "open_coil": 0, "loop_input": 0, "closed_input": 1},
        }
        if vehicle:
            cp["plate_camera"] = f"plate-gate-{n}"
        else:
            cp["thermal_camera"] = f"thermal-gate-{n}"
        checkpoints.append(cp)
    return {"devices": devices, "checkpoints": checkpoints}


def facade(width_m: float, height_m: float) -> dict:
    # Calibration: four facade corners surveyed by the installer (pixel u, v -> x along, z up).
    return {
        "points": [
            [212, 1990, 0.0, 3.0],
            [1868, 2010, width_m, 3.0],
            [1602, 188, width_m, height_m],
            [441, 161, 0.0, height_m],
        ],
        "storey_height_m": 3.0,
        "ground_z_m": 0.0,
        "window_columns_m": [round(i * 3.6, 1) for i in range(int(width_m // 3.6))],
    }


def cameras_section() -> list[dict]:
    cams: list[dict] = []
    for building in ("B03", "B07", "B11"):
        cams.append(
            {
                "id": f"facade-{building.lower()}-east",
                "source": f"rtsp://192.168.10.{20 + len(cams)}/Streaming/Channels/101",
                "fps": 25,
                "facade": facade(28.8, 99.0),
                "masks": [[[0, 1900], [400, 1900], [400, 2160], [0, 2160]]],
            }
        )
    for n in range(5, 9):
        cams.append(
            {
                "id": f"thermal-gate-{n}",
                "source": f"isapi://screening:secret@192.168.30.{n}/",
                "fps": 9,
                "thermal": {
                    "blackbody": {"roi": [8, 8, 10, 10], "set_point_c": 35.0},
                    "threshold_c": 37.3,
                    "skin_offset_c": 1.2,
                },
            }
        )
    for n in range(1, 5):
        cams.append(
            {
                "id": f"plate-gate-{n}",
                "source": f"rtsp://192.168.10.{40 + n}/stream2",
                "fps": 10,
                "lines": [
                    {
                        "id": "barrier",
                        "points": [[80, 300], [560, 300]],
                        "classes": ["car", "truck"],
                        "alarm_direction": "none",
                    }
                ],
            }
        )
    cams.append(
        {
            "id": "north-gate-plaza",
            "source": "rtsp://192.168.10.50/stream2",
            "fps": 10,
            "zones": [
                {
                    "id": "after-hours-lawn",
                    "polygon": [[40, 200], [600, 200], [600, 350], [40, 350]],
                    "classes": ["person"],
                    "inertia_frames": 5,
                    "schedule": [{"start": "23:00", "end": "05:30"}],
                }
            ],
            "lines": [
                {"id": "plaza-entry", "points": [[0, 180], [640, 180]], "classes": ["person", "bicycle"]}
            ],
        }
    )
    cams.append(
        {
            "id": "carpark-b1",
            "source": "rtsp://192.168.10.51/stream2",
            "fps": 10,
            "zones": [
                {
                    "id": "ev-chargers",
                    "polygon": [[300, 100], [620, 100], [620, 340], [300, 340]],
                    "classes": ["person"],
                    "intrusion": False,
                    "loitering_s": 120,
                }
            ],
        }
    )
    return cams


def rules_section() -> list[dict]:
    rules = [
        {
            "id": f"fever-holds-{n}",
            "when_type": "fever",
            "when_source": f"thermal-gate-{n}",
            "then": [
                {
                    "action": "command",
                    "worker": "gates",
                    "command": "hold_closed",
                    "args": {"checkpoint": f"pedestrian-gate-{n}", "seconds": 120},
                }
            ],
        }
        for n in range(5, 9)
    ]
    rules += [
        {
            "id": "falling-object-guard-room",
            "when_type": "falling_object",
            "then": [{"action": "raise", "type": "linkage", "priority": 0}],
        },
        {
            "id": "stranger-guard-room",
            "when_type": "stranger",
            "cooldown_s": 60,
            "then": [{"action": "raise", "type": "linkage", "priority": 1}],
        },
    ]
    return rules


def site() -> dict:
    return {
        "site": {
            "id": "cq-jiangbei-yuelai-01",
            "name": "Yuelai Garden, Jiangbei, Chongqing",
            "timezone": "Asia/Shanghai",
        },
        "runtime": {"run_dir": "/run/edged", "state_dir": "/var/lib/edged"},
        "metrics": {"listen": "127.0.0.1:9108"},
        "logging": {"level": "info", "format": "json"},
        "cameras": cameras_section(),
        "detectors": [{"type": "yolov3_tiny", "name": "coco", "input_size": 320}],
        "doors": doors_section(),
        "gates": gates_section(),
        "rules": rules_section(),
        "uplink": {
            "server": "tcp://community.example.cn:7750",
            "server_public_key": "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "key_file": "/etc/edged/keys/box.key_secret",
        },
    }


if __name__ == "__main__":
    sys.stdout.write("# Generated by examples/make_site.py — edit that script, then regenerate.\n")
    yaml.safe_dump(site(), sys.stdout, sort_keys=False, allow_unicode=True, width=110)
