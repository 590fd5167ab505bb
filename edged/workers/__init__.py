"""Worker processes, one module per kind; `python -m edged.workers NAME --config SITE.yaml` runs one."""

# kind -> module with `run(ctx)`; the supervisor's topology names workers `kind` or `kind:id`.
WORKER_MODULES: dict[str, str] = {
    "camera": "edged.workers.camera",
    "detector": "edged.workers.detector",
    "doors": "edged.workers.doors",
    "gates": "edged.workers.gates",
    "rules": "edged.workers.rules",
    "uplink": "edged.workers.uplink",
}
