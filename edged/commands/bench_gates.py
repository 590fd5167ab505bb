"""`edged bench gates`: Modbus IO round trip, open → relay on, plate decisions."""

from edged.gates.bench import add_arguments, run

__all__ = ["add_arguments", "run"]
