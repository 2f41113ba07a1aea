"""What the editor points at, decided on the facts (``facts.read_facts``, PROTOCOL.md), and the
request built from it. Both entries (Python and, through the bridge, Lua) use this one module.

Targeting, in order: the editor's selection (21.0.4+: one selected video clip, or the one of
several under the playhead), the timeline's In/Out marks for Generate (19.1+), a duration
marker (older builds), the playhead. Titles, generators, adjustment, compound and Fusion clips
and transitions are not shots: they are skipped when finding the clip, and transitions never
break a gap. Disabled clips are not shots.

Frames: item facts are absolute record frames (``GetStart()`` is 86400 for a timeline starting
at 01:00:00:00 at 24 fps); In/Out marks and timeline markers count from the timeline's first
frame, the mark Out being the last frame inside (davinci-resolve-mcp #200, #66; see
tests/fake_resolve_timeline.py). ShotForge requests count from the timeline's first frame, so
every frame written into a request is ``absolute - start_frame``.
"""

import json
import os

from . import inpaint
from .atomic import write_json
from .errors import ContextError, ShotForgeError
from .settings import placement_value
from .timecode import (frame_to_timecode, is_drop_frame_rate, parse_rate,
                       seconds_to_frames, timecode_to_frame)

OPERATIONS = ("extend", "fill_gap", "outpaint", "generate", "inpaint")
CANVAS_PRESETS = ("9:16", "1:1", "16:9", "4:3", "custom")
PLACEMENTS = ("auto", "above", "overwrite")
OPERATION_NAMES = {"extend": "Extend", "fill_gap": "Fill gap", "outpaint": "Outpaint", "generate": "Generate B-roll",
                   "inpaint": "Inpaint"}


MAX_SEED = 2 ** 32 - 1


