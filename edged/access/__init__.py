"""Access control domain: door state machines, the SQLite credential store, decisions, stranger rules.

Nothing here does I/O on a bus; drivers (`edged.drivers`) feed it inputs and carry out its outputs.
"""
