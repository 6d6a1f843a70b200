"""Operator tools (docs/OPERATIONS.md): dead-letter replay."""
