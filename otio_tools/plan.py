"""Plan an operation: which source frames go in, how many frames come out, where they land.

A plan is pure data, made from the request timeline and facts about its media files (probed
by the caller and passed in through ``media``, so this module does no media I/O). Every
number in it is a whole frame: record frames at the timeline rate, media frames as 0-based
indices into a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.media import MediaFacts, clip_time, first_media_frame, is_resolve_export, media_path
from otio_tools.placement import choose_track
from otio_tools.request import MAX_FRAMES, Request
from otio_tools.retime import ClipTime
from otio_tools.timeline import (
    TrackItem, item_at, rate_of, start_frame, track_end, track_items, track_label, video_track,
)
from otio_tools.timing import (DEFAULT_DROP_FRAME_RATES, DROP_FRAME_RATES, frame_to_timecode,
                               is_drop_frame_timecode)
from otio_tools.transitions import Coverage, coverage

#: Real frames an engine is shown on each side of the frames it makes.
CONTEXT_FRAMES = 8
#: Size used for generate when nothing on the timeline tells the picture size.
DEFAULT_SIZE = (1920, 1080)

#: ``media(path_as_written_in_the_request, where) -> MediaFacts``; raises RequestError when the
#: file is missing, unreadable or not allowed. ``where`` names the clip for the message.
MediaLookup = Callable[[str, str], MediaFacts]


@dataclass(frozen=True)
class SourceFrames:
    """Frames to read from one file: one media index per record frame, in time order."""

    media: str
    indices: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Placement:
    """One new clip for the timeline (DESIGN.md "The result")."""

    media: str
    track: int
    record_frame: int
    source_in: int
    frames: int
    audio_track: int | None = None  # 0-based audio track for the media's sound (same frames); None: no sound

    def to_dict(self) -> dict:
        placed = {"media": self.media, "track": self.track, "record_frame": self.record_frame,
                  "source_in": self.source_in, "frames": self.frames}
        if self.audio_track is not None:
            placed["audio_track"] = self.audio_track
        return placed


@dataclass(frozen=True)
class Layout:
    """Outpaint: the picture scaled to ``inner`` and put at ``offset`` on ``canvas`` (pixels)."""

    canvas: tuple[int, int]
    inner: tuple[int, int]
    offset: tuple[int, int]


@dataclass(frozen=True)
class InpaintArea:
    """Inpaint: what to replace (a region, moving or not, or a matte) over which frames of the
    plan's ``context`` (the clip's frames with handles either side), and which frames the result
    covers: the clip's cut (``placed``) and what transitions show of the clip beyond it."""

    placed: range  # indices into Plan.context of the clip's cut, in order: where the region and matte are given
    region: tuple[int, int, int, int] | None = None  # [x, y, w, h] in the new media's pixels, at the first placed frame
    region_end: tuple[int, int, int, int] | None = None  # at the last placed frame; None: the region stays put
    mask: str | None = None  # the matte's path (the server's local path once planned by server.render)
    covered: range | None = None  # indices into Plan.context the result covers (placed and beyond); None: placed

    @property
    def made(self) -> range:
        """The frames of ``Plan.context`` the result is made of, in order."""
        return self.placed if self.covered is None else self.covered


