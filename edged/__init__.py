"""edged — the edge daemon of a residential complex."""

__version__ = "0.1.0"
