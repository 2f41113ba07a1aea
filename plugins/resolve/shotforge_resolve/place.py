"""Where a job's clips go on the Resolve timeline: ``plan_steps`` (pure: facts and the server's
placements in, PROTOCOL.md steps out) and ``execute`` (carries the steps out, reads every edit
back, undoes all of them on any mismatch; ShotForge.lua implements the same executor).

Measured Resolve (resolve_api_notes.md): ``AppendToTimeline`` never overwrites (an append over an
occupied range is dropped, sometimes returning an item with an empty id), so a result goes only
into free space; ``endFrame`` is exclusive on 19+ (inclusive on 18.x); ``DeleteClips`` works on
the Edit page only.
"""

import json
import os

from .context import TimelineInfo, item_kind
from .errors import OverwriteNeedsConfirmation, PlacementError
from .timecode import parse_rate

BIN_NAME = "ShotForge"
PLACEMENTS = ("auto", "above", "overwrite")
#: The 16 names SetClipColor accepts (anything else returns False).
CLIP_COLORS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue",
               "Purple", "Violet", "Pink", "Tan", "Beige", "Brown", "Chocolate")
#: One clip colour per operation, so a result's kind shows on the timeline at a glance.
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
        if item["track"] < 0 or item["record_frame"] < 0 or item["source_in"] < 0 or item["frames"] < 1:
            raise PlacementError("placement {} is out of range: {!r}".format(number, raw))
        checked.append(item)
    return checked


# ----------------------------------------------------------------------------- facts
class Facts(TimelineInfo):
    """The facts (PROTOCOL.md) as the planner reads them: record frames absolute, tracks 1-based,
    each item's facts with its ``track`` added."""

    def __init__(self, facts):
        TimelineInfo.__init__(self, facts)
        self.page = facts.get("page") or ""
        self.count = self.video_tracks

    def at(self, absolute):
        """Timecode of an absolute record frame."""
        return self.tc(self.rel(absolute))

    def track_items(self, track):
        return [dict(item, track=track) for _start, _end, item in self.items(track)]

    def find(self, item_id):
        found = self.find_item(item_id)
        return dict(found[3], track=found[0]) if found else None

    def end_exclusive(self):
        """``endFrame`` counts exclusively on 19 and later (measured); inclusive on 18.x."""
        return not self.version or self.version[0] == 0 or self.version[0] >= 19

    def clip_words(self, item):
        return "'{}' on V{} ({} to {})".format(item.get("name") or "clip", item["track"], self.at(item["start"]),
                                               self.at(item["end"]))


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
def append_step(facts, media, track, record, source_in, frames, role, what):
    """An ``append`` step: ``frames`` frames of ``media`` from index ``source_in`` at absolute
    ``record`` on 1-based ``track``."""
    end = source_in + frames if facts.end_exclusive() else source_in + frames - 1
    return {"op": "append", "role": role, "media": media, "what": what,
            "clip_info": {"startFrame": int(source_in), "endFrame": int(end), "trackIndex": int(track),
                          "recordFrame": int(record), "mediaType": 1},
            "expect": {"track": int(track), "start": int(record), "duration": int(frames),
                       "left_offset": int(source_in)}}


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
    what = "put back {} frames of '{}' on V{} at {}".format(frames, item.get("name") or "clip", item["track"],
                                                           facts.at(first))
    append = append_step(facts, item.get("file"), item["track"], first, int(item.get("left_offset") or 0) + offset,
                         frames, role, what)
    label = {"op": "label", "step": 0, "name": item.get("name") or "", "color": item.get("color") or "",
             "markers": _markers_in(item, offset, frames)}
    if item.get("enabled") is False:
        label["enabled"] = False
    return [append, label]


def delete_step(facts, items, what):
    """A ``delete_items`` step for facts ``items``, each with the steps that put it back."""
    return {"op": "delete_items", "ids": [item["id"] for item in items], "what": what,
            "restore": [restore_steps(facts, item) for item in items],
            "clips": [{"id": item["id"], "name": item.get("name") or "", "track": item["track"],
                       "start": int(item["start"]), "duration": int(item["end"]) - int(item["start"]),
                       "media": item.get("file") or "", "source_in": int(item.get("left_offset") or 0)}
                      for item in items]}