@dataclass(frozen=True)
class Plan:
    request: Request
    rate: Fraction  # the timeline rate: the new media's rate
    track: int  # video track the result goes on (== number of video tracks: a new track above)
    record_frame: int  # first record frame placed
    frames: int  # record frames placed, handles placed from the source included
    size: tuple[int, int]  # (width, height) of the new media
    make: int  # frames the engine makes
    start_timecode: str  # timecode of the new media's first frame
    clip_name: str  # what the result is named after
    context: SourceFrames | None = None  # frames the engine continues from (fill_gap: before the gap)
    after: SourceFrames | None = None  # fill_gap: frames after the gap
    handles: SourceFrames | None = None  # extend: real frames beyond the edit point, in time order
    handles_in_place: bool = False  # handles placed straight from their file, not copied into the new one
    reference: SourceFrames | None = None  # image prompt
    layout: Layout | None = None  # outpaint
    inpaint: InpaintArea | None = None  # inpaint
    media_in: int = 0  # index in the new media of the first frame placed (an overwrite under a transition)
    notes: tuple[str, ...] = ()  # what the editor should know about the result (otio_tools.transitions)

    @property
    def operation(self) -> str:
        return self.request.operation

    @property
    def copied_handles(self) -> int:
        """Real handle frames written into the new media (mixed-rate sources only)."""
        return len(self.handles) if self.handles and not self.handles_in_place else 0

    @property
    def media_frames(self) -> int:
        """Frames in the new media file."""
        return self.make + self.copied_handles

    def placements(self, new_media: str) -> list[Placement]:
        """Where each piece lands, in record order: real handles from their own file, then the new media."""
        if not (self.handles and self.handles_in_place):
            return [Placement(new_media, self.track, self.record_frame, self.media_in, self.frames)]
        count = len(self.handles)
        tail = self.request.side == "tail"
        handles_at = self.record_frame if tail else self.record_frame + self.make
        made_at = self.record_frame + count if tail else self.record_frame
        pieces = [Placement(self.handles.media, self.track, handles_at, self.handles.indices[0], count)]
        if self.make:
            pieces.append(Placement(new_media, self.track, made_at, 0, self.make))
        return sorted(pieces, key=lambda piece: piece.record_frame)


def plan_request(timeline: otio.schema.Timeline, request: Request, media: MediaLookup,
                 context_frames: int = CONTEXT_FRAMES) -> Plan:
    """Check the request against the timeline and plan it; a :class:`RequestError` names any problem.

    ``context_frames``: real frames a side the engine continues from (a model asks for more at
    high timeline rates, where 8 frames are only a couple of its own)."""
    from otio_tools.inpaint import plan_inpaint  # it builds on this module's plan and context

    planner = {"extend": _plan_extend, "fill_gap": _plan_fill_gap, "outpaint": _plan_outpaint,
               "generate": _plan_generate, "inpaint": plan_inpaint}[request.operation]
    return planner(_Context(timeline, request, media, max(1, context_frames)))


