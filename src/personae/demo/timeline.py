"""When things happen in the demo world: a calendar of shopping intensity and draws from it.

Every day of the period gets a weight: weekends are busier, November and December peak
(Black Friday to Cyber Monday most of all), January is quiet. Seasonal buyers use a
calendar of their own in which their season's months carry
:data:`~personae.demo.catalog.SEASONAL_SHARE_IN_SEASON` of the weight. Days are drawn by
inverting the cumulative weight between each person's own first and last active day, so
every draw respects both the season and the person's window. Times of day follow opening
hours in store and an evening peak online.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from personae.demo.catalog import SEASONAL_SHARE_IN_SEASON, SEASONS
from personae.demo.text import SECONDS_PER_DAY

_EPOCH = date(1970, 1, 1)
_MONTH_FACTOR = np.array([0.85, 0.85, 0.95, 0.95, 1.0, 1.0, 1.0, 1.05, 0.95, 1.0, 1.35, 1.6])
_WEEKDAY_FACTOR = np.array([0.95, 0.9, 0.95, 1.0, 1.1, 1.3, 1.15])  # Monday first
_STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 7, 9, 8, 7, 7, 8, 9, 9, 7, 5, 3, 0, 0], dtype=np.float64)
_WEB_HOURS = np.array(
    [2, 1, 1, 0.5, 0.5, 0.5, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 7, 8, 8, 6, 4],
    dtype=np.float64,
)


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH).days


def _black_fridays(first: date, last: date) -> list[date]:
    fridays = []
    for year in range(first.year, last.year + 1):
        november = date(year, 11, 1)
        thursday = november + timedelta(days=(3 - november.weekday()) % 7 + 21)
        fridays.append(thursday + timedelta(days=1))
    return fridays


@dataclass(frozen=True)
class Timeline:
    """The period ``[start, end]`` (both included) with its daily shopping weights."""

    start: date
    end: date
    cdf: np.ndarray
    """``(1 + len(SEASONS), days + 1)`` cumulative weights; row 0 for everyone, row
    ``1 + s`` for buyers of season ``s``."""
    month: np.ndarray
    """Month (1–12) of every day of the period."""

    @classmethod
    def between(cls, start: date, end: date) -> Timeline:
        if end <= start:
            raise ValueError(f"the demo period must end after it starts: {start} .. {end}")
        first = day_number(start)
        count = (end - start).days + 1
        days = np.arange(first, first + count).astype("datetime64[D]")
        month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        weekday = (np.arange(first, first + count) + 3) % 7  # 1970-01-01 was a Thursday
        weight = _MONTH_FACTOR[month - 1] * _WEEKDAY_FACTOR[weekday]
        day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
        weight[(month == 12) & (day_of_month >= 14) & (day_of_month <= 23)] *= 1.4
        weight[(month == 12) & (day_of_month == 25)] *= 0.2
        for friday in _black_fridays(start, end):
            offset = (friday - start).days
            weight[max(offset, 0) : max(offset + 4, 0)] *= 2.2
        rows = [weight]
        for season in SEASONS:
            inside = np.isin(month, season.months)
            seasonal = weight.copy()
            if inside.any() and (~inside).any():
                share = SEASONAL_SHARE_IN_SEASON
                boost = share / (1 - share) * weight[~inside].sum() / weight[inside].sum()
                seasonal[inside] *= boost
            rows.append(seasonal)
        stacked = np.vstack(rows)
        cdf = np.zeros((stacked.shape[0], count + 1))
        np.cumsum(stacked, axis=1, out=cdf[:, 1:])
        return cls(start=start, end=end, cdf=cdf, month=month)

    @property
    def days(self) -> int:
        return int(self.month.shape[0])

    @property
    def first_second(self) -> int:
        """Seconds since the epoch at midnight (UTC) of the first day."""
        return day_number(self.start) * SECONDS_PER_DAY

    def sample_days(self, profile: np.ndarray, low: np.ndarray, high: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Days in ``[low, high)`` (offsets from the start), one per row, drawn by the
        weights of calendar ``profile`` through the uniforms ``u``."""
        result = np.empty(len(u), dtype=np.int64)
        for row in np.unique(profile):
            mask = profile == row
            cdf = self.cdf[row]
            lo = low[mask]
            hi = high[mask]
            target = cdf[lo] + u[mask] * (cdf[hi] - cdf[lo])
            drawn = np.searchsorted(cdf, target, side="right") - 1
            result[mask] = np.clip(drawn, lo, hi - 1)
        return result

    def in_months(self, day: np.ndarray, months: tuple[int, ...]) -> np.ndarray:
        result: np.ndarray = np.isin(self.month[day], months)
        return result


def clock(rng: np.random.Generator, count: int, *, in_store: bool) -> np.ndarray:
    """Seconds after midnight: store opening hours, or the online day with an evening peak."""
    hours = _STORE_HOURS if in_store else _WEB_HOURS
    hour = rng.choice(24, size=count, p=hours / hours.sum())
    result: np.ndarray = hour * 3600 + rng.integers(0, 3600, size=count)
    return result
