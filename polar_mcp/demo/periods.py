"""Moments and billing periods for the sample organization: the day the data describes, and calendar steps.

The sample billing is placed relative to an `as_of` moment: demo mode passes "now", tests a fixed moment.
Everything is derived from the *date* of `as_of` (in UTC), so one day always gives the same data: the
data describes the organization at 00:00 UTC of that date (its `anchor`). Nothing in it happens after
the anchor except what is scheduled (trial ends, renewals, cancellations at period end).

Billing periods follow Polar's calendar: a monthly subscription renews on the day of the month it
started, clamped to the month's length (31 January, 28 February, 31 March), yearly ones likewise.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

__all__ = [
    "DAY",
    "anchor_of",
    "api_time",
    "approximate_days",
    "parse_api_time",
    "period_start",
    "periods_before",
]

DAY = timedelta(days=1)
_FIXED_DAYS = {"day": 1, "week": 7}
_MONTHS = {"month": 1, "year": 12}
_APPROXIMATE_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}


def anchor_of(as_of: datetime | None = None) -> datetime:
    """00:00 UTC of `as_of`'s UTC date (today's when `None`): the moment the sample data describes.

    A naive `as_of` is taken as UTC."""
    moment = datetime.now(UTC) if as_of is None else as_of
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    day = moment.astimezone(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def period_start(anchor: datetime, interval: str, count: int, index: int) -> datetime:
    """The start of billing period `index` (0 is the first) of a subscription whose periods begin at
    `anchor`, renewing every `count` `interval`s."""
    if interval in _FIXED_DAYS:
        return anchor + timedelta(days=_FIXED_DAYS[interval] * count * index)
    months = anchor.month - 1 + _MONTHS[interval] * count * index
    year, month = anchor.year + months // 12, months % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def periods_before(anchor: datetime, interval: str, count: int, moment: datetime) -> int:
    """How many periods have started at or before `moment` (at least 1 when `anchor <= moment`)."""
    if moment < anchor:
        return 0
    if interval in _FIXED_DAYS:
        step = timedelta(days=_FIXED_DAYS[interval] * count)
        return (moment - anchor) // step + 1
    months = _MONTHS[interval] * count
    guess = max(0, ((moment.year - anchor.year) * 12 + moment.month - anchor.month) // months - 1)
    while period_start(anchor, interval, count, guess + 1) <= moment:
        guess += 1
    return guess + 1


def approximate_days(interval: str, count: int = 1) -> float:
    """A period's length in days, on average: for drawing plausible dates, never for billing."""
    return _APPROXIMATE_DAYS[interval] * count


def api_time(moment: datetime) -> str:
    """A moment as Polar's JSON API writes it: UTC, microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_api_time(text: str) -> datetime:
    """The inverse of `api_time`, for any ISO 8601 timestamp with an offset or `Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