class _Context:
    """What every planner needs: the timeline's rate and tracks, and the media lookup."""

    def __init__(self, timeline: otio.schema.Timeline, request: Request, media: MediaLookup,
                 context_frames: int):
        self.timeline = timeline
        self.request = request
        self.media = media
        self.context_frames = context_frames
        self.rate = rate_of(timeline)
        self.start = start_frame(timeline, self.rate)
        self.resolve_export = is_resolve_export(timeline)
        self.video_track_count = len(timeline.video_tracks())

    def items(self, track: int) -> list[TrackItem]:
        return track_items(video_track(self.timeline, track), self.rate)

    def result_track(self, record_frame: int, frames: int) -> int:
        """The track a result over ``[record_frame, record_frame + frames)`` goes on (otio_tools.placement)."""
        return choose_track(self.timeline, self.rate, self.request.track, self.request.placement,
                            record_frame, record_frame + frames)

    def record_timecode(self, record_frame: int) -> str:
        drop = _declared_drop_frame(self.timeline, self.request, self.rate)
        return frame_to_timecode(self.start + record_frame, self.rate, drop)

    def clip_at(self, frame: int) -> tuple[TrackItem, str]:
        """The clip at ``frame`` on the request's track, with a description for messages."""
        track = self.request.track
        items = self.items(track)
        found = item_at(items, frame)
        if found is None:
            raise RequestError("no_clip_at_frame", f"no clip at frame {frame} on {track_label(track)}: "
                                                   f"the track ends at frame {track_end(items)}")
        if found.is_gap:
            raise RequestError("no_clip_at_frame", f"no clip at frame {frame} on {track_label(track)}: "
                                                   f"it is in a {found.describe()}")
        _require_clip(found, track)
        where = f"{found.describe()} on {track_label(track)}"
        _require_enabled(found, where)
        return found, where

    def whole_clip(self, verb: str) -> tuple[TrackItem, str]:
        """The clip at the request's frame, for an operation that makes every frame of it again
        (``verb``: 'outpaint', 'inpaint'), refused when that is more than one job may make."""
        clip, where = self.clip_at(self.request.frame)
        if clip.duration > MAX_FRAMES:
            raise RequestError("too_large", f"{where} is {clip.duration} frames; the most one job may {verb} is "
                                            f"{MAX_FRAMES}")
        return clip, where

    def source(self, clip: TrackItem, where: str) -> tuple[MediaFacts, ClipTime]:
        """Facts about a clip's media and how its record frames map to media frames (speed included)."""
        facts = self.media(media_path(clip.item, where), where)
        first = first_media_frame(clip.item, facts, self.resolve_export, where)
        return facts, clip_time(clip.item, first, clip.duration, facts, self.rate, where)

    def coverage(self, clip: TrackItem, where: str, facts: MediaFacts, timing: ClipTime) -> Coverage:
        """What a result remaking ``clip`` covers beyond its cut, for its placement (otio_tools.transitions)."""
        return coverage(video_track(self.timeline, self.request.track), self.rate, clip, where, timing, facts,
                        self.request.placement == "overwrite")

    def frames_of(self, clip: TrackItem, where: str, offsets: range) -> SourceFrames:
        """The media frames a clip shows at record offsets inside it (all must exist)."""
        facts, timing = self.source(clip, where)
        indices = timing.indices(offsets)
        bad = [i for i in indices if not 0 <= i < facts.frames]
        if bad:
            raise RequestError("source_out_of_media", f"{where} needs media frame {bad[0]} of {facts.path}, "
                                                      f"which has {facts.frames} frames")
        return SourceFrames(facts.path, tuple(indices))

    def source_timecode(self, clip: TrackItem, where: str, offset: int) -> str:
        """The source timecode a record offset inside a clip would show (continuing past its ends).

        At speed 1 the clip's source timecode counts on with the record frames. A retimed clip's
        media frames do not run with the record frames, so there it is the timecode of the media
        frame shown at ``offset`` (reversed: a frame before the span for a tail, after it for a head)."""
        facts, timing = self.source(clip, where)
        drop = is_drop_frame_timecode(facts.start_timecode) and self.rate in DROP_FRAME_RATES
        if timing.speed == 1:
            source_tc = round((facts.timecode_frame() + timing.first) * self.rate / timing.media_rate) + offset
        else:
            source_tc = round((facts.timecode_frame() + timing.index(offset)) * self.rate / timing.media_rate)
        return frame_to_timecode(source_tc, self.rate, drop)


def _require_clip(found: TrackItem, track: int) -> None:
    if isinstance(found.item, otio.schema.Stack):
        raise RequestError("nested_sequence", f"the {found.describe()} on {track_label(track)} is a nested "
                                              "sequence: open it or flatten it, ShotForge works on its clips")
    if not found.is_clip:
        raise RequestError("no_clip_at_frame", f"{found.describe()} on {track_label(track)} is not a clip")


def _require_enabled(found: TrackItem, where: str) -> None:
    """A disabled clip is not seen in the cut: it is no picture to continue from or between."""
    if not found.item.enabled:
        raise RequestError("clip_disabled", f"{where} is disabled: enable it to use it, or choose another clip")


