"""Durable delivery of events to the central community server, and the downlink back.

outbox (SQLite, group commit, lanes, cap) → sender (CurveZMQ DEALER, batches, window, acks)
→ server; the server's commands come back over the same connection (downlink). The reference
server is `receiver`.
"""
