"""The small base class every indicator shares, plus argument and state checks.

Only cold paths live here (construction, ``state()``, ``from_state()``, error
messages): each indicator's ``update`` is written out in full in its own module
because a helper call per update would cost more than the arithmetic it does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self

State = dict[str, Any]
"""A JSON-serialisable state record: ``{"v": <schema>, "kind": <name>, ...}``."""

MAX_PERIOD: Final = 100_000
"""Same upper bound as TA-Lib; keeps a hostile state record from allocating without limit."""


class Indicator(ABC):
    """One incremental indicator: O(1) ``update``, explicit versioned state.

    Subclasses set ``kind`` (the registry name) and ``version`` (the schema
    version of their state record; bump it whenever the record's fields change).
    """

    __slots__ = ("_ready",)

    kind: ClassVar[str]
    version: ClassVar[int] = 1

    _ready: bool

    @property
    def ready(self) -> bool:
        """True once ``update`` returns values instead of ``None``."""
        return self._ready

    @abstractmethod
    def reset(self) -> None:
        """Forget every value seen; parameters are kept."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Constructor arguments, by name."""

    @abstractmethod
    def _dump(self) -> dict[str, Any]:
        """Everything ``update`` reads, as JSON-friendly values."""

    @classmethod
    @abstractmethod
    def _load(cls, record: StateReader) -> Self:
        """Rebuild an instance from a checked record."""

    def state(self) -> State:
        """The whole state as a small JSON-serialisable record (never a pickle)."""
        record: State = {"v": self.version, "kind": self.kind}
        record.update(self._params())
        record.update(self._dump())
        return record

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Restore an indicator that continues bit-identically to the one saved.

        Raises ``ValueError`` for another kind, an unknown schema version, a
        missing or unexpected field, or a value of the wrong type or range.
        """
        record = StateReader(state, cls.kind, cls.version)
        restored = cls._load(record)
        record.finish()
        return restored

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self._params().items())
        return f"{type(self).__name__}({args})"


def check_period(name: str, value: object, minimum: int = 1) -> int:
    """Validate a window length (an ``int``, not a ``bool`` or ``float``).

    Constructors annotate their periods ``SupportsIndex``, not ``int``: type
    checkers still reject a float, str or None, but mypyc does not check a
    protocol at the call boundary, so this check (and its message naming the
    parameter) runs in the compiled build too, instead of mypyc's own
    "int object expected".
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not minimum <= value <= MAX_PERIOD:
        raise ValueError(f"{name} must be between {minimum} and {MAX_PERIOD}, got {value}")
    return value


def check_finite(name: str, value: object) -> float:
    """Validate a finite real parameter (not an update value: those are checked inline)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def non_finite(name: str, value: object) -> ValueError:
    """The error ``update`` raises for NaN or ±inf, built only when it happens."""
    return ValueError(f"{name} must be a finite number, got {value!r}")


class StateReader:
    """Checked access to a state record, with errors that name the field."""

    __slots__ = ("_kind", "_seen", "_state")

    def __init__(self, state: Mapping[str, Any], kind: str, version: int) -> None:
        if not isinstance(state, Mapping):
            raise TypeError(f"{kind} state must be a mapping, got {type(state).__name__}")
        got_kind = state.get("kind")
        if got_kind != kind:
            raise ValueError(f"state is for kind {got_kind!r}, not {kind!r}")
        got_version = state.get("v")
        if type(got_version) is not int or got_version != version:
            raise ValueError(
                f"unsupported {kind} state schema version {got_version!r}: "
                f"this tickcast reads version {version} only"
            )
        self._state = state
        self._kind = kind
        self._seen = {"v", "kind"}

    def _get(self, key: str) -> Any:
        if key not in self._state:
            raise ValueError(f"{self._kind} state is missing field {key!r}")
        self._seen.add(key)
        return self._state[key]

    def _bad(self, key: str, what: str, value: object) -> ValueError:
        return ValueError(f"{self._kind} state field {key!r} must be {what}, got {value!r}")

    def get_int(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if type(value) is not int or not low <= value <= high:
            raise self._bad(key, f"an int in [{low}, {high}]", value)
        return value

    def get_bool(self, key: str) -> bool:
        value = self._get(key)
        if type(value) is not bool:
            raise self._bad(key, "a bool", value)
        return value

    def get_float(self, key: str) -> float:
        return self._as_float(key, self._get(key))

    def get_optional_float(self, key: str) -> float | None:
        value = self._get(key)
        return None if value is None else self._as_float(key, value)

    def get_floats(self, key: str, length: int) -> list[float]:
        value = self._get(key)
        if not isinstance(value, list) or len(value) != length:
            raise self._bad(key, f"a list of {length} numbers", value)
        return [self._as_float(key, item) for item in value]

    def _as_float(self, key: str, value: object) -> float:
        # JSON writers may turn 2.0 into 2; an int is then the same exact value.
        if type(value) is int:
            value = float(value)
        if not isinstance(value, float) or not math.isfinite(value):
            raise self._bad(key, "a finite number", value)
        return float(value)

    def finish(self) -> None:
        """Reject fields this version does not know: they mean a writer/reader mismatch."""
        extra = sorted(set(self._state) - self._seen)
        if extra:
            raise ValueError(f"{self._kind} state has unexpected fields {extra}")
