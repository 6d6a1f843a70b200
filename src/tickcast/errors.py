"""The one exceptions module.

A stage raises `PermanentError` for input that can never succeed: the message
is dead-lettered with `reason` and acked. Anything else that escapes a stage
(Redis down, Firestore unavailable, a bug) becomes a 5xx so Pub/Sub redelivers
with backoff.
"""

from __future__ import annotations


class TickcastError(Exception):
    """Base of tickcast's own exceptions."""


class ConfigError(TickcastError):
    """The environment does not describe a valid configuration."""


class PermanentError(TickcastError):
    """Bad input: retrying cannot help. `reason` is a stable, machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"
