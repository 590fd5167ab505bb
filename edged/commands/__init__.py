"""One module per `edged` command; see the table in edged/cli.py."""
