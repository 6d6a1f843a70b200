"""The header check shared by every reader of OHLCV CSV files (replay, training)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")


def ohlcv_columns(
    fieldnames: Sequence[str] | None, path: Path, error: type[Exception]
) -> dict[str, str]:
    """Lower-cased column name -> the file's spelling; `error` if OHLCV columns are missing."""
    if fieldnames is None:
        raise error(f"{path}: empty CSV")
    cols = {c.lower().strip(): c for c in fieldnames}
    missing = [c for c in OHLCV_COLUMNS if c not in cols]
    if missing:
        raise error(f"{path}: missing column(s) {', '.join(missing)}")
    return cols