def _plan_extend(ctx: _Context) -> Plan:
    request = ctx.request
    clip, where = ctx.clip_at(request.frame)
    facts, timing = ctx.source(clip, where)
    wanted = request.frames
    tail = request.side == "tail"
    record_frame = clip.end if tail else clip.start - wanted
    if record_frame < 0:
        raise RequestError("before_timeline_start", f"extending the head of {where} by {wanted} frames would "
                                                    f"start {-record_frame} frames before the timeline's first frame")

    # Real handle frames: what the clip would show beyond the edit point at its speed and direction,
    # nearest first, while the file has them.
    beyond = range(clip.duration, clip.duration + wanted) if tail else range(-1, -wanted - 1, -1)
    handle_indices = []
    for index in timing.indices(beyond):
        if not 0 <= index < facts.frames:
            break
        handle_indices.append(index)
    handles_count = len(handle_indices)
    if not tail:
        handle_indices.reverse()  # time order
    handles = SourceFrames(facts.path, tuple(handle_indices)) if handle_indices else None

    # Context: the real frames next to what is made, shot frames and handles together, in time order.
    shown = min(ctx.context_frames, clip.duration)
    edge = range(clip.duration - shown, clip.duration) if tail else range(0, shown)
    context = ctx.frames_of(clip, where, edge)
    joined = context.indices + handles.indices if (tail and handles) else (
        (handles.indices if handles else ()) + context.indices)
    keep = joined[-ctx.context_frames:] if tail else joined[:ctx.context_frames]
    in_place = bool(handles) and timing.plays_as_shot  # else copied: conformed as the clip plays them
    tc_offset = (clip.duration + (handles_count if in_place else 0)) if tail else -wanted
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(record_frame, wanted),
        record_frame=record_frame, frames=wanted, size=(facts.width, facts.height), make=wanted - handles_count,
        start_timecode=ctx.source_timecode(clip, where, tc_offset), clip_name=clip.item.name or "clip",
        context=SourceFrames(facts.path, keep), handles=handles, handles_in_place=in_place,
    )


def _plan_fill_gap(ctx: _Context) -> Plan:
    request = ctx.request
    frame, track = request.frame, request.track
    items = ctx.items(track)
    gap = item_at(items, frame)
    if gap is None:
        raise RequestError("no_gap_at_frame", f"frame {frame} on {track_label(track)} is after the last item "
                                              f"(the track ends at frame {track_end(items)}): there is no clip "
                                              "after it to bridge to")
    if not gap.is_gap:
        empty = [i for i in items if i.is_gap and i.duration == 0 and i.start in (frame, frame + 1)]
        if empty:
            raise RequestError("zero_length_gap", f"the gap at frame {empty[0].start} on {track_label(track)} "
                                                  "has length 0: there are no frames to fill")
        raise RequestError("no_gap_at_frame", f"no gap at frame {frame} on {track_label(track)}: "
                                              f"the {gap.describe()} is there")
    position = items.index(gap)
    before = next((i for i in reversed(items[:position]) if i.duration > 0), None)
    after = next((i for i in items[position + 1:] if i.duration > 0), None)
    span = f"the gap at frames {gap.start}-{gap.end - 1} on {track_label(track)}"
    if before is None or before.is_gap:
        raise RequestError("gap_not_between_clips", f"{span} has no clip before it: use extend (head) on the "
                                                    "clip after it instead")
    if after is None or after.is_gap:
        raise RequestError("gap_not_between_clips", f"{span} has no clip after it: use extend (tail) on the "
                                                    "clip before it instead")
    _require_clip(before, track)
    _require_clip(after, track)
    before_where = f"{before.describe()} on {track_label(track)}"
    after_where = f"{after.describe()} on {track_label(track)}"
    _require_enabled(before, f"{span} is after {before_where}, which")
    _require_enabled(after, f"{span} is before {after_where}, which")
    facts, _ = ctx.source(before, before_where)
    shown_before = min(ctx.context_frames, before.duration)
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(gap.start, gap.duration),
        record_frame=gap.start, frames=gap.duration, size=(facts.width, facts.height), make=gap.duration,
        start_timecode=ctx.record_timecode(gap.start),
        clip_name=f"{before.item.name or 'clip'} to {after.item.name or 'clip'}",
        context=ctx.frames_of(before, before_where, range(before.duration - shown_before, before.duration)),
        after=ctx.frames_of(after, after_where, range(0, min(ctx.context_frames, after.duration))),
    )


def _plan_outpaint(ctx: _Context) -> Plan:
    """Every frame of the clip the viewer sees on the new canvas: its cut and what transitions show
    of it beyond (``otio_tools.transitions``), placed as an inpaint is."""
    request = ctx.request
    clip, where = ctx.whole_clip("outpaint")
    facts, timing = ctx.source(clip, where)
    cover = ctx.coverage(clip, where, facts, timing)
    record_frame, frames, media_in = cover.placed(clip)
    context = ctx.frames_of(clip, where, cover.offsets(clip))
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(record_frame, frames),
        record_frame=record_frame, frames=frames, size=request.canvas, make=len(context), media_in=media_in,
        start_timecode=ctx.source_timecode(clip, where, -cover.head),
        clip_name=clip.item.name or "clip", context=context,
        layout=fit_layout((facts.width, facts.height), request.canvas), notes=cover.notes,
    )


