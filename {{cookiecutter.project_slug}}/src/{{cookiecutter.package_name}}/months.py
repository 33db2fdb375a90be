"""Months specs: one month, a range or a list, as settings and command lines write them.

``2023-01``, ``2023-01..2023-06`` (both ends included) and ``2021-01,2023-01..2023-02`` all
name months in YYYY-MM form. Training and validation read these months, batch prediction can
score them; a spec is parsed here once, so every job reads the same months from the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
RANGE_SEPARATOR = ".."
LIST_SEPARATOR = ","
# A range longer than this is a typo (2023-01..3023-01), not decades of monthly files.
MAX_MONTHS = 240


def month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_months(spec: str | Iterable[str]) -> tuple[str, ...]:
    """The months a spec names, in order, without repeats; ``ValueError`` says what is wrong.

    A spec is a string (``2023-01``, ``2023-01..2023-06``, items joined by commas) or a list of
    such strings.
    """
    items = spec.split(LIST_SEPARATOR) if isinstance(spec, str) else list(spec)
    months: list[str] = []
    for raw in items:
        item = str(raw).strip()
        first, separator, last = item.partition(RANGE_SEPARATOR)
        ends = (first.strip(), last.strip()) if separator else (item, item)
        for end in ends:
            if not MONTH_PATTERN.fullmatch(end):
                raise ValueError(
                    f"expected a month as YYYY-MM, a range YYYY-MM..YYYY-MM or a comma-separated "
                    f"list of them, got {item!r}"
                )
        start, stop = (month_index(end) for end in ends)
        if stop < start:
            raise ValueError(f"range {item!r} ends before it starts")
        if stop - start >= MAX_MONTHS:
            raise ValueError(f"range {item!r} spans more than {MAX_MONTHS} months")
        months.extend(month_name(index) for index in range(start, stop + 1))
    if not months:
        raise ValueError("no month given")
    return tuple(dict.fromkeys(months))


def format_months(months: Iterable[str]) -> str:
    """The shortest spec for ``months``: consecutive runs become ranges (for labels and logs)."""
    indices = sorted({month_index(month) for month in months})
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return LIST_SEPARATOR.join(
        month_name(run[0]) if len(run) == 1 else f"{month_name(run[0])}..{month_name(run[-1])}"
        for run in runs
    )