def check_seed(value):
    """A seed as the server takes it: a whole number from 0 to 2**32 - 1."""
    try:
        seed = int(str(value).strip())
    except (TypeError, ValueError):
        raise ContextError("Seed {!r} is not a whole number.".format(value))
    if not 0 <= seed <= MAX_SEED:
        raise ContextError("Seed must be between 0 and {}.".format(MAX_SEED))
    return seed


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int_or_none(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def item_kind(item):
    """What a track item is, from its facts: "transition" (no media, empty properties, as
    Resolve lists transitions), "title" (no media: a title or generator), "no_file" (a media pool
    item without a file: a compound, Fusion or adjustment clip) or "clip" (media from a file)."""
    if not item.get("media"):
        return "transition" if item.get("props_empty") else "title"
    return "clip" if item.get("file") else "no_file"


def is_shot(item):
    """A clip ShotForge can work on: media from a file, enabled."""
    return item_kind(item) == "clip" and item.get("enabled") is not False


def why_not_a_shot(item, track):
    """A sentence naming the item and why it is not a shot."""
    name = "'{}' on V{}".format(item.get("name") or "item", track)
    kind = item_kind(item)
    if kind == "transition":
        return "{} is a transition".format(name)
    if kind == "title":
        return "{} is a title or generator (no media)".format(name)
    if kind == "no_file":
        return ("{} has no media file (a compound, Fusion or adjustment clip; decompose a compound "
                "clip in place to work on what is inside)".format(name))
    return "{} is disabled (enable it to use it)".format(name)


class TimelineInfo(object):
    """The current timeline, from the facts: rate, start, playhead, tracks and their items."""

    def __init__(self, facts):
        facts = facts or {}
        if not facts.get("project"):
            raise ContextError("No project is open in Resolve.")
        tl = facts.get("timeline")
        if not tl:
            raise ContextError("No timeline is open: open the timeline to work on in the Edit page.")
        self.facts = facts
        self.timeline = tl
        self.version = tuple(_int_or_none(part) or 0 for part in (facts.get("version") or [])[:3])
        self.id = tl.get("id") or ""
        self.name = tl.get("name") or "Timeline"
        rate_text = tl.get("rate")
        try:
            self.rate = parse_rate(rate_text)
        except ValueError as exc:
            raise ContextError("Cannot read the timeline's frame rate: {}".format(exc))
        self.drop_frame = is_drop_frame_rate(self.rate) and (
            _truthy(tl.get("drop_frame")) or "DF" in str(rate_text).upper().replace("NDF", ""))
        self.start_frame = int(tl.get("start_frame") or 0)
        self.start_timecode = tl.get("start_timecode") or frame_to_timecode(self.start_frame, self.rate,
                                                                            self.drop_frame)
        self.width = _int_or_none(tl.get("width"))
        self.height = _int_or_none(tl.get("height"))
        self.tracks = list(tl.get("video_tracks") or [])
        self.video_tracks = len(self.tracks)
        self.audio = list(tl.get("audio_tracks") or [])
        self.audio_tracks = len(self.audio)
        playhead_tc = tl.get("playhead")
        try:
            self.playhead_abs = timecode_to_frame(playhead_tc, self.rate, True if self.drop_frame else None)
        except ValueError as exc:
            raise ContextError("Cannot read the playhead position {!r}: {}".format(playhead_tc, exc))
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

    def items(self, track, kind="video"):
        """Every item on 1-based video (or ``kind`` "audio") ``track`` (transitions and titles too)
        as (start, end, item facts), record frames absolute, sorted by start."""
        tracks = self.audio if kind == "audio" else self.tracks
        if not 0 < track <= len(tracks):
            return []
        rows = [(int(item["start"]), int(item["end"]), item) for item in tracks[track - 1].get("items") or []
                if item.get("id") and item.get("start") is not None and item.get("end") is not None]
        rows.sort(key=lambda row: row[0])
        return rows

    def item_at(self, track, absolute):
        """The item (not a transition) on ``track`` covering the absolute frame, or None."""
        for start, end, item in self.items(track):
            if start <= absolute < end and item_kind(item) != "transition":
                return start, end, item
        return None

    def find_item(self, item_id):
        """(track, start, end, item facts) of the video item with ``item_id``, or None."""
        for track in range(1, self.video_tracks + 1):
            for start, end, item in self.items(track):
                if item["id"] == item_id:
                    return track, start, end, item
        return None


class Target(object):
    """What the request points at, in ShotForge timeline frames (0 = the timeline's first frame).

    ``source`` says how the editor pointed at it: "selection", "playhead", "marks", "marker" or
    "length"."""

    def __init__(self, operation, track, frame=None, range=None, clip=None, gap=None, source="playhead",
                 info=None):
        self.operation = operation
        self.track = track          # 0-based video track index (as in the request)
        self.frame = frame
        self.range = range
        self.clip = clip            # dict (see _clip_dict) for extend/outpaint
        self.gap = gap              # (start, end) for fill_gap
        self.source = source
        self.info = info


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
    return {
        "id": item["id"], "name": item.get("name") or os.path.basename(item["file"]) or "clip",
        "path": item["file"], "track": track, "media_id": item.get("media_id") or "",
        "start": info.rel(start), "end": info.rel(end),
        "left": _int_or_none(item.get("left_offset")) or 0,
        "right": _int_or_none(item.get("right_offset")) or 0,
        "resolution": item.get("resolution") or "", "fps": item.get("fps") or "",
    }


def _selected_clip(info, track, verb):
    """The selected clip (21.0.4+), or None when nothing usable is selected."""
    selected = info.timeline.get("selected")
    if not selected:
        return None
    found = [info.find_item(item_id) for item_id in selected]
    shots = [row for row in found if row and is_shot(row[3]) and (track is None or row[0] == track)]
    if len(shots) == 1:
        return shots[0]
    under = [row for row in shots if row[1] <= info.playhead_abs < row[2]]
    if len(under) == 1:
        return under[0]
    if not shots:
        return None
    names = ", ".join("'{}' on V{}".format(row[3].get("name"), row[0]) for row in shots)
    raise ContextError("{} clips are selected ({}): select the one clip to {}, or park the playhead "
                       "on it.".format(len(shots), names, verb))


def find_clip(info, options, verb):
    """The clip to work on: the selected one, else the one under the playhead (on the chosen
    track, or the topmost shot under it)."""
    track = _track_number(options, info)
    selected = _selected_clip(info, track, verb)
    if selected:
        number, start, end, item = selected
        return _clip_dict(info, number, start, end, item), "selection"
    where = info.tc(info.playhead)
    if track is not None:
        found = info.item_at(track, info.playhead_abs)
        if found is None:
            raise ContextError(
                "No clip under the playhead on V{} ({}). Park the playhead on the clip to {}, "
                "or choose its track.".format(track, where, verb))
        if not is_shot(found[2]):
            raise ContextError("The playhead ({}) is on {}: ShotForge works on clips from media "
                               "files. Choose the clip's track or 'auto'.".format(where, why_not_a_shot(found[2], track)))
        return _clip_dict(info, track, found[0], found[1], found[2]), "playhead"
    skipped = []
    for number in range(info.video_tracks, 0, -1):
        found = info.item_at(number, info.playhead_abs)
        if found is None:
            continue
        if is_shot(found[2]):
            return _clip_dict(info, number, found[0], found[1], found[2]), "playhead"
        skipped.append(why_not_a_shot(found[2], number))
    raise ContextError("No clip under the playhead ({}){}. Park the playhead on the clip to {}.".format(
        where, ": " + "; ".join(skipped) if skipped else "", verb))


def find_gap(info, options):
    """The gap under the playhead, between two items on one track (transitions ignored: a gap
    with a transition at one side is still the gap between the two clips)."""
    track = _track_number(options, info)
    where = info.tc(info.playhead)
    tracks = [track] if track is not None else list(range(info.video_tracks, 0, -1))
    reasons = []
    for number in tracks:
        rows = [row for row in info.items(number) if item_kind(row[2]) != "transition"]
        on = [row for row in rows if row[0] <= info.playhead_abs < row[1]]
        if on:
            reasons.append("the playhead is on '{}' on V{}, not in a gap".format(on[0][2].get("name"), number))
            continue
        before = [row for row in rows if row[1] <= info.playhead_abs]
        after = [row for row in rows if row[0] > info.playhead_abs]
        if not before or not after:
            side = "before" if not before else "after"
            reasons.append("on V{} there is no clip {} the playhead".format(number, side))
            continue
        gap_start, gap_end = max(row[1] for row in before), min(row[0] for row in after)
        return number, info.rel(gap_start), info.rel(gap_end)
    raise ContextError(
        "The playhead ({}) is not in a gap between two clips: {}. Park it in the empty space "
        "between two clips on one track.".format(where, "; ".join(reasons)))


def _duration_marker(info):
    """The [in, out) of the duration marker under the playhead (or the only one), or None."""
    spans = []
    for frame_id, marker in (info.timeline.get("markers") or {}).items():
        duration = _int_or_none((marker or {}).get("duration")) or 0
        if duration > 1:
            first = int(round(float(frame_id)))  # timeline markers count from the timeline's start
            spans.append((first, first + duration))
    covering = [span for span in spans if span[0] <= info.playhead < span[1]]
    if covering:
        return max(covering)  # the innermost: the one starting last
    return spans[0] if len(spans) == 1 else None


def find_range(info, options):
    """The [in, out) range for Generate and where it came from: the timeline's In/Out marks
    (19.1+), else a duration marker, else the playhead plus the length set in the dialog.
    ``generate_range`` "length" always takes the playhead plus the length."""
    if options.get("generate_range", "marker") != "length":
        marks = info.timeline.get("marks")
        video = (marks or {}).get("video") or {}
        if "in" in video and "out" in video:
            first, last = int(video["in"]), int(video["out"]) + 1  # Out is the last frame inside
            if last <= first:
                raise ContextError("The timeline's Out mark ({}) is before its In mark ({}).".format(
                    info.tc(last - 1), info.tc(first)))
            return first, last, "marks"
        if "in" in video or "out" in video:
            which = "Out" if "in" in video else "In"
            raise ContextError("Only one of the timeline's In/Out marks is set: mark {} too (or clear "
                               "both to generate from the playhead).".format(which))
        span = _duration_marker(info)
        if span:
            return span[0], span[1], "marker"
    frames = length_frames(options, info)
    return info.playhead, info.playhead + frames, "length"


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
    if operation in ("extend", "outpaint", "inpaint"):
        clip, source = find_clip(info, options, operation)
        inside = clip["start"] <= info.playhead < clip["end"]
        return Target(operation, clip["track"] - 1, frame=info.playhead if inside else clip["start"], clip=clip,
                      source=source, info=info)
    if operation == "fill_gap":
        track, start, end = find_gap(info, options)
        return Target(operation, track - 1, frame=info.playhead, gap=(start, end), info=info)
    first, last, source = find_range(info, options)
    if first < 0:
        raise ContextError("The range starts before the timeline's first frame.")
    track = _track_number(options, info)
    if track is None:
        track = info.video_tracks  # the top track: auto placement goes above it when it is taken
    return Target(operation, track - 1, range=(first, last), source=source, info=info)


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
    if operation == "inpaint":
        meta.update(inpaint.inpaint_fields(options, target.clip))
    meta["prompt"] = str(options.get("prompt") or "")
    meta["negative_prompt"] = str(options.get("negative_prompt") or "")
    meta["seed"] = check_seed(options.get("seed") or 0)
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
    placement = options.get("placement")
    meta["placement"] = placement_value(placement)
    if meta["placement"] not in PLACEMENTS:
        raise ContextError("Placement {!r} must be one of {}.".format(placement, ", ".join(PLACEMENTS)))
    return meta


_SOURCES = {"selection": " (selected)", "marks": ", the In/Out marks", "marker": ", the duration marker",
            "length": ", from the playhead"}


def describe(info, target, meta):
    """One line saying what will be done where, in the editor's words."""
    name = OPERATION_NAMES[meta["operation"]]
    if meta["operation"] == "extend":
        name += " {} by {} frames".format(meta["side"], meta["frames"])
    if meta["operation"] == "generate":
        first, last = meta["range"]
        where = "{} to {} ({} frames{})".format(info.tc(first), info.tc(last), last - first,
                                               _SOURCES.get(target.source, ""))
    else:
        where = "at {}".format(info.tc(meta["frame"]))
    what = ""
    if target.clip:
        what = " on '{}'{}".format(target.clip["name"], _SOURCES["selection"] if target.source == "selection" else "")
        if meta["operation"] == "inpaint":
            what += inpaint.describe(meta)
    elif target.gap:
        what = " in the {}-frame gap".format(target.gap[1] - target.gap[0])
    return "{}{} on V{} {}".format(name, what, meta["track"] + 1, where)


def target_state(target):
    """What a request was made on, to check again before its result is placed: the timeline's
    video track count and the clip (extend, outpaint) or the two clips around the gap (fill gap),
    each ``{id, name, track, start, end, left_offset}`` (absolute record frames)."""
    info = target.info
    rows = []
    if target.clip:
        found = info.find_item(target.clip["id"])
        rows = [found] if found else []
    elif target.gap:
        track = target.track + 1
        first, last = info.absolute(target.gap[0]), info.absolute(target.gap[1])
        rows = [(track, start, end, item) for start, end, item in info.items(track)
                if item_kind(item) != "transition" and (end == first or start == last)]
    return {"tracks": info.video_tracks,
            "clips": [{"id": item["id"], "name": item.get("name") or "clip", "track": track, "start": start,
                       "end": end, "left_offset": _int_or_none(item.get("left_offset")) or 0}
                      for track, start, end, item in rows]}


def target_changes(facts, state):
    """None when the timeline still shows what the request was made on (``target_state``); else
    what changed, in words."""
    info = TimelineInfo(facts)
    if info.video_tracks != state.get("tracks"):
        return "it has {} video tracks now, not {}".format(info.video_tracks, state.get("tracks"))
    for clip in state.get("clips") or []:
        found = info.find_item(clip["id"])
        if found is None:
            return "'{}' is no longer on it".format(clip["name"])
        track, start, end, item = found
        left = _int_or_none(item.get("left_offset")) or 0
        if (track, start, end, left) != (clip["track"], clip["start"], clip["end"], clip["left_offset"]):
            return "'{}' was moved, trimmed or slipped: it is on V{} from {} to {} now, not V{} from {} to {}".format(
                clip["name"], track, info.tc(info.rel(start)), info.tc(info.rel(end)), clip["track"],
                info.tc(info.rel(clip["start"])), info.tc(info.rel(clip["end"])))
    return None


def prepare(facts, options):
    """(description, meta, target) for ``options`` on the timeline the facts describe; raises
    ContextError with what to do when the timeline does not fit the operation."""
    info = TimelineInfo(facts)
    target = read_target(info, options)
    meta = build_metadata(info, target, options)
    return describe(info, target, meta), meta, target


def add_request_metadata(export_path, meta):
    """Write ``meta`` into ``metadata.shotforge`` of the OTIO file Resolve exported (the entry calls
    ``Timeline.Export`` itself). Returns (path, the request as a dict)."""
    path = export_path
    if not os.path.isfile(path):
        raise ShotForgeError("Resolve did not write the OTIO export {}.".format(path), code="export_failed")
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
    write_json(path, data)
    return path, data