def fit_layout(picture: tuple[int, int], canvas: tuple[int, int]) -> Layout:
    """Scale the picture to fit inside the canvas, aspect kept, centred; even sizes for 4:2:2."""
    (width, height), (canvas_w, canvas_h) = picture, canvas
    scale = min(Fraction(canvas_w, width), Fraction(canvas_h, height))
    inner_w = min(canvas_w, max(2, _even(width * scale)))
    inner_h = min(canvas_h, max(2, _even(height * scale)))
    return Layout(canvas, (inner_w, inner_h), ((canvas_w - inner_w) // 2, (canvas_h - inner_h) // 2))


def _even(size: Fraction) -> int:
    """The nearest even whole number, halves rounded up (never banker's rounding)."""
    return math.floor(size / 2 + Fraction(1, 2)) * 2


def _plan_generate(ctx: _Context) -> Plan:
    request = ctx.request
    first, last = request.range
    reference = None
    if request.reference_frame is not None:
        reference = _reference_frame(ctx, request.reference_frame)
    size = request.canvas or _picture_size(ctx, first) or DEFAULT_SIZE
    return Plan(
        request=request, rate=ctx.rate, track=ctx.result_track(first, last - first), record_frame=first,
        frames=last - first, size=size, make=last - first, start_timecode=ctx.record_timecode(first),
        clip_name="generated", reference=reference,
    )


def _reference_frame(ctx: _Context, frame: int) -> SourceFrames:
    """The frame an editor sees at ``frame``: the topmost enabled clip there, over all video tracks.
    Generated clips (titles, mattes) are overlays with no picture to read, and disabled clips are
    not seen; the clip under them counts."""
    for track in reversed(range(ctx.video_track_count)):
        found = item_at(ctx.items(track), frame)
        if found is not None and found.is_clip and found.item.enabled and \
                not isinstance(found.item.media_reference, otio.schema.GeneratorReference):
            return ctx.frames_of(found, f"{found.describe()} on {track_label(track)}",
                                 range(frame - found.start, frame - found.start + 1))
    raise RequestError("no_clip_at_frame", f"no clip at reference frame {frame} on any video track")


def _picture_size(ctx: _Context, frame: int) -> tuple[int, int] | None:
    """The picture size of the clip on the request's track nearest to ``frame``, if its media is at hand."""
    if ctx.request.track >= ctx.video_track_count:
        return None
    clips = [i for i in ctx.items(ctx.request.track) if i.is_clip]
    for clip in sorted(clips, key=lambda i: min(abs(i.start - frame), abs(i.end - frame))):
        try:
            facts = ctx.media(media_path(clip.item, clip.describe()), clip.describe())
        except RequestError:
            continue
        return facts.width, facts.height
    return None


def _declared_drop_frame(timeline: otio.schema.Timeline, request: Request, rate: Fraction) -> bool:
    """Whether the timeline counts drop-frame timecode: as the request or the export (Final Cut
    Pro's FCP7 XML or FCPXML) says, else DF at 29.97/59.94 (the NTSC broadcast default) and
    non-drop at 119.88 (drop-frame there is rare)."""
    if rate not in DROP_FRAME_RATES:
        return False
    if request.drop_frame is not None:  # the plugins send it
        return request.drop_frame
    # FCP7 XML: <timecode><displayformat>; FCPXML: the sequence's tcFormat (otio_tools.fcpxml)
    fcp_timecode = timeline.metadata.get("fcp_xml", {}).get("timecode", {})
    fcpx = timeline.metadata.get("fcpx_xml", {})
    for display in (fcp_timecode.get("displayformat") if hasattr(fcp_timecode, "get") else None,
                    fcpx.get("tcFormat") if hasattr(fcpx, "get") else None):
        if display in ("DF", "NDF"):
            return display == "DF"
    return rate in DEFAULT_DROP_FRAME_RATES
