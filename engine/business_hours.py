"""Counting hours in business time: a workflow's working days and hours in its time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.model import BusinessHours

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MAX_DAYS = 366 * 11
"""How far ahead a due time is looked for (the longest step is ten years)."""


@dataclass(frozen=True)
class Hours:
    """Business hours checked and ready to count with."""

    days: frozenset[int]
    """Working weekdays (Monday is 0)."""
    start: time
    end: time
    zone: ZoneInfo


def parse_days(text: str) -> frozenset[int]:
    """Weekdays from `mon-fri`, `mon,wed,fri` or `mon-thu,sat` (Monday is 0); ValueError names
    what is wrong."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        ends = [e.strip()[:3] for e in part.split("-")]
        if len(ends) > 2 or any(e not in DAY_NAMES for e in ends):
            raise ValueError(f"`{part}` is not a day or range of days (use e.g. mon-fri or mon,wed,fri)")
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        if last < first:
            raise ValueError(f"`{part}` runs backwards; write the days from Monday on, e.g. mon-fri")
        days.update(range(first, last + 1))
    return frozenset(days)


def _clock(text: str, what: str) -> time:
    m = _TIME_RE.match(text.strip())
    if m is None:
        raise ValueError(f"the {what} `{text}` is not a time of day like 09:00")
    return time(int(m.group(1)), int(m.group(2)))


def checked(bh: BusinessHours) -> Hours:
    """The business hours ready to count with; ValueError says what is wrong with them."""
    try:
        zone = ZoneInfo(bh.timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"`{bh.timezone}` is not a known time zone (use e.g. Europe/Berlin)") from None
    start, end = _clock(bh.start, "start"), _clock(bh.end, "end")
    if end <= start:
        raise ValueError(f"the working day ends ({bh.end}) before it starts ({bh.start})")
    return Hours(parse_days(bh.days), start, end, zone)


def problems(bh: BusinessHours) -> list[str]:
    """What is wrong with business hours, in words (empty when they are fine)."""
    try:
        checked(bh)
    except ValueError as exc:
        return [str(exc)]
    return []


def add_hours(start: float, hours: float, bh: BusinessHours | None) -> float:
    """The instant `hours` after `start` (epoch seconds), counting only business hours when given."""
    if bh is None:
        return start + hours * 3600
    h = checked(bh)
    left = hours * 3600
    day: date = datetime.fromtimestamp(start, h.zone).date()
    for _ in range(_MAX_DAYS):
        if day.weekday() in h.days:
            # epoch seconds, not aware-datetime arithmetic: a DST change inside the day counts right
            opens = datetime.combine(day, h.start, h.zone).timestamp()
            closes = datetime.combine(day, h.end, h.zone).timestamp()
            begin = max(opens, start)
            if begin < closes:
                if left <= closes - begin:
                    return begin + left
                left -= closes - begin
        day += timedelta(days=1)
    raise ValueError("the business hours leave no working time to count")
