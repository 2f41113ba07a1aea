"""Frame rates and timecode: exact rates, whole frames, drop-frame maths.

OTIO stores rates as floats (23.976023976023978, sometimes a bare 23.976 or 23.98); media files
carry exact rationals (24000/1001). Everything editorial here is whole frames at one of the rates
an editor uses, so a rate is normalised once to its exact :class:`~fractions.Fraction`.

Timecode is counted here with integers rather than by OTIO, whose SMPTE helpers refuse 12, 15,
16, 18, 72, 96, 100, 119.88 and 120 fps. Drop-frame: SMPTE ST 12-1 skips 2 labels a minute at
29.97 and 4 at 59.94 (every minute but each tenth); 119.88 skips 8 by the same rule (FFmpeg's and
Pro Tools' counting; ST 12-1 stops at 60). It applies at 119.88 only when the editor says the
timeline counts drop-frame; at 29.97 and 59.94 it is the broadcast default.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange

_NTSC = (24, 30, 48, 60, 120)  # nominal rates that also run 1000/1001 slow
#: Every timeline rate Resolve or Premiere offers (DESIGN.md "Frame rates"), exact.
TIMELINE_RATES = tuple(sorted(
    {Fraction(whole) for whole in (12, 15, 16, 18, 24, 25, 30, 48, 50, 60, 72, 96, 100, 120)}
    | {Fraction(whole * 1000, 1001) for whole in _NTSC}))
#: Rates whose timecode can count drop-frame (2, 4, 8 labels skipped a minute).
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001), Fraction(120000, 1001))
#: Where drop-frame is assumed when neither the request nor the export says (NTSC broadcast).
DEFAULT_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
SECONDS_PER_DAY = 24 * 60 * 60

_TIMECODE = re.compile(r"^\s*(\d{1,2})[:;.,](\d{2})[:;.,](\d{2})([:;.,])(\d{2,3})\s*$")


def exact_rate(rate: float | Fraction) -> Fraction | None:
    """The exact editorial rate closest to ``rate``, or None if it is not close to any.

    23.976, 23.98, 23.976023976… and 24000/1001 all mean NTSC film; 119.88 is 120000/1001;
    14.985 fps media is 15000/1001. NaN, infinite and non-positive rates are None.
    """
    if not isinstance(rate, Fraction):
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate):
            return None
        rate = Fraction(rate)
    if rate <= 0:
        return None
    for known in TIMELINE_RATES:
        if abs(rate - known) < Fraction(1, 200):  # 23.98 is 0.004 from 24000/1001
            return known
    for whole in range(1, 241):  # other integer and NTSC media rates (14.985, 240 …)
        for candidate in (Fraction(whole), Fraction(whole * 1000, 1001)):
            if abs(rate - candidate) < Fraction(1, 2000):
                return candidate
    return None


def timeline_rate(rate: float, where: str = "the timeline") -> Fraction:
    """The exact timeline rate, or a :class:`RequestError` naming an unsupported one."""
    exact = exact_rate(rate)
    if exact not in TIMELINE_RATES:
        shown = ", ".join(rate_label(r) for r in TIMELINE_RATES)
        try:
            given = f"{float(rate):g}"
        except (TypeError, ValueError, OverflowError):
            given = repr(rate)
        raise RequestError("unsupported_rate",
                           f"{where} runs at {given} fps, which is not a timeline rate ShotForge supports ({shown})")
    return exact


def rate_label(rate: Fraction) -> str:
    """23.976, 25, 29.97, 119.88 … as an editor writes the rate."""
    rate = Fraction(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def nominal_fps(rate: Fraction) -> int:
    """Frames per timecode second: 24 at 23.976, 30 at 29.97, 120 at 119.88 (half up, as FFmpeg)."""
    return max(1, math.floor(Fraction(rate) + Fraction(1, 2)))


def has_drop_frame(rate: Fraction) -> bool:
    return Fraction(rate) in DROP_FRAME_RATES


def _dropped_per_minute(fps: int) -> int:
    return fps // 15  # 2 at 29.97, 4 at 59.94, 8 at 119.88


def to_frame(time: RationalTime, rate: Fraction) -> int:
    """A time as a whole frame count at ``rate``: rounded to the nearest frame, never truncated,
    so a float rate's 0.9999… does not become one frame early."""
    if not (math.isfinite(time.value) and math.isfinite(time.rate) and time.rate > 0):
        raise RequestError("malformed_otio", f"the timeline holds a time of {time.value:g} at {time.rate:g} fps, "
                                             "which is not a time")
    return round(time.value * Fraction(rate) / Fraction(time.rate))


