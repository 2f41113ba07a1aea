"""Where a job's clips go on the Resolve timeline: ``plan_steps`` is pure (facts and the server's
placements in, PROTOCOL.md steps out); ``executor.execute`` carries the steps out.

Measured Resolve (resolve_api_notes.md): ``AppendToTimeline`` never overwrites (an append over an
occupied range is dropped, sometimes returning an item with an empty id), so a result goes only
into free space; ``endFrame`` is exclusive on 19+ (inclusive on 18.x); ``DeleteClips`` works on
the Edit page only.
"""

import json
import os

from .context import PLACEMENTS, TimelineInfo, item_kind
from .errors import OverwriteNeedsConfirmation, PlacementError
from .timecode import parse_rate

BIN_NAME = "ShotForge"
#: One clip colour per operation (each one of the 16 names SetClipColor accepts), so a result's
#: kind shows on the timeline at a glance.
OPERATION_COLORS = {"extend": "Teal", "fill_gap": "Lime", "outpaint": "Violet", "generate": "Orange",
                    "inpaint": "Pink"}
OPERATION_WORDS = {"fill_gap": "fill gap"}  # the others are their own word
MARKER_COLOR = "Cyan"  # a marker colour name (a different set from the clip colours)
MARKER_PREFIX = "shotforge:"


# ----------------------------------------------------------------------------- placements
def _plain_int(value, what):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlacementError("placement {} {!r} is not a whole number".format(what, value))
    return value


def media_path(media):
    """A placement's ``media`` as a local path (``file://`` URLs decoded)."""
    if isinstance(media, str) and media.startswith("file://"):
        from urllib.parse import unquote, urlsplit
        media = unquote(urlsplit(media).path)
        if os.name == "nt" and media.startswith("/") and media[2:3] == ":":
            media = media[1:]
    return media


def check_placements(placements):
    """Validate the server's placements before anything touches the timeline."""
    if not isinstance(placements, list) or not placements:
        raise PlacementError("The job finished but returned no placements: nothing to put on the timeline.")
    checked = []
    for number, raw in enumerate(placements, 1):
        if not isinstance(raw, dict):
            raise PlacementError("placement {} is not an object: {!r}".format(number, raw))
        media = media_path(raw.get("media"))
        if not media or not isinstance(media, str):
            raise PlacementError("placement {} names no media file".format(number))
        if not os.path.isfile(media):
            raise PlacementError("The result file {} does not exist on this machine (is the server "
                                 "writing to a folder Resolve can read?)".format(media))
        item = dict((key, _plain_int(raw.get(key, 0 if key == "source_in" else None), key))
                    for key in ("track", "record_frame", "source_in", "frames"))
        item["media"] = media
        item["audio_track"] = None if raw.get("audio_track") is None else _plain_int(raw["audio_track"], "audio_track")
        if item["track"] < 0 or item["record_frame"] < 0 or item["source_in"] < 0 or item["frames"] < 1 or (
                item["audio_track"] is not None and item["audio_track"] < 0):
            raise PlacementError("placement {} is out of range: {!r}".format(number, raw))
        checked.append(item)
    return checked


# ----------------------------------------------------------------------------- facts
class Facts(TimelineInfo):
    """The facts (PROTOCOL.md) as the planner reads them: record frames absolute, tracks 1-based,
    each item's facts with its ``track`` added."""

    def __init__(self, facts):
        TimelineInfo.__init__(self, facts)
        self.count = self.video_tracks

    def at(self, absolute):
        """Timecode of an absolute record frame."""
        return self.tc(self.rel(absolute))

    def track_items(self, track, kind="video"):
        """The item facts on 1-based ``track`` of ``kind``, each with its ``track`` (and
        ``track_type`` "audio" on an audio track)."""
        extra = {"track_type": "audio"} if kind == "audio" else {}
        return [dict(item, track=track, **extra) for _start, _end, item in self.items(track, kind)]

    def find(self, item_id):
        """The facts of the item with ``item_id`` on any video or audio track (``track_items``), or None."""
        for kind, count in (("video", self.count), ("audio", self.audio_tracks)):
            for track in range(1, count + 1):
                for item in self.track_items(track, kind):
                    if item["id"] == item_id:
                        return item
        return None

    def end_exclusive(self):
        """``endFrame`` counts exclusively on 19 and later (measured); inclusive on 18.x."""
        return not self.version or self.version[0] == 0 or self.version[0] >= 19

    def clip_words(self, item):
        return "'{}' on {} ({} to {})".format(item.get("name") or "clip", track_words(item), self.at(item["start"]),
                                              self.at(item["end"]))


