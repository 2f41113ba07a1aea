"""Timeline rates and timecode, exactly as an editor counts them.

Runs inside Resolve's Python (3.6+, stdlib only). Resolve reports a timeline's rate as text
("23.976", "29.97", "25", sometimes "29.97 DF") and the playhead as a timecode string; ShotForge
requests count whole frames from the timeline's first frame. Everything here is integer maths on
exact rates (:class:`fractions.Fraction`), so 23.976 and 29.97 drop-frame never drift.
"""

import re
from fractions import Fraction

__all__ = [
    "parse_rate", "nominal_fps", "is_drop_frame_rate", "timecode_to_frame", "frame_to_timecode",
    "seconds_to_frames", "rate_label",
]

_TC = re.compile(r"^\s*(-?)(\d{1,2})[:;.,](\d{1,2})[:;.,](\d{1,2})([:;.,])(\d{1,3})\s*$")


def parse_rate(value):
    """The exact rate for Resolve's rate text: "23.976" -> 24000/1001, "25" -> 25, "29.97 DF" -> 30000/1001,
    "47.952" -> 48000/1001, "119.88" -> 120000/1001 (every timeline rate Resolve offers, 12 to 120).

    Raises ValueError for text that is not a positive rate.
    """
    if isinstance(value, Fraction):
        rate = value
    else:
        text = str(value).strip().upper()
        stripped = True
        while stripped:  # "29.97 DF", "23.976 fps", "59.94p"
            stripped = False
            for suffix in ("NDF", "DF", "FPS", "P", "I"):
                if text.endswith(suffix):
                    text = text[: -len(suffix)].strip()
                    stripped = True
        try:
            rate = Fraction(float(text)) if text else Fraction(0)
        except (ValueError, OverflowError):  # not a number, NaN, infinity
            raise ValueError("timeline frame rate {!r} is not a number".format(value))
    if rate <= 0:
        raise ValueError("timeline frame rate {!r} is not a positive rate".format(value))
    whole = round(rate)
    if abs(rate - whole) < Fraction(1, 500):
        return Fraction(whole)
    for base in range(1, 241):
        ntsc = Fraction(base * 1000, 1001)
        if abs(rate - ntsc) < Fraction(1, 200):  # 23.98 and 23.976 both mean 24000/1001
            return ntsc
    return rate.limit_denominator(1001)


def rate_label(rate):
    """23.976, 25, 29.97 … as an editor writes it."""
    rate = parse_rate(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return "{:.3f}".format(float(rate)).rstrip("0").rstrip(".")


def nominal_fps(rate):
    """Frames per timecode second: 24 for 23.976, 30 for 29.97."""
    return int(round(parse_rate(rate)))


def is_drop_frame_rate(rate):
    """Drop-frame timecode exists for 29.97 and 59.94 (SMPTE ST 12-1) and 119.88, which skips 8
    labels a minute by the same rule (as FFmpeg and otio_tools.timing count it)."""
    rate = parse_rate(rate)
    return rate.denominator == 1001 and nominal_fps(rate) % 30 == 0


def _drop_per_minute(rate):
    return nominal_fps(rate) // 15  # 2 at 29.97, 4 at 59.94, 8 at 119.88


def timecode_to_frame(timecode, rate, drop_frame=None):
    """Frames counted by ``timecode`` at ``rate`` (absolute: 01:00:00:00 at 24 fps is 86400).

    ``drop_frame`` None means: drop-frame when the text uses ';' (or ',') before the frames and
    the rate has drop-frame timecode.
    """
    match = _TC.match(str(timecode))
    if not match:
        raise ValueError("{!r} is not a timecode (HH:MM:SS:FF)".format(timecode))
    sign, hh, mm, ss, sep, ff = match.groups()
    hours, minutes, seconds, frames = int(hh), int(mm), int(ss), int(ff)
    fps = nominal_fps(rate)
    if minutes > 59 or seconds > 59 or frames >= fps:
        raise ValueError("{!r} is not a valid timecode at {} fps".format(timecode, rate_label(rate)))
    if drop_frame is None:
        drop_frame = sep in ";,"
    drop_frame = bool(drop_frame) and is_drop_frame_rate(rate)
    total_minutes = hours * 60 + minutes
    count = (total_minutes * 60 + seconds) * fps + frames
    if drop_frame:
        drop = _drop_per_minute(rate)
        if seconds == 0 and minutes % 10 != 0 and frames < drop:
            raise ValueError("{!r} does not exist in drop-frame timecode".format(timecode))
        count -= drop * (total_minutes - total_minutes // 10)
    return -count if sign else count


def frame_to_timecode(frame, rate, drop_frame=False):
    """The timecode of an absolute frame count (the inverse of :func:`timecode_to_frame`)."""
    fps = nominal_fps(rate)
    drop_frame = bool(drop_frame) and is_drop_frame_rate(rate)
    frame = int(frame)
    sign = "-" if frame < 0 else ""
    frame = abs(frame)
    if drop_frame:
        drop = _drop_per_minute(rate)
        per_10min = fps * 600 - drop * 9
        per_min = fps * 60 - drop
        tens, rest = divmod(frame, per_10min)
        if rest < drop:  # the first minute of each ten keeps all its numbers
            extra = 0
        else:
            extra = drop * ((rest - drop) // per_min)
        frame = frame + drop * 9 * tens + extra
    ff = frame % fps
    total_seconds = frame // fps
    ss = total_seconds % 60
    mm = (total_seconds // 60) % 60
    hh = total_seconds // 3600
    sep = ";" if drop_frame else ":"
    return "{}{:02d}:{:02d}:{:02d}{}{:02d}".format(sign, hh, mm, ss, sep, ff)


def seconds_to_frames(seconds, rate):
    """Whole frames nearest to ``seconds`` at ``rate`` (2 s at 23.976 is 48 frames)."""
    return int(round(Fraction(str(seconds)) * parse_rate(rate)))