def frames_time(frames: int, rate: Fraction) -> RationalTime:
    return RationalTime(frames, float(rate))


def frames_range(start: int, duration: int, rate: Fraction) -> TimeRange:
    return TimeRange(frames_time(start, rate), frames_time(duration, rate))


def timecode_to_frame(timecode: str, rate: Fraction) -> int:
    """Frames counted by a timecode at ``rate`` (01:00:00:00 at 24 fps is 86400).

    ';' or ',' before the frames means drop-frame where the rate has it; elsewhere every label
    counts. A label drop-frame skips (00:01:00;00 at 29.97) is refused.
    """
    def refuse(why: str) -> RequestError:
        return RequestError("bad_timecode", f"timecode {timecode!r} cannot be read at {rate_label(rate)} fps: {why}")

    match = _TIMECODE.match(str(timecode))
    if not match:
        raise refuse("it is not HH:MM:SS:FF")
    hours, minutes, seconds, frames = (int(match.group(i)) for i in (1, 2, 3, 5))
    fps = nominal_fps(rate)
    if minutes > 59 or seconds > 59 or frames >= fps:
        raise refuse(f"minutes and seconds run 00-59 and frames 00-{fps - 1:02d}")
    count = ((hours * 60 + minutes) * 60 + seconds) * fps + frames
    if is_drop_frame_timecode(timecode) and has_drop_frame(rate):
        dropped = _dropped_per_minute(fps)
        if seconds == 0 and minutes % 10 and frames < dropped:
            raise refuse(f"drop-frame timecode skips frames 00-{dropped - 1:02d} at the start of this minute")
        total_minutes = hours * 60 + minutes
        count -= dropped * (total_minutes - total_minutes // 10)
    return count


def frame_to_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The timecode of a frame count, wrapping at 24 hours as a timecode clock does.

    ``drop_frame`` counts drop-frame where the rate has it (29.97, 59.94, 119.88), written with ';'.
    """
    fps = nominal_fps(rate)
    drop = drop_frame and has_drop_frame(rate)
    if drop:
        dropped = _dropped_per_minute(fps)
        per_ten_minutes = fps * 600 - dropped * 9
        frame %= per_ten_minutes * 6 * 24
        tens, rest = divmod(frame, per_ten_minutes)
        # Turn the frame count into a label count: add back the labels skipped so far.
        skipped = 0 if rest < dropped else dropped * ((rest - dropped) // (fps * 60 - dropped))
        frame += dropped * 9 * tens + skipped
    else:
        frame %= SECONDS_PER_DAY * fps
    seconds, frames = divmod(frame, fps)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{';' if drop else ':'}{frames:02d}"


def is_drop_frame_timecode(timecode: str | None) -> bool:
    return bool(timecode) and (";" in timecode or "," in timecode)


def media_index_step(k: int, media_rate: Fraction, record_rate: Fraction, speed: Fraction = Fraction(1)) -> int:
    """Media frames elapsed after ``k`` record frames, playing the media at ``speed`` times its own speed.

    This is how an NLE samples a mixed-rate or retimed clip without frame blending: timeline frame
    k shows the media frame that is on screen at that instant (floored, also for negative k).
    """
    return math.floor(Fraction(k) * speed * media_rate / record_rate)  # exact: all three are Fractions
