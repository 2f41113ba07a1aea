"""Read what the editor points at on the current Resolve timeline, and turn it into a request.

Only calls listed in the project's Resolve API reference are used. Frames: Resolve counts
timeline frames absolutely (``GetStartFrame()`` is 86400 for a timeline starting at 01:00:00:00
at 24 fps); ShotForge requests count from the timeline's first frame, so every frame written
into a request is ``absolute - GetStartFrame()``.
"""

import os

from .errors import ContextError, ShotForgeError
from .timecode import (frame_to_timecode, is_drop_frame_rate, parse_rate, rate_label,
                       seconds_to_frames, timecode_to_frame)

OPERATIONS = ("extend", "fill_gap", "outpaint", "generate")
CANVAS_PRESETS = ("9:16", "1:1", "16:9", "4:3", "custom")
DEFAULT_PLACEMENT = {"extend": "overwrite", "fill_gap": "overwrite", "outpaint": "above", "generate": "above"}
OPERATION_NAMES = {"extend": "Extend", "fill_gap": "Fill gap", "outpaint": "Outpaint", "generate": "Generate B-roll"}


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class TimelineInfo(object):
    """The current timeline, read once: rate, start, playhead, tracks."""

    def __init__(self, resolve):
        self.resolve = resolve
        manager = resolve.GetProjectManager()
        self.project = manager.GetCurrentProject() if manager else None
        if not self.project:
            raise ContextError("No project is open in Resolve.")
        self.timeline = self.project.GetCurrentTimeline()
        if not self.timeline:
            raise ContextError("No timeline is open: open the timeline to work on in the Edit page.")
        tl = self.timeline
        self.name = tl.GetName() or "Timeline"
        rate_text = tl.GetSetting("timelineFrameRate")
        try:
            self.rate = parse_rate(rate_text)
        except ValueError as exc:
            raise ContextError("Cannot read the timeline's frame rate: {}".format(exc))
        df_setting = tl.GetSetting("timelineDropFrameTimecode")
        self.drop_frame = is_drop_frame_rate(self.rate) and (
            _truthy(df_setting) or "DF" in str(rate_text).upper().replace("NDF", ""))
        self.start_frame = int(tl.GetStartFrame())
        self.start_timecode = tl.GetStartTimecode() or frame_to_timecode(self.start_frame, self.rate,
                                                                       self.drop_frame)
        self.width = _int_or_none(tl.GetSetting("timelineResolutionWidth"))
        self.height = _int_or_none(tl.GetSetting("timelineResolutionHeight"))
        self.video_tracks = int(tl.GetTrackCount("video") or 0)
        playhead_tc = tl.GetCurrentTimecode()
        try:
            self.playhead_abs = timecode_to_frame(playhead_tc, self.rate,
                                                  True if self.drop_frame else None)
        except ValueError as exc:
            raise ContextError("Cannot read the playhead position {!r}: {}".format(playhead_tc, exc))
        self.playhead_timecode = playhead_tc
        self.playhead = self.playhead_abs - self.start_frame

    # -- helpers ---------------------------------------------------------------------------
    def rel(self, absolute):
        """An absolute Resolve frame as a ShotForge timeline frame (0 = the first frame)."""
        return int(absolute) - self.start_frame

    def absolute(self, rel):
        return int(rel) + self.start_frame

    def tc(self, rel):
        """Timecode of a ShotForge timeline frame, for messages."""
        return frame_to_timecode(self.absolute(rel), self.rate, self.drop_frame)

    def items(self, track):
        """Video items on 1-based ``track`` as (start, end, item), record frames absolute, sorted."""
        result = []
        for item in self.timeline.GetItemListInTrack("video", track) or []:
            if item is None:
                continue
            result.append((int(item.GetStart()), int(item.GetEnd()), item))
        result.sort(key=lambda row: row[0])
        return result

    def item_at(self, track, absolute):
        for start, end, item in self.items(track):
            if start <= absolute < end:
                return start, end, item
        return None

    def describe(self):
        return "{} ({} fps{}, starts {})".format(self.name, rate_label(self.rate),
                                                 " DF" if self.drop_frame else "", self.start_timecode)