def track_words(item):
    """"V2" or "A1": the track of item facts (or a placed item) in the editor's words."""
    return "{}{}".format("A" if item.get("track_type") == "audio" else "V", item["track"])


def _overlaps(first, last, item):
    return int(item["start"]) < last and int(item["end"]) > first


def _subtract(span, cuts):
    """The parts of ``span`` (first, last) outside every range in ``cuts``."""
    parts = [span]
    for cut_first, cut_last in cuts:
        parts = [piece for first, last in parts
                 for piece in ((first, min(last, cut_first)), (max(first, cut_last), last)) if piece[0] < piece[1]]
    return parts


# ----------------------------------------------------------------------------- steps
def append_step(facts, media, track, record, source_in, frames, role, what, kind="video"):
    """An ``append`` step: ``frames`` frames of ``media`` from index ``source_in`` at absolute
    ``record`` on 1-based ``track``: its picture only (``mediaType`` 1) on a video track, or with
    ``kind`` "audio" its sound only (``mediaType`` 2) on an audio track."""
    end = source_in + frames if facts.end_exclusive() else source_in + frames - 1
    step = {"op": "append", "role": role, "media": media, "what": what,
            "clip_info": {"startFrame": int(source_in), "endFrame": int(end), "trackIndex": int(track),
                          "recordFrame": int(record), "mediaType": 2 if kind == "audio" else 1},
            "expect": {"track": int(track), "start": int(record), "duration": int(frames),
                       "left_offset": int(source_in)}}
    if kind == "audio":
        step["expect"]["track_type"] = "audio"
    return step


def take_name(operation, take_number):
    return "ShotForge {} take {}".format(OPERATION_WORDS.get(operation, operation), int(take_number))


def take_marker(take):
    """The marker a result carries: its recipe as JSON in customData, and in words in the note."""
    recipe = dict((key, take.get(key)) for key in ("job", "take", "operation", "engine", "model", "prompt",
                                                    "seed"))
    note = "ShotForge {} take {}: job {}, engine {}{}, seed {}, prompt: {}".format(
        OPERATION_WORDS.get(take.get("operation"), take.get("operation")), take.get("take"), take.get("job"),
        take.get("engine") or "?", " ({})".format(take["model"]) if take.get("model") else "", take.get("seed"),
        take.get("prompt") or "(none)")
    return {"frame": 0, "color": MARKER_COLOR, "name": take_name(take.get("operation"), take.get("take")),
            "note": note, "duration": 1,
            "customData": MARKER_PREFIX + json.dumps(recipe, sort_keys=True, separators=(",", ":"))}


def result_label(append_index, take):
    return {"op": "label", "step": append_index, "name": take_name(take.get("operation"), take.get("take")),
            "color": OPERATION_COLORS.get(take.get("operation"), "Teal"), "markers": [take_marker(take)]}


def _markers_in(item, offset, frames):
    """The item's markers that fall in [offset, offset + frames), as label markers from 0."""
    out = []
    for key, marker in sorted((item.get("markers") or {}).items(), key=lambda pair: float(pair[0])):
        frame = int(round(float(key)))
        if offset <= frame < offset + frames:
            out.append({"frame": frame - offset, "color": marker.get("color") or MARKER_COLOR,
                        "name": marker.get("name") or "", "note": marker.get("note") or "",
                        "duration": int(marker.get("duration") or 1), "customData": marker.get("customData") or ""})
    return out


