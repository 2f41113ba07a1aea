"""Plan an inpaint: the clip's placed range, made again with a region (or a matte's white) replaced.

The result covers exactly the clip's record frames, at the timeline's rate and the clip's picture
size, with the source timecode of the clip's in point; it is placed by the rules of
``otio_tools.placement`` (the clip's own track is occupied, so ``auto`` and ``above`` take the
lowest free track above it; ``overwrite`` replaces the clip). The engine is shown the clip's
frames as the timeline plays them (its speed and direction included) and up to
:data:`HANDLE_SECONDS` of handles a side, as far as the media has them: what the camera or the
object's motion reveals there helps fill the region. A held frame (speed 0) gets no handles; they
would be the same picture again.
"""

from __future__ import annotations

import math
from fractions import Fraction

from otio_tools.errors import RequestError
from otio_tools.media import MediaFacts
from otio_tools.plan import InpaintArea, Plan
from otio_tools.retime import ClipTime

#: Handles a side the engine may look at, in seconds of the timeline (bounded: a job stays small).
HANDLE_SECONDS = 2


def handle_frames(rate: Fraction) -> int:
    """Record frames of :data:`HANDLE_SECONDS` at ``rate``, rounded up."""
    return math.ceil(HANDLE_SECONDS * rate)


def plan_inpaint(ctx) -> Plan:
    """``ctx``: :class:`otio_tools.plan._Context` of an inpaint request."""
    request = ctx.request
    clip, where = ctx.whole_clip("inpaint")
    facts, timing = ctx.source(clip, where)
    size = (facts.width, facts.height)
    for key, region in (("region", request.region), ("region_end", request.region_end)):
        if region is not None:
            _check_inside(region, size, key, where)
    reach = 0 if timing.speed == 0 else handle_frames(ctx.rate)
    head = _handles_available(timing, facts, range(-1, -reach - 1, -1))
    tail = _handles_available(timing, facts, range(clip.duration, clip.duration + reach))
    context = ctx.frames_of(clip, where, range(-head, clip.duration + tail))
    area = InpaintArea(placed=range(head, head + clip.duration), region=request.region,
                       region_end=request.region_end, mask=request.mask)
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(clip.start, clip.duration),
        record_frame=clip.start, frames=clip.duration, size=size, make=clip.duration,
        start_timecode=ctx.source_timecode(clip, where, 0), clip_name=clip.item.name or "clip",
        context=context, inpaint=area,
    )


def _handles_available(timing: ClipTime, facts: MediaFacts, offsets: range) -> int:
    """How many of ``offsets`` (nearest the clip first) show a frame the media has."""
    count = 0
    for index in timing.indices(offsets):
        if not 0 <= index < facts.frames:
            break
        count += 1
    return count


def _check_inside(region: tuple[int, int, int, int], size: tuple[int, int], key: str, where: str) -> None:
    x, y, w, h = region
    width, height = size
    if x + w > width or y + h > height:
        raise RequestError("region_outside_picture",
                           f"metadata.shotforge.{key} [{x}, {y}, {w}, {h}] reaches outside the picture of {where}, "
                           f"which is {width}x{height}: it covers x {x}-{x + w - 1} and y {y}-{y + h - 1}, the "
                           f"picture x 0-{width - 1} and y 0-{height - 1}")