class Target(object):
    """What the request points at, in ShotForge timeline frames (0 = the timeline's first frame)."""

    def __init__(self, operation, track, frame=None, range=None, clip=None, gap=None):
        self.operation = operation
        self.track = track          # 0-based video track index (as in the request)
        self.frame = frame
        self.range = range
        self.clip = clip            # dict(name, path, start, end, left, right) for extend/outpaint
        self.gap = gap              # (start, end) for fill_gap


def _int_or_none(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _track_number(options, info):
    """The chosen 1-based track, or None for 'auto'."""
    value = options.get("track", "auto")
    if value in (None, "", "auto", "Auto"):
        return None
    text = str(value).strip().upper()
    if text.startswith("V"):
        text = text[1:]
    try:
        number = int(text)
    except ValueError:
        raise ContextError("Track {!r} is not a video track number (V1, V2, …).".format(value))
    if number < 1 or number > info.video_tracks:
        raise ContextError("The timeline has {} video track{}; there is no V{}.".format(
            info.video_tracks, "" if info.video_tracks == 1 else "s", number))
    return number


def _clip_dict(info, track, start, end, item):
    media = item.GetMediaPoolItem()
    path = media.GetClipProperty("File Path") if media else ""
    name = item.GetName() or (media.GetName() if media else "") or "clip"
    if not path:
        raise ContextError(
            "'{}' on V{} has no media file (a title, generator, compound or Fusion clip). "
            "ShotForge works on video clips from files.".format(name, track))
    return {
        "name": name, "path": path, "track": track,
        "start": info.rel(start), "end": info.rel(end),
        "left": _int_or_none(item.GetLeftOffset()) or 0,
        "right": _int_or_none(item.GetRightOffset()) or 0,
        "resolution": media.GetClipProperty("Resolution") if media else "",
        "item": item, "media_pool_item": media,
    }


def find_clip(info, options, verb):
    """The clip under the playhead on the chosen track (or the topmost one under it)."""
    track = _track_number(options, info)
    where = info.tc(info.playhead)
    if track is None:
        item = info.timeline.GetCurrentVideoItem()
        found = None
        if item is not None:
            kind_index = item.GetTrackTypeAndIndex() or []
            if len(kind_index) >= 2 and str(kind_index[0]).lower() == "video":
                track = int(kind_index[1])
                start, end = int(item.GetStart()), int(item.GetEnd())
                if start <= info.playhead_abs < end:
                    found = (start, end, item)
        if found is None:  # fall back to the topmost track with a clip under the playhead
            for number in range(info.video_tracks, 0, -1):
                found = info.item_at(number, info.playhead_abs)
                if found:
                    track = number
                    break
        if found is None:
            raise ContextError(
                "No clip under the playhead ({}). Park the playhead on the clip to {}.".format(where, verb))
    else:
        found = info.item_at(track, info.playhead_abs)
        if found is None:
            raise ContextError(
                "No clip under the playhead on V{} ({}). Park the playhead on the clip to {}, "
                "or choose its track.".format(track, where, verb))
    start, end, item = found
    return _clip_dict(info, track, start, end, item)


def find_gap(info, options):
    """The gap under the playhead, between two clips on one track."""
    track = _track_number(options, info)
    where = info.tc(info.playhead)
    tracks = [track] if track is not None else list(range(info.video_tracks, 0, -1))
    reasons = []
    for number in tracks:
        rows = info.items(number)
        on = [row for row in rows if row[0] <= info.playhead_abs < row[1]]
        if on:
            reasons.append("the playhead is on '{}' on V{}, not in a gap".format(on[0][2].GetName(), number))
            continue
        before = [row for row in rows if row[1] <= info.playhead_abs]
        after = [row for row in rows if row[0] > info.playhead_abs]
        if not before or not after:
            side = "before" if not before else "after"
            reasons.append("on V{} there is no clip {} the playhead".format(number, side))
            continue
        gap_start, gap_end = max(row[1] for row in before), min(row[0] for row in after)
        return number, info.rel(gap_start), info.rel(gap_end)
    if not tracks:
        reasons.append("the timeline has no video tracks")
    raise ContextError(
        "The playhead ({}) is not in a gap between two clips: {}. Park it in the empty space "
        "between two clips on one track.".format(where, "; ".join(reasons)))


def find_range(info, options):
    """The [in, out) range for generate: a duration marker under the playhead, or playhead + length.

    Resolve's scripting API (this README version) has no call that returns the timeline's In/Out
    marks, so the range is a duration marker (mark In and Out, then add a marker: it spans the
    range) or the playhead plus the length set in the dialog.
    """
    mode = options.get("generate_range", "marker")
    if mode == "length":
        frames = length_frames(options, info)
        return info.playhead, info.playhead + frames
    markers = info.timeline.GetMarkers() or {}
    spans = []
    for frame_id, marker in markers.items():
        duration = _int_or_none((marker or {}).get("duration")) or 0
        if duration > 1:
            first = int(round(float(frame_id)))  # timeline markers count from the timeline's start
            spans.append((first, first + duration))
    covering = [span for span in spans if span[0] <= info.playhead < span[1]]
    if covering:
        return max(covering)  # the innermost: the one starting last
    if len(spans) == 1:
        return spans[0]
    raise ContextError(
        "No In/Out range for Generate: mark In and Out on the timeline and add a marker (M) so it "
        "spans the range, with the playhead inside it, or choose 'From playhead' and a length.")


def length_frames(options, info):
    value = options.get("length", 48)
    unit = options.get("length_unit", "frames")
    try:
        if unit == "seconds":
            frames = seconds_to_frames(value, info.rate)
        else:
            frames = int(str(value).strip())
    except (TypeError, ValueError):
        raise ContextError("Length {!r} is not a number of {}.".format(value, unit))
    if frames < 1:
        raise ContextError("Length must be at least one frame (got {} {}).".format(value, unit))
    return frames


def canvas_for(options, source_size):
    """Output [width, height] for an outpaint preset, keeping the source's short side."""
    preset = options.get("canvas_preset", "9:16")
    if preset == "custom":
        try:
            width, height = int(options.get("canvas_width")), int(options.get("canvas_height"))
        except (TypeError, ValueError):
            raise ContextError("Custom canvas needs a width and a height in pixels.")
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise ContextError("Custom canvas {}x{} must be even numbers of pixels, at least 16.".format(
                width, height))
        return [width, height]
    if preset not in CANVAS_PRESETS:
        raise ContextError("Canvas preset {!r} is not one of {}.".format(preset, ", ".join(CANVAS_PRESETS)))
    aspect_w, aspect_h = (int(part) for part in preset.split(":"))
    if not source_size or not source_size[0] or not source_size[1]:
        raise ContextError("Cannot tell the clip's size for the outpaint canvas; choose a custom canvas.")
    short = min(source_size)

    def even(value):
        return int(2 * round(value / 2.0))

    if aspect_w <= aspect_h:
        return [even(short), even(short * aspect_h / float(aspect_w))]
    return [even(short * aspect_w / float(aspect_h)), even(short)]


def _size(resolution, info):
    text = str(resolution or "").lower().replace(" ", "")
    if "x" in text:
        parts = text.split("x")
        try:
            return int(parts[0]), int(parts[1])
        except ValueError:
            pass
    return (info.width, info.height) if info.width and info.height else None


def read_target(info, options):
    """Check the timeline fits the operation and say where: clip, gap or range."""
    operation = options.get("operation")
    if operation not in OPERATIONS:
        raise ContextError("Operation {!r} is not one of {}.".format(operation, ", ".join(OPERATIONS)))
    if info.video_tracks < 1:
        raise ContextError("The timeline has no video tracks.")
    if operation in ("extend", "outpaint"):
        verb = "extend" if operation == "extend" else "outpaint"
        clip = find_clip(info, options, verb)
        return Target(operation, clip["track"] - 1, frame=info.playhead, clip=clip)
    if operation == "fill_gap":
        track, start, end = find_gap(info, options)
        return Target(operation, track - 1, frame=info.playhead, gap=(start, end))
    first, last = find_range(info, options)
    if first < 0:
        raise ContextError("The range starts before the timeline's first frame.")
    track = _track_number(options, info)
    if track is None:
        track = info.video_tracks  # above: over everything; overwrite: the top track
    return Target(operation, track - 1, range=(first, last))


def build_metadata(info, target, options):
    """``metadata.shotforge`` for the request, per DESIGN.md."""
    operation = target.operation
    meta = {"version": 1, "operation": operation, "track": target.track}
    if operation == "generate":
        meta["range"] = [int(target.range[0]), int(target.range[1])]
    else:
        meta["frame"] = int(target.frame)
    if operation == "extend":
        side = options.get("side", "tail")
        if side not in ("head", "tail"):
            raise ContextError("Extend side {!r} must be head or tail.".format(side))
        meta["side"] = side
        meta["frames"] = length_frames(options, info)
    if operation == "outpaint":
        meta["canvas"] = canvas_for(options, _size(target.clip.get("resolution"), info))
    meta["prompt"] = str(options.get("prompt") or "")
    meta["negative_prompt"] = str(options.get("negative_prompt") or "")
    try:
        seed = int(options.get("seed") or 0)
    except (TypeError, ValueError):
        raise ContextError("Seed {!r} is not a whole number.".format(options.get("seed")))
    if seed < 0 or seed > 2 ** 32 - 1:
        raise ContextError("Seed must be between 0 and 4294967295.")
    meta["seed"] = seed
    reference = options.get("reference", "none")
    if reference == "playhead":
        if info.playhead < 0:
            raise ContextError("The playhead is before the timeline's first frame.")
        meta["reference_frame"] = int(info.playhead)
    elif reference == "still":
        still = str(options.get("reference_image") or "")
        if not still or not os.path.isfile(still):
            raise ContextError("Reference still {!r} is not a file.".format(still))
        meta["reference_image"] = os.path.abspath(still)  # an engine option (metadata extra)
    meta["engine"] = options.get("engine") or "auto"
    placement = options.get("placement") or "default"
    meta["placement"] = DEFAULT_PLACEMENT[operation] if placement == "default" else placement
    if meta["placement"] not in ("overwrite", "above"):
        raise ContextError("Placement {!r} must be overwrite or above.".format(placement))
    return meta


def export_request(info, meta, folder):
    """Export the timeline with Resolve's OTIO exporter and write ``meta`` into its metadata.

    Returns (path of the request .otio, the request as a dict). Nothing on the timeline changes.
    """
    import json

    if not os.path.isdir(folder):
        os.makedirs(folder)
    path = os.path.join(folder, "shotforge_request.otio")
    if os.path.exists(path):
        os.remove(path)
    constant = getattr(info.resolve, "EXPORT_OTIO", None)
    if constant is None:
        raise ShotForgeError("This Resolve has no OTIO export (resolve.EXPORT_OTIO): ShotForge "
                             "needs DaVinci Resolve 18.5 or later.", code="no_otio_export")
    ok = info.timeline.Export(path, constant)
    if not ok or not os.path.isfile(path):
        raise ShotForgeError("Resolve could not export the timeline '{}' as OTIO to {}.".format(
            info.name, path), code="export_failed")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except ValueError as exc:
            raise ShotForgeError("Resolve's OTIO export {} is not readable JSON: {}".format(path, exc),
                                 code="export_failed")
    if not isinstance(data, dict) or not str(data.get("OTIO_SCHEMA", "")).startswith("Timeline."):
        raise ShotForgeError("Resolve's export {} is not an OTIO timeline.".format(path), code="export_failed")
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        data["metadata"] = metadata
    metadata["shotforge"] = meta
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)
    return path, data
