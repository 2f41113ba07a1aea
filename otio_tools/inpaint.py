"""Plan an inpaint: every frame of a clip the viewer sees, made again with a region (or a matte's
white) replaced.

The result covers the clip's record frames and, where a transition on its track shows the clip
beyond its cut (a dissolve takes its handles), those frames too, as far as its media has them
(``otio_tools.transitions``); at the timeline's rate and the clip's picture size, with the source
timecode of its first frame. It is placed by the rules of ``otio_tools.placement``: the clip's own
track is occupied, so ``auto`` and ``above`` take the lowest track above it free over all of it;
``overwrite`` replaces the clip's cut, placed from the result's media whose extra frames are the
transition's handles. The engine is shown the clip's frames as the timeline plays them (its speed
and direction included) and up to :data:`HANDLE_SECONDS` of handles a side (more when a transition
shows more), as far as the media has them: what the camera or the object's motion reveals there
helps fill the region. A held frame (speed 0) gets no handles beyond what a transition shows; they
would be the same picture again. The region (or matte) is the request's over the clip's cut;
beyond it a moving region goes on along its line over the frames a transition shows and stays at
its first and last place over the handles only looked at, and a matte holds its first and last
frames (``server.masks``).
"""

from __future__ import annotations

import math
from fractions import Fraction

from otio_tools.errors import RequestError
from otio_tools.plan import InpaintArea, Plan
from otio_tools.transitions import frames_in_media

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
    cover = ctx.coverage(clip, where, facts, timing)
    reach = 0 if timing.speed == 0 else handle_frames(ctx.rate)
    head = frames_in_media(timing, facts, range(-1, -max(reach, cover.head) - 1, -1))
    tail = frames_in_media(timing, facts, range(clip.duration, clip.duration + max(reach, cover.tail)))
    context = ctx.frames_of(clip, where, range(-head, clip.duration + tail))
    area = InpaintArea(placed=range(head, head + clip.duration), region=request.region,
                       region_end=request.region_end, mask=request.mask,
                       covered=range(head - cover.head, head + clip.duration + cover.tail))
    record_frame, frames, media_in = cover.placed(clip)
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(record_frame, frames),
        record_frame=record_frame, frames=frames, size=size, make=len(area.made), media_in=media_in,
        start_timecode=ctx.source_timecode(clip, where, -cover.head), clip_name=clip.item.name or "clip",
        context=context, inpaint=area, notes=cover.notes,
    )


def _check_inside(region: tuple[int, int, int, int], size: tuple[int, int], key: str, where: str) -> None:
    x, y, w, h = region
    width, height = size
    if x + w > width or y + h > height:
        raise RequestError("region_outside_picture",
                           f"metadata.shotforge.{key} [{x}, {y}, {w}, {h}] reaches outside the picture of {where}, "
                           f"which is {width}x{height}: it covers x {x}-{x + w - 1} and y {y}-{y + h - 1}, the "
                           f"picture x 0-{width - 1} and y 0-{height - 1}")
