"""A generated site of unit doors, for the bench and the demo: buildings of units, one RS-485
bus per unit (a reader per floor), one doors worker per building."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def doors_section(
    doors: int, workdir: Path, per_bus: int = 15, buses_per_group: int = 3, keys_file: Path | None = None
) -> dict[str, Any]:
    """The `doors` section for `doors` readers; bus ports are pty symlinks under `workdir`."""
    buses: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i in range(doors):
        b = i // per_bus
        if b == len(buses):
            building, unit = f"b{b // buses_per_group + 1}", f"u{b % buses_per_group + 1}"
            buses.append(
                {
                    "id": f"{building}-{unit}",
                    "group": building,
                    "port": str(workdir / f"{building}-{unit}.tty"),
                }
            )
        bus = buses[-1]
        building, unit = bus["id"].split("-")
        floor = i % per_bus + 1
        out.append(
            {
                "id": f"{building}-{unit}-f{floor:02d}",
                "building": building,
                "unit": unit,
                "reader": {"bus": bus["id"], "address": floor},
            }
        )
    section: dict[str, Any] = {
        "buses": buses,
        "doors": out,
        "credentials_db": str(workdir / "credentials.sqlite"),
    }
    if keys_file is not None:
        section["osdp"] = {"keys_file": str(keys_file)}
    return section


def sim_spec(section: dict[str, Any], key_hex: str, control: str) -> dict[str, Any]:
    """The simulator spec matching a generated doors section (every reader on the site key)."""
    by_bus: dict[str, list[dict[str, Any]]] = {}
    for d in section["doors"]:
        by_bus.setdefault(d["reader"]["bus"], []).append({"address": d["reader"]["address"], "key": key_hex})
    return {
        "control": control,
        "buses": [
            {"id": b["id"], "transport": "pty", "link": b["port"], "readers": by_bus[b["id"]]}
            for b in section["buses"]
        ],
    }


def resident_cards(section: dict[str, Any]) -> list[dict[str, Any]]:
    """One resident card per door (card number 100000 + index), valid for the door's unit."""
    return [
        {
            "kind": "card",
            "value": str(100000 + i),
            "door_group": f"{d['building']}/{d['unit']}",
            "holder": f"resident-{i}",
        }
        for i, d in enumerate(section["doors"])
    ]
