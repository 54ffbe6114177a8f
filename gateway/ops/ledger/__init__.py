"""The usage ledger: one row per answered request, written in batches off the event loop
(`writer`), to SQLite or PostgreSQL (`store`, `sqlite`, `postgres`), spooled to a local
file when the database cannot take it (`spool`); `report` is what `python -m gateway.usage`
prints."""