def _unrestorable(facts, item):
    """Why an item in the way cannot be put back from its media (None when it can)."""
    kind = item_kind(item)
    if kind != "clip":
        return "it is {}, which Resolve's API cannot put back".format(
            {"transition": "a transition", "title": "a title or generator"}.get(
                kind, "a compound, Fusion or adjustment clip"))
    duration = int(item["end"]) - int(item["start"])
    start, end = item.get("source_start"), item.get("source_end")
    if start is not None and end is not None and (int(end) < int(start) or
                                                  abs(int(end) - int(start) - duration) > 1):
        return "it is retimed or reversed, and Resolve's API cannot re-apply a speed change"
    fps = item.get("fps")
    if fps:
        try:
            if parse_rate(fps) != facts.rate:
                return "its media runs at {} fps, unlike the timeline: it cannot be re-placed exactly".format(fps)
        except ValueError:
            return "its media's frame rate {!r} cannot be read".format(fps)
    return None


def check_step(facts):
    return {"op": "check_timeline", "id": facts.id, "what": "check the timeline is '{}'".format(facts.name)}


class _Plan(object):
    def __init__(self, facts, replace):
        self.facts = facts
        self.steps = [check_step(facts)]
        self.removed = set(replace)
        self.taken = {}          # track -> [(first, last)] planned for this result
        self.tracks = facts.count

    def blockers(self, track, ranges):
        found = []
        for item in self.facts.track_items(track):
            if item.get("id") in self.removed:
                continue
            if any(_overlaps(first, last, item) for first, last in ranges):
                found.append(item)
        return found

    def free(self, track, ranges):
        if track > self.tracks:
            return True
        taken = self.taken.get(track, [])
        clash = any(a < last and b > first for first, last in ranges for a, b in taken)
        return not clash and not self.blockers(track, ranges)

    def add_tracks_up_to(self, track):
        while self.tracks < track:
            self.tracks += 1
            self.steps.append({"op": "add_track", "what": "add video track V{}".format(self.tracks)})

    def delete(self, items, what):
        self.steps.append(delete_step(self.facts, items, what))
        self.removed.update(item["id"] for item in items)


