"""Named suites of synthetic clips for `edged synth falling` and `edged eval falling`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edged.pipelines.falling.synth.render import write_clip
from edged.pipelines.falling.synth.scene import ClipSpec

HEAVY = ("drop", "throw_up", "throw_out")
SUITES = ("daylight", "small", "night", "rain", "light", "distractors", "mixed")


def specs(suite: str, clips: int, seed: int, size: tuple[int, int]) -> Iterator[tuple[str, ClipSpec]]:
    """(category, spec) for each clip of a suite; "mixed" cycles through all categories."""
    w, h = size
    cats = [c for c in SUITES if c != "mixed"] if suite == "mixed" else [suite]
    for i in range(clips):
        cat = cats[i % len(cats)]
        s = seed * 100_003 + i
        style = HEAVY[i % 3]
        base: dict[str, Any] = {"seed": s, "width": w, "height": h}
        if cat == "daylight":
            yield cat, ClipSpec(**base, objects=[style], distractors=["bird"], px_range=(3.0, 5.0))
        elif cat == "small":
            yield cat, ClipSpec(**base, objects=[style], px_range=(2.0, 3.0))
        elif cat == "night":
            yield cat, ClipSpec(**base, condition="night", objects=[style], px_range=(3.0, 5.0))
        elif cat == "rain":
            yield cat, ClipSpec(**base, condition="rain", objects=[style], px_range=(3.0, 5.0))
        elif cat == "light":
            yield cat, ClipSpec(**base, objects=["light"], px_range=(5.0, 10.0), tail_s=1.0)
        elif cat == "distractors":
            yield (
                cat,
                ClipSpec(
                    **base,
                    objects=[],
                    condition="rain" if i % 4 == 3 else "day",
                    distractors=["bird", "leaf", "light_on", "shake", "gain", "flicker", "laundry"],
                    duration=60.0,
                ),
            )
        else:
            raise ValueError(f"unknown suite {suite!r}; one of {', '.join(SUITES)}")


def generate(out_dir: Path, suite: str, clips: int, seed: int, size: tuple[int, int]) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (cat, spec) in enumerate(specs(suite, clips, seed, size)):
        entry = write_clip(spec, out_dir, f"{cat}-{i:03d}")
        entries.append({**entry, "category": cat})
    manifest = {"suite": suite, "seed": seed, "size": list(size), "clips": entries}
    (out_dir / "suite.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