def restore_steps(facts, item, first=None, last=None, role="restore"):
    """Steps that put (part of) an editor's clip back from the same media and source range:
    an append, then a label with its name, colour, markers and enabled state."""
    first = int(item["start"]) if first is None else first
    last = int(item["end"]) if last is None else last
    offset = first - int(item["start"])
    frames = last - first
    what = "put back {} frames of '{}' on {} at {}".format(frames, item.get("name") or "clip", track_words(item),
                                                          facts.at(first))
    append = append_step(facts, item.get("file"), item["track"], first, int(item.get("left_offset") or 0) + offset,
                         frames, role, what, item.get("track_type") or "video")
    label = {"op": "label", "step": 0, "name": item.get("name") or "", "color": item.get("color") or "",
             "markers": _markers_in(item, offset, frames)}
    if item.get("enabled") is False:
        label["enabled"] = False
    return [append, label]


def delete_step(facts, items, what):
    """A ``delete_items`` step for facts ``items``, each with the steps that put it back."""
    return {"op": "delete_items", "ids": [item["id"] for item in items], "what": what,
            "restore": [restore_steps(facts, item) for item in items],
            "clips": [dict({"id": item["id"], "name": item.get("name") or "", "track": item["track"],
                            "start": int(item["start"]), "duration": int(item["end"]) - int(item["start"]),
                            "media": item.get("file") or "", "source_in": int(item.get("left_offset") or 0)},
                           **({"track_type": "audio"} if item.get("track_type") == "audio" else {}))
                      for item in items]}


