"""The daemon harness lives in the package (edged.harness); tests import it from here."""

from edged.harness import Daemon, free_port, wait_for

__all__ = ["Daemon", "free_port", "wait_for"]
