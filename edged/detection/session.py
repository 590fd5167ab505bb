"""An onnxruntime session on the configured execution providers, CPU as the last resort.

A provider that this onnxruntime build lacks (no GPU wheel, no OpenVINO) is skipped with
one warning naming what was asked for and what is available, so a site config written for a
GPU box still starts on a CPU-only box instead of crash-looping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort
import structlog

ORT_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def provider_chain(
    wanted: list[str], available: list[str], device_id: int = 0, cache_dir: Path | None = None
) -> tuple[list[Any], list[str]]:
    """onnxruntime ``providers`` argument for the wanted list; second item: skipped names."""
    chain: list[Any] = []
    skipped: list[str] = []
    for key in wanted:
        name = ORT_NAMES[key]
        if name not in available:
            skipped.append(key)
            continue
        if key in ("cuda", "tensorrt"):
            options: dict[str, Any] = {"device_id": str(device_id)}
            if key == "tensorrt" and cache_dir is not None:
                options |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
            chain.append((name, options))
        else:
            chain.append(name)
    if ORT_NAMES["cpu"] not in [c if isinstance(c, str) else c[0] for c in chain]:
        chain.append(ORT_NAMES["cpu"])
    return chain, skipped


def open_session(
    path: Path, providers: list[str], device_id: int = 0, threads: int = 0
) -> ort.InferenceSession:
    log = structlog.get_logger()
    available = ort.get_available_providers()
    chain, skipped = provider_chain(providers, available, device_id, cache_dir=path.parent / "trt-cache")
    if skipped:
        log.warning(
            "execution_provider_unavailable",
            requested=providers,
            skipped=skipped,
            available=available,
            fallback=[c if isinstance(c, str) else c[0] for c in chain],
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # onnxruntime's own warnings are noise on stderr
    if threads:
        options.intra_op_num_threads = threads
    # Idle intra-op threads spin-wait by default, burning the CPU the camera workers need on a
    # small box; sleeping costs well under a millisecond per inference call.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), sess_options=options, providers=chain)
    log.info("detector_session", model=str(path), providers=session.get_providers())
    return session
