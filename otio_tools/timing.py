"""Frame rates and timecode: exact rates, whole frames, drop-frame maths.

OTIO stores rates as floats (23.976023976023978, sometimes a bare 23.976); media files carry
exact rationals (24000/1001). Everything editorial here is whole frames at one of the rates an
editor uses, so a rate is normalised once to its exact :class:`~fractions.Fraction`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange

#: Timeline rates ShotForge renders at (DESIGN.md: 23.976, 24, 25, 29.97, 30, 50, 59.94, and 48/60).
SUPPORTED_RATES = tuple(
    sorted({Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
            Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60)})
)
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
FRAMES_PER_DAY_SECONDS = 24 * 60 * 60


def exact_rate(rate: float | Fraction) -> Fraction | None:
    """The exact editorial rate closest to ``rate``, or None if it is not close to any.

    23.976, 23.976023976… and 24000/1001 all mean NTSC film; 15 fps media stays 15.
    """
    rate = Fraction(rate) if not isinstance(rate, Fraction) else rate
    for known in SUPPORTED_RATES:
        if abs(rate - known) < Fraction(1, 200):
            return known
    for whole in range(1, 241):  # other integer and NTSC media rates (15, 12, 120, 14.985 …)
        for candidate in (Fraction(whole), Fraction(whole * 1000, 1001)):
            if abs(rate - candidate) < Fraction(1, 2000):
                return candidate
    return None


def timeline_rate(rate: float, where: str = "the timeline") -> Fraction:
    """The exact timeline rate, or a :class:`RequestError` naming an unsupported one."""
    exact = exact_rate(rate)
    if exact not in SUPPORTED_RATES:
        shown = ", ".join(f"{float(r):g}" for r in SUPPORTED_RATES)
        raise RequestError("unsupported_rate", f"{where} runs at {rate:g} fps, which is not supported ({shown})")
    return exact


def to_frame(time: RationalTime, rate: Fraction) -> int:
    """A time as a whole frame count at ``rate``: rounded to the nearest frame, never truncated,
    so a float rate's 0.9999… does not become one frame early."""
    return round(time.value * Fraction(rate) / Fraction(time.rate))


def frames_time(frames: int, rate: Fraction) -> RationalTime:
    return RationalTime(frames, float(rate))


def frames_range(start: int, duration: int, rate: Fraction) -> TimeRange:
    return TimeRange(frames_time(start, rate), frames_time(duration, rate))


def timecode_to_frame(timecode: str, rate: Fraction) -> int:
    """Frames counted by a timecode at ``rate`` (';' or ',' before the frames means drop-frame)."""
    try:
        return round(otio.opentime.from_timecode(timecode, float(rate)).value)
    except Exception as exc:
        raise RequestError("bad_timecode", f"timecode {timecode!r} cannot be read at {float(rate):g} fps: {exc}") from None


def frame_to_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The timecode of a frame count, wrapping at 24 hours as a timecode clock does."""
    base = round(rate)
    per_day = round(FRAMES_PER_DAY_SECONDS * rate) if drop_frame else FRAMES_PER_DAY_SECONDS * base
    frame %= per_day
    drop = drop_frame and rate in DROP_FRAME_RATES
    return otio.opentime.to_timecode(RationalTime(frame, float(rate)), float(rate), drop)


def is_drop_frame_timecode(timecode: str | None) -> bool:
    return bool(timecode) and (";" in timecode or "," in timecode)


def media_index_step(k: int, media_rate: Fraction, record_rate: Fraction, speed: Fraction = Fraction(1)) -> int:
    """Media frames elapsed after ``k`` record frames, playing the media at ``speed`` times its own speed.

    This is how an NLE samples a mixed-rate or retimed clip without frame blending: timeline frame
    k shows the media frame that is on screen at that instant (floored, also for negative k).
    """
    return math.floor(Fraction(k) * speed * media_rate / record_rate)  # exact: all three are Fractions
