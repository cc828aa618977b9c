"""The shape of reconciliation findings and the checks every input frame passes before it is compared.

A finding is one row of :data:`FINDING_COLUMNS`. :func:`require` refuses a frame without a column a comparison needs
or with a row whose key is blank, naming the frame, column and rows (:class:`FindingsInputError`): a malformed read
must never look like missing records. :func:`normalised` and :func:`moments` read text and time stamps the same way
for every system.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FINDING_COLUMNS = ("section", "kind", "key", "erp_value", "wms_value", "summary", "exception_type",
                   "entity_type", "entity_key")


class FindingsInputError(ValueError):
    """A frame handed to a comparison is not what it must be (a column missing, a key blank): nothing is
    compared, because a malformed read would otherwise look like missing records."""


def empty_findings() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({column: pd.Series(dtype=object) for column in FINDING_COLUMNS})


def require(frame: pd.DataFrame, columns: Iterable[str], what: str, *, keys: Iterable[str] = ()) -> None:
    """Refuse a frame without one of ``columns``, or with a row whose ``keys`` are blank (naming the row)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FindingsInputError(f"{what}: column(s) {', '.join(missing)} missing (found: "
                                 f"{', '.join(map(str, frame.columns)) or 'none'}); nothing compared")
    for key in keys:
        blank = frame[key].isna() | (frame[key].astype(str).str.strip() == "")
        if blank.any():
            rows = [str(i) for i in frame.index[blank][:5]]
            raise FindingsInputError(f"{what}: {int(blank.sum())} row(s) without {key} (row {', '.join(rows)}); "
                                     f"such a row is an error, not data")


def normalised(values: pd.Series) -> pd.Series:
    """Text with every run of whitespace made one space and the ends trimmed (missing = empty)."""
    return values.fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.strip()


def moments(values: pd.Series) -> pd.Series:
    """ISO 8601 texts or datetimes (naive = UTC) as naive UTC timestamps; unreadable or missing = NaT. Every ISO
    variant is read (with or without fractions or a zone): inferring one format from the first value would turn the
    others into NaT."""
    import pandas as pd

    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601").dt.tz_convert(None)


def combine(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    kept = [p for p in parts if len(p)]
    if not kept:
        return empty_findings()
    return pd.concat(kept, ignore_index=True)[list(FINDING_COLUMNS)]
