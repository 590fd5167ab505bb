"""The message bus every worker uses: envelope, reliable events, commands, telemetry."""
