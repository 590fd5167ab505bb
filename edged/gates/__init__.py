"""Checkpoints of the complex: barrier state machines, whitelist / visitor decisions, the IO glue."""