def _whole(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _unrestorable(facts, item):
    """Why an item in the way cannot be put back from its media (None when it can)."""
    kind = item_kind(item)
    if kind != "clip":
        return "it is {}, which Resolve's API cannot put back".format(
            {"transition": "a transition", "title": "a title or generator"}.get(
                kind, "a compound, Fusion or adjustment clip"))
    fps = item.get("fps")
    if fps:
        try:
            if parse_rate(fps) != facts.rate:
                return "its media runs at {} fps, unlike the timeline: it cannot be re-placed exactly".format(fps)
        except ValueError:
            return "its media's frame rate {!r} cannot be read".format(fps)
    # Speed 1 exactly: handles plus duration are the whole media (GetLeftOffset/GetRightOffset
    # count record frames on a retimed clip, measured), so even 105% shows. The source span may
    # be one frame off (GetSourceStartFrame is, measured): a tolerance there only.
    duration = int(item["end"]) - int(item["start"])
    total, left, right = _whole(item.get("frames")), _whole(item.get("left_offset")), _whole(item.get("right_offset"))
    if total is None or left is None or right is None:
        return "its media's length (the 'Frames' clip property) cannot be read, so its speed is unknown"
    start, end = item.get("source_start"), item.get("source_end")
    reversed_or_off = start is not None and end is not None and (
        int(end) < int(start) or abs(int(end) - int(start) - duration) > 1)
    if left + duration + right != total or reversed_or_off:
        return "it is retimed or reversed, and Resolve's API cannot re-apply a speed change"
    return None


def _transition_at_edge(facts, track, item):
    """A transition over the first or last frame's edge of ``item`` on ``track`` (its facts), or None."""
    for other in facts.track_items(track):
        if item_kind(other) == "transition" and any(int(other["start"]) <= edge <= int(other["end"])
                                                    for edge in (int(item["start"]), int(item["end"]))):
            return other
    return None


def check_step(facts):
    return {"op": "check_timeline", "id": facts.id, "what": "check the timeline is '{}'".format(facts.name)}


#: The format of an audio track ShotForge adds (``AddTrack("audio", subTrackType)``): a stereo
#: track plays mono and stereo room tone alike.
AUDIO_TRACK_TYPE = "stereo"


class _Plan(object):
    def __init__(self, facts, replace):
        self.facts = facts
        self.steps = [check_step(facts)]
        self.removed = set(replace)
        self.taken = {}          # (kind, track) -> [(first, last)] planned for this result
        self.tracks = {"video": facts.count, "audio": facts.audio_tracks}

    def blockers(self, track, ranges, kind="video"):
        found = []
        for item in self.facts.track_items(track, kind):
            if item.get("id") in self.removed:
                continue
            if any(_overlaps(first, last, item) for first, last in ranges):
                found.append(item)
        return found

    def free(self, track, ranges, kind="video"):
        if track > self.tracks[kind]:
            return True
        taken = self.taken.get((kind, track), [])
        clash = any(a < last and b > first for first, last in ranges for a, b in taken)
        return not clash and not self.blockers(track, ranges, kind)

    def add_tracks_up_to(self, track, kind="video"):
        while self.tracks[kind] < track:
            self.tracks[kind] += 1
            step = {"op": "add_track", "index": self.tracks[kind],
                    "what": "add {} track {}{}".format(kind, "A" if kind == "audio" else "V", self.tracks[kind])}
            if kind == "audio":
                step.update(track_type="audio", sub_type=AUDIO_TRACK_TYPE)
            self.steps.append(step)

    def delete(self, items, what):
        self.steps.append(delete_step(self.facts, items, what))
        self.removed.update(item["id"] for item in items)


def plan_steps(facts, placements, options, take):
    """The PROTOCOL steps that put a job's result on the live timeline without destroying anything.

    ``facts``: the facts document, read after the job finished. ``placements``: the job's. ``options``:
    ``placement`` (auto | above | overwrite), ``confirm_overwrite`` (the ``question`` of the
    OverwriteNeedsConfirmation the editor answered yes to: it holds only while exactly those clips
    are in the way, where they were), ``replace`` (ids removed first in the same steps: a new take).
    ``take``: ``{job, take, operation, engine, model, prompt, seed}`` for the labels. A placement's
    ``audio_track`` puts its media's sound on the audio tracks too (``_place_sound``).
    Raises PlacementError (OverwriteNeedsConfirmation for an unconfirmed overwrite) before any step.
    """
    view = facts if isinstance(facts, Facts) else Facts(facts)
    checked = check_placements(placements)
    options = options or {}
    mode = options.get("placement") or "auto"
    if mode not in PLACEMENTS:
        raise PlacementError("Placement {!r} must be one of {}.".format(mode, ", ".join(PLACEMENTS)))
    plan = _Plan(view, options.get("replace") or [])
    renders = sorted(set(p["media"] for p in checked))
    for p in checked:  # one past the top is a new track; further means the timeline lost tracks since
        for kind, index in (("video", p["track"]), ("audio", p["audio_track"])):
            if index is not None and index > plan.tracks[kind]:
                raise PlacementError(
                    "The result goes on {} track {}{}, but the timeline has only {} {} track(s) now (tracks "
                    "were removed since the job was sent): nothing was placed. The render is {}.".format(
                        kind, "A" if kind == "audio" else "V", index + 1, plan.tracks[kind], kind, p["media"]))
    for item_id in options.get("replace") or []:
        item = view.find(item_id)
        if item is None:
            raise PlacementError("The take to replace ({}) is no longer on the timeline.".format(item_id))
        plan.delete([item], "remove the previous take {}".format(view.clip_words(item)))
    groups = []  # placements by the server's track, in order
    for piece, p in enumerate(checked):
        p = dict(p, piece=piece)
        track = p["track"] + 1
        for group in groups:
            if group[0] == track:
                group[1].append(p)
                break
        else:
            groups.append((track, [p]))
    ranges_of = dict((track, [(view.start_frame + p["record_frame"],
                                view.start_frame + p["record_frame"] + p["frames"]) for p in pieces])
                     for track, pieces in groups)
    if mode == "overwrite":
        _ask_before_overwrite(plan, groups, ranges_of, options.get("confirm_overwrite"), renders)
    sound_at = _sound_tracks(plan, checked)
    for track, pieces in groups:
        ranges = ranges_of[track]
        target = track
        if mode == "overwrite":
            in_way = plan.blockers(track, ranges) if track <= view.count else []
            if in_way:
                _make_room(plan, track, ranges, in_way)
        elif not plan.free(track, ranges):
            in_way = plan.blockers(track, ranges)
            target = track + 1
            while not plan.free(target, ranges):
                target += 1
            plan.steps.append({"op": "note", "what": "note the move", "note":
                               "V{} is taken at {} by {}: the result goes on {}V{}.".format(
                                   track, view.at(ranges[0][0]),
                                   ", ".join("'{}'".format(item.get("name") or "clip") for item in in_way) or
                                   "this result", "a new track " if target > plan.tracks["video"] else "", target)})
        plan.add_tracks_up_to(target)
        for p, (first, last) in zip(pieces, ranges):
            plan.taken.setdefault(("video", target), []).append((first, last))
            what = "place {} frames of {} on V{} at {}".format(p["frames"], os.path.basename(p["media"]), target,
                                                                view.at(first))
            step = append_step(view, p["media"], target, first, p["source_in"], p["frames"], "result", what)
            step.update(piece=p["piece"], server_track=track)
            plan.steps.append(step)
            plan.steps.append(result_label(len(plan.steps) - 1, take))
            if p["audio_track"] is not None:
                _place_sound(plan, p, first, take, sound_at)
    return plan.steps


def _sound_tracks(plan, checked):
    """The live audio track for each audio track the server named (0-based): that one (1-based:
    + 1) when it is free over the record ranges of every piece whose sound goes there, else the
    lowest audio track above it that is (a new one when none is), so a result's sound stays on one
    track as its picture does. Returns {audio_track: [track, note step or None]}; the ranges are
    marked taken. Sound never overwrites: the editor's audio is never removed for room tone."""
    view = plan.facts
    wanted = {}
    for p in checked:
        if p["audio_track"] is not None:
            first = view.start_frame + p["record_frame"]
            wanted.setdefault(p["audio_track"], []).append((first, first + p["frames"]))
    chosen = {}
    for requested in sorted(wanted):
        ranges, track = wanted[requested], requested + 1
        target = track
        while not plan.free(target, ranges, "audio"):
            target += 1
        note = None
        if target != track:
            in_way = plan.blockers(track, ranges, "audio")
            taken_at = min([max(first, int(item["start"])) for item in in_way for first, last in ranges
                            if _overlaps(first, last, item)] or [ranges[0][0]])
            note = {"op": "note", "what": "note the move", "note":
                    "A{} is taken at {} by {}: the result's sound goes on {}A{}.".format(
                        track, view.at(taken_at),
                        ", ".join("'{}'".format(item.get("name") or "clip") for item in in_way) or "this result",
                        "a new track " if target > plan.tracks["audio"] else "", target)}
        plan.taken.setdefault(("audio", target), []).extend(ranges)
        chosen[requested] = [target, note]
    return chosen


def _place_sound(plan, piece, first, take, sound_at):
    """Steps that put the sound of a result's piece (the room tone of its new media, or its
    handles' own sound, covering the same frames as its picture) at the same record frames on
    the audio track ``_sound_tracks`` chose, after the note of that choice and the audio tracks
    it adds."""
    view = plan.facts
    wanted = piece["audio_track"] + 1
    target, note = sound_at[piece["audio_track"]]
    if note is not None:
        plan.steps.append(note)
        sound_at[piece["audio_track"]][1] = None  # said once, before the first piece that goes there
    plan.add_tracks_up_to(target, "audio")
    what = "place the sound of {} ({} frames) on A{} at {}".format(os.path.basename(piece["media"]), piece["frames"],
                                                                  target, view.at(first))
    step = append_step(view, piece["media"], target, first, piece["source_in"], piece["frames"], "audio", what,
                       "audio")
    step.update(piece=piece["piece"], server_track=wanted)
    plan.steps.append(step)
    label = result_label(len(plan.steps) - 1, take)
    label["markers"] = []  # the take's marker is on its picture; Resolve's audio items are not known to keep one
    plan.steps.append(label)


def _question_key(question):
    """What an overwrite question asks about, comparable: a set of (id, track, start, end, left
    offset, kept ranges); None for anything that is not a question (True is no confirmation)."""
    if not isinstance(question, (list, tuple)):
        return None
    try:
        return frozenset((str(entry["id"]), int(entry["track"]), int(entry["start"]), int(entry["end"]),
                          int(entry["left_offset"]),
                          tuple((int(first), int(last)) for first, last in (entry.get("kept") or [])))
                         for entry in question)
    except (KeyError, TypeError, ValueError):
        return None


def _in_way_words(view, item, kept):
    """What an overwrite does to ``item``: removed, or shortened to the ``kept`` ranges."""
    if not kept:
        return "{}: removed".format(view.clip_words(item))
    return ("{}: shortened to {} (re-placed from its media, as Resolve's API has no trim: its grade, effects and "
            "transform are not carried over)".format(
                view.clip_words(item), ", ".join("{} to {}".format(view.at(a), view.at(b)) for a, b in kept)))


def _ask_before_overwrite(plan, groups, ranges_of, confirmation, renders):
    """Raise OverwriteNeedsConfirmation unless ``confirmation`` is exactly the question this
    overwrite asks now (the clips in the way, where they are, and what is kept of each): a clip
    the editor moved, trimmed or added since the question makes it ask again."""
    view = plan.facts
    lines, question = [], []
    for track, _pieces in groups:
        ranges = ranges_of[track]
        in_way = plan.blockers(track, ranges) if track <= view.count else []
        for item in in_way:
            reason = _unrestorable(view, item)
            transition = _transition_at_edge(view, track, item) if not reason else None
            if transition is not None:
                reason = ("the transition '{}' is at its edge, and shortening or removing the clip would lose it "
                          "(Resolve's API cannot put a transition back)".format(transition.get("name") or "transition"))
            if reason:
                raise PlacementError("Overwrite cannot make room for the result on V{}: {} is in the way and {}. "
                                     "Choose Auto or Above to put the result on a free track.".format(
                                         track, view.clip_words(item), reason))
        for item in in_way:
            kept = _subtract((int(item["start"]), int(item["end"])), ranges)
            question.append({"id": item["id"], "track": track, "start": int(item["start"]), "end": int(item["end"]),
                             "left_offset": int(item.get("left_offset") or 0), "kept": [list(k) for k in kept]})
            lines.append(_in_way_words(view, item, kept))
    if question and _question_key(question) != _question_key(confirmation):
        raise OverwriteNeedsConfirmation(
            "Overwrite would change the editor's clips:\n{}\nConfirm the overwrite, or choose Auto to put the "
            "result on a free track above. The render is kept at {}.".format(
                "\n".join("  - " + line for line in lines), ", ".join(renders)),
            clips=lines, media=renders, question=question)


def _make_room(plan, track, ranges, in_way):
    """Steps that remove exactly what is in the way (as the editor confirmed) and re-place what is
    kept of each clip."""
    view = plan.facts
    lines, kept_steps = [], []
    for item in in_way:
        kept = _subtract((int(item["start"]), int(item["end"])), ranges)
        lines.append(_in_way_words(view, item, kept))
        for first, last in kept:
            kept_steps.append(restore_steps(view, item, first, last, role="kept"))
    plan.delete(in_way, "make room on V{}: remove {}".format(track, ", ".join(view.clip_words(i) for i in in_way)))
    for append, label in kept_steps:
        plan.steps.append(append)
        plan.steps.append(dict(label, step=len(plan.steps) - 1))
    plan.steps.append({"op": "note", "what": "note the overwrite",
                       "note": "Overwrite on V{}: {}.".format(track, "; ".join(lines))})
