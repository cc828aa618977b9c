"""Shape checks of the reconciliation inputs (snapshots, in-flight changes, history), vectorised.

A frame that cannot be compared safely is refused whole with :class:`ReconciliationInputError`, whose message
names the input (``erp``, ``wms``, ``in_flight``, ``history``, ``differences``), the column and up to five keys
of offending rows: a missing column, a null or blank key, a quantity that is not a whole number. Keys are
factorised here once (uniques are checked, not rows), and the codes are what the comparison works on.
Pure; pandas and numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import pandas as pd

SHOWN_KEYS = 5
WHOLE_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "integer-na", "empty"}


class ReconciliationInputError(ValueError):
    """An input that cannot be reconciled: names the input (``side``), the ``column`` and up to five ``keys``."""

    def __init__(self, side: str, column: str, keys: Sequence[str], problem: str) -> None:
        self.side = side
        self.column = column
        self.keys = list(keys)[:SHOWN_KEYS]
        shown = f"; e.g. {', '.join(self.keys)}" if self.keys else ""
        super().__init__(f"{side} input, column {column!r}: {problem}{shown}")


class Side(StrEnum):
    ERP = "erp"
    WMS = "wms"
    IN_FLIGHT = "in_flight"


def require_columns(side: str, frame: object, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ReconciliationInputError(side, ", ".join(columns), [],
                                       f"expected a DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ReconciliationInputError(side, ", ".join(missing), [],
                                       f"missing column(s); the input has {', '.join(map(str, frame.columns))}")


def shared_codes(inputs: Sequence[tuple[str, pd.DataFrame]], column: str) -> tuple[list[np.ndarray], np.ndarray]:
    """The key ``column`` of every input factorised together (one hash pass; codes shared across inputs) and the
    unique values. A null, blank or non-text key is refused, naming the first input that has one."""
    values = [frame[column].to_numpy(dtype=object) for _, frame in inputs]
    codes, uniques = pd.factorize(np.concatenate(values) if values else np.array([], dtype=object))
    uniques = np.asarray(uniques, dtype=object)
    bad_unique = _bad_keys(uniques)
    bounds = np.cumsum([len(v) for v in values])[:-1]
    parts = np.split(codes.astype(np.int64, copy=False), bounds)
    if (codes < 0).any() or bad_unique.any():
        flagged = np.append(bad_unique, True)  # code -1 (null) picks the appended True
        for (side, frame), part in zip(inputs, parts, strict=True):
            bad = flagged[part]
            if bad.any():
                raise ReconciliationInputError(side, column, sample(frame, bad),
                                               f"{int(bad.sum())} row(s) with a null, blank or non-text key")
    return parts, uniques


def _bad_keys(uniques: np.ndarray) -> np.ndarray:
    """Per unique key: blank, or not text. One C-level pass over the strings: a key is blank when it is empty or
    all whitespace (``str.isspace``, the same whitespace ``str.strip`` removes, without building a stripped copy);
    a non-text key makes the pass fail, and then each key is looked at on its own."""
    try:
        blank = np.fromiter(map(str.isspace, uniques), dtype=bool, count=len(uniques))
    except TypeError:
        return np.fromiter((not (isinstance(u, str) and u.strip()) for u in uniques), dtype=bool, count=len(uniques))
    blank[uniques == ""] = True  # "".isspace() is False; the keys are unique, so at most one is empty
    return blank


def whole_numbers(side: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A quantity column as int64; a null, NaN, fraction, text or boolean is refused."""
    values = frame[column]
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) in WHOLE_NUMBER_KINDS:
        floats = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    else:  # text, booleans or a mix: refused row by row (an error path, so a per-row test is fine here)
        floats = values.map(_number_or_nan).to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(floats) | (floats != np.floor(floats))
    if bad.any():
        raise ReconciliationInputError(side, column, sample(frame, bad),
                                       f"{int(bad.sum())} row(s) whose quantity is not a whole number")
    return floats.astype(np.int64)


def _number_or_nan(value: object) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return float("nan")
    return float(value)


def sample(frame: pd.DataFrame, mask: np.ndarray) -> list[str]:
    """Up to five offending rows as ``sku|location`` (``<null>`` / ``<blank>`` shown as such) with their row."""
    rows = frame.loc[mask].head(SHOWN_KEYS)
    labels = []
    for index, sku, location in zip(rows.index, _shown(rows, "sku"), _shown(rows, "location"), strict=True):
        labels.append(f"{sku}|{location} (row {index})")
    return labels


def _shown(rows: pd.DataFrame, column: str) -> list[str]:
    if column not in rows.columns:
        return ["?"] * len(rows)
    return [_show(value) for value in rows[column].tolist()]


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "<null>"
    text = str(value)
    return text if text.strip() else "<blank>"