def plan_steps(facts, placements, options, take):
    """The PROTOCOL steps that put a job's result on the live timeline without destroying anything.

    ``facts``: the facts document, read after the job finished. ``placements``: the job's. ``options``:
    ``placement`` (auto | above | overwrite), ``confirm_overwrite`` (the editor confirmed what an
    overwrite removes or shortens), ``replace`` (ids removed first in the same steps: a new take).
    ``take``: ``{job, take, operation, engine, model, prompt, seed}`` for the labels.
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
    asked = []
    for track, pieces in groups:
        ranges = [(view.start_frame + p["record_frame"], view.start_frame + p["record_frame"] + p["frames"])
                  for p in pieces]
        target = track
        if mode == "overwrite":
            in_way = plan.blockers(track, ranges) if track <= view.count else []
            if in_way:
                asked.extend(_make_room(plan, track, ranges, in_way, bool(options.get("confirm_overwrite"))))
        elif not plan.free(track, ranges):
            in_way = plan.blockers(track, ranges)
            target = track + 1
            while not plan.free(target, ranges):
                target += 1
            plan.steps.append({"op": "note", "what": "note the move", "note":
                               "V{} is taken at {} by {}: the result goes on {}V{}.".format(
                                   track, view.at(ranges[0][0]),
                                   ", ".join("'{}'".format(item.get("name") or "clip") for item in in_way) or
                                   "this result", "a new track " if target > plan.tracks else "", target)})
        plan.add_tracks_up_to(target)
        for p, (first, last) in zip(pieces, ranges):
            plan.taken.setdefault(target, []).append((first, last))
            what = "place {} frames of {} on V{} at {}".format(p["frames"], os.path.basename(p["media"]), target,
                                                                view.at(first))
            step = append_step(view, p["media"], target, first, p["source_in"], p["frames"], "result", what)
            step.update(piece=p["piece"], server_track=track)
            plan.steps.append(step)
            plan.steps.append(result_label(len(plan.steps) - 1, take))
    if asked:
        raise OverwriteNeedsConfirmation(
            "Overwrite would change the editor's clips:\n{}\nConfirm the overwrite, or choose Auto to put the "
            "result on a free track above. The render is kept at {}.".format(
                "\n".join("  - " + line for line in asked), ", ".join(renders)), clips=asked, media=renders)
    return plan.steps


def _make_room(plan, track, ranges, in_way, confirmed):
    """Steps that remove exactly what is in the way and re-place its kept head/tail; or, unless the
    editor confirmed, the lines the dialog asks about."""
    view = plan.facts
    for item in in_way:
        reason = _unrestorable(view, item)
        if reason:
            raise PlacementError("Overwrite cannot make room for the result on V{}: {} is in the way and {}. "
                                 "Choose Auto or Above to put the result on a free track.".format(
                                     track, view.clip_words(item), reason))
    lines, kept_steps = [], []
    for item in in_way:
        kept = _subtract((int(item["start"]), int(item["end"])), ranges)
        if not kept:
            lines.append("{}: removed".format(view.clip_words(item)))
        else:
            lines.append("{}: shortened to {} (re-placed from its media, as Resolve's API has no trim: its "
                         "grade, effects and transform are not carried over)".format(
                view.clip_words(item), ", ".join("{} to {}".format(view.at(a), view.at(b)) for a, b in kept)))
        for first, last in kept:
            kept_steps.append(restore_steps(view, item, first, last, role="kept"))
    if not confirmed:
        return lines
    plan.delete(in_way, "make room on V{}: remove {}".format(track, ", ".join(view.clip_words(i) for i in in_way)))
    for append, label in kept_steps:
        plan.steps.append(append)
        plan.steps.append(dict(label, step=len(plan.steps) - 1))
    plan.steps.append({"op": "note", "what": "note the overwrite",
                       "note": "Overwrite on V{}: {}.".format(track, "; ".join(lines))})
    return []


# ----------------------------------------------------------------------------- executor
def _norm(path):
    return os.path.normcase(os.path.realpath(path)) if path else ""


class _Failed(Exception):
    """One step did not read back; ``str`` says how."""


def _walk(steps):
    """Every step, restore steps included (they need their media found before any edit)."""
    for step in steps:
        yield step
        for nested in step.get("restore") or []:
            for inner in _walk(nested):
                yield inner


class _Executor(object):
    def __init__(self, resolve):
        self.resolve = resolve
        project = resolve.GetProjectManager().GetCurrentProject()
        self.timeline = project.GetCurrentTimeline() if project else None
        if not self.timeline:
            raise PlacementError("No timeline is open in Resolve: nothing was placed.")
        self.pool = project.GetMediaPool()
        self.page = resolve.GetCurrentPage()
        self.done = []        # (kind, data) of each edit carried out, for the undo
        self.current = None   # the step being carried out, for the message
        self.notes = []
        self.result = {"placed": [], "kept": [], "removed": [], "tracks_added": [], "tracks_deleted": [],
                       "notes": self.notes}

    # -- reading the timeline --------------------------------------------------------------
    def count(self):
        return int(self.timeline.GetTrackCount("video") or 0)

    def track_items(self, track):
        return [item for item in self.timeline.GetItemListInTrack("video", track) or [] if item]

    def locate(self, uid):
        for track in range(1, self.count() + 1):
            for item in self.track_items(track):
                if item.GetUniqueId() == uid:
                    return track, item
        return None, None

    def edit_page(self):
        """DeleteClips works on the Edit page only (measured): switch there; ``finish`` switches back."""
        if self.resolve.GetCurrentPage() != "edit":
            self.resolve.OpenPage("edit")
            if self.resolve.GetCurrentPage() != "edit":
                raise _Failed("Resolve did not switch to the Edit page, where clips can be removed")

    # -- media -----------------------------------------------------------------------------
    def find_media(self, steps):
        """MediaPoolItems for every append, before any edit: one on the timeline, one in the
        ShotForge bin, else imported into that bin (only the media pool changes here)."""
        wanted = [step["media"] for step in _walk(steps) if step.get("op") == "append"]
        found = {}
        for track in range(1, self.count() + 1):
            for item in self.track_items(track):
                media = item.GetMediaPoolItem()
                path = media.GetClipProperty("File Path") if media else ""
                if path:
                    found.setdefault(_norm(path), media)
        missing = [path for path in wanted if _norm(path) not in found]
        if missing:
            root = self.pool.GetRootFolder()
            folder = ([f for f in root.GetSubFolderList() or [] if f and f.GetName() == BIN_NAME] or
                      [self.pool.AddSubFolder(root, BIN_NAME)])[0]
            if not folder:
                raise PlacementError("Could not create the '{}' bin in the media pool.".format(BIN_NAME))
            previous = self.pool.GetCurrentFolder()
            self.pool.SetCurrentFolder(folder)  # ImportMedia lands in the current folder (measured)
            try:
                for clip in folder.GetClipList() or []:
                    path = clip.GetClipProperty("File Path") if clip else ""
                    if path:
                        found.setdefault(_norm(path), clip)
                for path in missing:
                    if _norm(path) in found:
                        continue
                    items = self.pool.ImportMedia([path]) or []
                    if not items:
                        raise PlacementError("Resolve could not import {} into the media pool: nothing was "
                                             "placed.".format(path))
                    found[_norm(path)] = items[0]
            finally:
                if previous:
                    self.pool.SetCurrentFolder(previous)
        self.media = found

    # -- steps -----------------------------------------------------------------------------
    def run_list(self, steps, top):
        appended = {}
        for index, step in enumerate(steps):
            self.current, op = step, step.get("op")
            if op == "append":
                appended[index] = self.append(step, top)
            elif op == "label":
                self.label(step, appended.get(step.get("step")))
            elif op in ("delete_items", "add_track", "delete_track", "open_page", "check_timeline"):
                getattr(self, op)(step)
            elif op != "note":
                raise _Failed("unknown step {!r}".format(op))
            if step.get("note"):
                self.notes.append(step["note"])

    def open_page(self, step):
        self.resolve.OpenPage(step["page"])
        if self.resolve.GetCurrentPage() != step["page"]:
            raise _Failed("Resolve did not open the {} page".format(step["page"]))

    def check_timeline(self, step):
        if self.timeline.GetUniqueId() != step.get("id"):
            raise _Failed("the current timeline is not the one the result belongs to; switch back to it")

    def append(self, step, top):
        info = dict(step["clip_info"])
        info["mediaPoolItem"] = self.media[_norm(step["media"])]
        expect = step["expect"]
        items = self.pool.AppendToTimeline([info]) or []
        item = items[0] if items else None
        uid = item.GetUniqueId() if item else ""
        if not uid:  # measured: an append over an occupied range comes back empty or with no id
            raise _Failed("Resolve dropped the clip (the range on V{} is not free)".format(expect["track"]))
        self.done.append(("append", uid))
        track, placed = self.locate(uid)
        if placed is None or track != expect["track"]:
            raise _Failed("Resolve's new clip is not on V{}".format(expect["track"]))
        got = (int(placed.GetStart()), int(placed.GetDuration()), int(placed.GetLeftOffset()))
        want = (expect["start"], expect["duration"], expect["left_offset"])
        if got != want:
            raise _Failed("Resolve placed {} frames at record frame {} from source frame {}, where {} frames at {} "
                          "from source frame {} were planned".format(got[1], got[0], got[2], want[1], want[0], want[2]))
        if top:
            self.result[{"result": "placed", "kept": "kept"}.get(step.get("role"), "placed")].append(
                {"id": uid, "track": expect["track"], "start": got[0], "duration": got[1], "left_offset": got[2],
                 "media": step["media"]})
        return placed

    def label(self, step, item):
        if item is None:
            raise _Failed("a label names step {!r}, not an append carried out before it".format(step.get("step")))
        name = step.get("name")
        if name:
            item.SetName(name)
            if item.GetName() != name:
                raise _Failed("Resolve did not keep the clip name '{}'".format(name))
        color = step.get("color")
        if color:
            item.SetClipColor(color)
            if item.GetClipColor() != color:  # cosmetic: reported, never rolled back
                self.notes.append("Resolve did not keep the clip colour {} on '{}'.".format(color, name or "a clip"))
        if "enabled" in step:
            item.SetClipEnabled(bool(step["enabled"]))
            if bool(item.GetClipEnabled()) != bool(step["enabled"]):
                raise _Failed("Resolve did not {} the clip".format("enable" if step["enabled"] else "disable"))
        for marker in step.get("markers") or []:
            item.AddMarker(int(marker["frame"]), marker["color"], marker["name"], marker["note"],
                           int(marker["duration"]), marker["customData"])
            saved = dict((int(round(float(key))), value) for key, value in (item.GetMarkers() or {}).items())
            got = saved.get(int(marker["frame"])) or {}
            if got.get("customData", "") != marker["customData"] or got.get("name", "") != marker["name"]:
                raise _Failed("Resolve did not keep the marker '{}' on the clip".format(marker["name"]))

    def delete_items(self, step):
        self.edit_page()
        items = []
        for uid in step["ids"]:
            _, item = self.locate(uid)
            if item is None:
                raise _Failed("clip {} is no longer on the timeline".format(uid))
            items.append(item)
        self.done.append(("delete_items", step))
        self.timeline.DeleteClips(items, False)
        left = [uid for uid in step["ids"] if self.locate(uid)[1] is not None]
        if left:
            raise _Failed("Resolve did not remove {} clip{}".format(len(left), "" if len(left) == 1 else "s"))
        self.result["removed"].extend(step.get("clips") or [{"id": uid} for uid in step["ids"]])

    def add_track(self, step):
        before = self.count()
        self.timeline.AddTrack("video")
        if self.count() != before + 1:
            raise _Failed("Resolve did not add a video track")
        self.done.append(("add_track", before + 1))
        self.result["tracks_added"].append(before + 1)

    def delete_track(self, step):
        index = int(step["index"])
        if index != self.count() or self.track_items(index):
            raise _Failed("V{} is not the top video track or is not empty".format(index))
        self.timeline.DeleteTrack("video", index)
        if self.count() != index - 1:
            raise _Failed("Resolve did not delete V{}".format(index))
        self.done.append(("delete_track", index))
        self.result["tracks_deleted"].append(index)

    # -- undo ------------------------------------------------------------------------------
    def undo(self):
        """Undo every edit in reverse; returns what could not be undone (empty: all of it)."""
        problems = []
        while self.done:
            kind, data = self.done.pop()
            try:
                if kind == "append":
                    _, item = self.locate(data)
                    if item is not None:
                        self.edit_page()
                        self.timeline.DeleteClips([item], False)
                        if self.locate(data)[1] is not None:
                            raise _Failed("Resolve did not remove the clip it had just placed")
                elif kind == "add_track":
                    if self.count() == data and not self.track_items(data):
                        self.timeline.DeleteTrack("video", data)
                    else:
                        raise _Failed("the added track V{} is not empty or not on top".format(data))
                elif kind == "delete_track":
                    self.timeline.AddTrack("video")
                elif kind == "delete_items":
                    for uid, restore in zip(data["ids"], data["restore"]):
                        if self.locate(uid)[1] is None:
                            saved, self.done = self.done, []
                            try:
                                self.run_list(restore, top=False)
                            finally:
                                self.done = saved
            except Exception as exc:  # keep undoing the rest; say what stayed as it is
                what = (self.current or {}).get("what") if kind == "delete_items" else "undo " + kind
                problems.append("{}: {}".format(what, exc))
        return problems

    def finish(self):
        if self.page and self.resolve.GetCurrentPage() != self.page:
            self.resolve.OpenPage(self.page)


def execute(resolve, steps):
    """Carry out PROTOCOL steps, each read back; on any failure undo all of them in reverse.

    Returns ``{placed, kept, removed, tracks_added, tracks_deleted, notes}``: ``placed`` (and
    ``kept``: re-placed parts of shortened clips) are ``{id, track, start, duration, left_offset,
    media}``, track 1-based, frames absolute. Raises PlacementError saying which step failed, that
    the timeline is as before (or exactly what could not be put back) and where the render is.
    """
    run = _Executor(resolve)
    try:
        run.find_media(steps)
        run.run_list(steps, top=True)
    except Exception as exc:
        step = run.current
        problems = run.undo()
        run.finish()
        if step is None and isinstance(exc, PlacementError):
            raise  # the media could not be found or imported: no edit was made
        renders = sorted(set(s["media"] for s in steps if s.get("op") == "append" and s.get("role") == "result"))
        raise PlacementError("Could not {}: {}. {}{}".format(
            (step or {}).get("what") or "place the result", getattr(exc, "message", exc),
            "Undoing it failed too ({}): check the timeline.".format("; ".join(problems)) if problems
            else "The timeline is as it was before.",
            " The render is kept at {}.".format(", ".join(renders)) if renders else ""))
    run.finish()
    return run.result
