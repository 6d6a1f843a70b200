"""Features: time bars and incremental indicators, state in Redis."""
