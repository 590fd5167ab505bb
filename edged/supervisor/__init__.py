"""The supervisor process: starts, watches and restarts workers; serves /metrics and /healthz."""
