"""Which media frame a clip shows at each record frame: its rate, constant speed, reverse, freeze.

The convention (OpenTimelineIO's, as Resolve, Avid AAF and the Premiere panel write it) is in
``otio_tools.media``'s module docstring. Speeds are exact fractions: a ``time_scalar`` float is
read as the nearest fraction with a denominator up to 1000 (0.7 is 7/10, 0.5294… is 9/17).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.timing import media_index_step

SPEED_DENOMINATOR = 1000


def clip_speed(clip: otio.schema.Clip, where: str) -> Fraction:
    """The product of a clip's ``LinearTimeWarp`` scalars (``FreezeFrame`` is one with scalar 0).

    Any other time effect (a speed ramp comes in as a plain ``TimeEffect``) is refused by name:
    its record-to-media mapping is not known here, and guessing would put the wrong frames in."""
    speed = Fraction(1)
    for effect in clip.effects:
        if isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= Fraction(effect.time_scalar).limit_denominator(SPEED_DENOMINATOR)
        elif isinstance(effect, otio.schema.TimeEffect):
            kind = effect.schema_name()
            name = kind if effect.effect_name in ("", kind) else f"{kind} ({effect.effect_name})"
            raise RequestError("variable_speed", f"{where} has a variable speed effect '{name}'; ShotForge "
                                                 "handles constant speed changes and reverse only")
    return speed


@dataclass(frozen=True)
class ClipTime:
    """How one clip maps record offsets (0 = its first record frame) to 0-based media indices."""

    first: int  # the lowest media index of the span the clip uses (its source start)
    duration: int  # record frames
    speed: Fraction  # > 0 forwards, < 0 reverse, 0 a held frame
    media_rate: Fraction
    record_rate: Fraction

    @property
    def span(self) -> int:
        """Media frames the clip uses: duration x |speed| timeline frames, at the media's rate."""
        return max(1, math.ceil(self.duration * abs(self.speed) * self.media_rate / self.record_rate))

    @property
    def plays_as_shot(self) -> bool:
        """Speed 1 forwards at the timeline's rate: its handles can be placed straight from the file."""
        return self.speed == 1 and self.media_rate == self.record_rate

    def index(self, offset: int) -> int:
        """The media frame shown at record ``offset`` (negative or past the end: what the clip would
        show if it went on at the same speed and direction, i.e. its handles)."""
        step = media_index_step(offset, self.media_rate, self.record_rate, abs(self.speed))
        return self.first + (self.span - 1 - step if self.speed < 0 else step)

    def indices(self, offsets: range) -> list[int]:
        return [self.index(k) for k in offsets]
