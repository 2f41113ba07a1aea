"""Carry out PROTOCOL.md steps on a live Resolve: every edit read back, all of them undone in
reverse on any mismatch. ShotForge.lua implements the same executor for the Lua entry.

Measured Resolve (resolve_api_notes.md): an append over an occupied range is dropped, sometimes
returning an item with an empty id; ``DeleteClips`` works on the Edit page only.
"""

import os

from .errors import PlacementError
from .facts import current_timeline, has_call
from .place import AUDIO_TRACK_TYPE, BIN_NAME, MARKER_PREFIX

KINDS = ("video", "audio")


def _words(kind, track):
    """"V2" or "A1"."""
    return "{}{}".format("A" if kind == "audio" else "V", track)


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
        project, self.timeline = current_timeline(resolve)
        if not self.timeline:
            raise PlacementError("No timeline is open in Resolve: nothing was placed.")
        self.pool = project.GetMediaPool()
        self.page = resolve.GetCurrentPage()
        self.done = []        # (kind, data) of each edit carried out, for the undo
        self.current = None   # the step being carried out, for the message
        self.notes = []
        self.restored = {}    # old id -> new id of each clip the undo put back from its media
        self.put_back = []    # the names of those clips, for the message
        self.lost = []        # items Resolve removed along with a deletion, which nothing can put back
        self.shaky = set()    # ids of clips that landed although their append failed: they can vanish at a save
        self.unnamed = set()  # the names a note already said did not stick (a take's pieces and sound share one)
        self.result = {"placed": [], "kept": [], "audio": [], "removed": [], "tracks_added": [],
                       "tracks_deleted": [], "audio_tracks_added": [], "audio_tracks_deleted": [],
                       "notes": self.notes}

    # -- reading the timeline --------------------------------------------------------------
    def count(self, kind="video"):
        return int(self.timeline.GetTrackCount(kind) or 0)

    def track_items(self, track, kind="video"):
        return [item for item in self.timeline.GetItemListInTrack(kind, track) or [] if item]

    def ids_on(self, track, kind="video"):
        return [item.GetUniqueId() for item in self.track_items(track, kind)] if 0 < track <= self.count(kind) else []

    def all_ids(self):
        """The ids of every item on every video and audio track."""
        return set(uid for kind in KINDS for track in range(1, self.count(kind) + 1) for uid in self.ids_on(track, kind))

    def locate(self, uid):
        """(kind, track, item) of the item with ``uid`` on any video or audio track; (None, None, None)."""
        for kind in KINDS:
            for track in range(1, self.count(kind) + 1):
                for item in self.track_items(track, kind):
                    if item.GetUniqueId() == uid:
                        return kind, track, item
        return None, None, None

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
        return appended

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
        kind = expect.get("track_type") or "video"
        where = _words(kind, expect["track"])
        before = self.all_ids()  # on every track: an answer naming any of them is no placement
        try:
            items = self.pool.AppendToTimeline([info]) or []
        except Exception as exc:  # it may have landed all the same: find it so the undo removes it
            self.sweep(expect["track"], before, kind)
            raise _Failed("Resolve's AppendToTimeline failed ({})".format(exc))
        item = items[0] if items else None
        uid = item.GetUniqueId() if item else ""
        # measured: an append over an occupied range comes back empty or with no id; an answer naming
        # an item that was on the timeline before is no placement either, and the undo must never remove it
        if not uid or uid in before:
            if self.sweep(expect["track"], before, kind):
                raise _Failed("Resolve answered that it placed nothing, yet a clip landed on {}".format(where))
            if kind == "audio":
                raise _Failed("Resolve dropped the sound (the range on {} is not free, or the media has no "
                              "sound)".format(where))
            raise _Failed("Resolve dropped the clip (the range on {} is not free)".format(where))
        self.done.append(("append", uid))
        found, track, placed = self.locate(uid)
        if placed is None or (found, track) != (kind, expect["track"]):
            raise _Failed("Resolve's new {} is not on {}".format("sound" if kind == "audio" else "clip", where))
        got = (int(placed.GetStart()), int(placed.GetDuration()), int(placed.GetLeftOffset()))
        want = (expect["start"], expect["duration"], expect["left_offset"])
        if got != want:
            raise _Failed("Resolve placed {} frames at record frame {} from source frame {}, where {} frames at {} "
                          "from source frame {} were planned".format(got[1], got[0], got[2], want[1], want[0], want[2]))
        if top:
            self.result[{"result": "placed", "kept": "kept", "audio": "audio"}.get(step.get("role"), "placed")].append(
                {"id": uid, "track": expect["track"], "start": got[0], "duration": got[1], "left_offset": got[2],
                 "media": step["media"]})
        return placed

    def sweep(self, track, before, kind="video"):
        """Items new on ``track`` since ``before`` (ids) although the append failed: the undo
        removes them."""
        new = [uid for uid in self.ids_on(track, kind) if uid and uid not in before]
        self.done.extend(("append", uid) for uid in new)
        self.shaky.update(new)
        return new

    def label(self, step, item):
        if item is None:
            raise _Failed("a label names step {!r}, not an append carried out before it".format(step.get("step")))
        name = step.get("name")
        if name:
            # TimelineItem.SetName is only in the 2026 README: probed, and a name that does not
            # stick is reported (the take's marker names it), never rolled back
            renamed = has_call(item, "SetName")
            if renamed:
                item.SetName(name)
            if item.GetName() != name and name not in self.unnamed:
                self.unnamed.add(name)
                self.notes.append("Resolve {} the clip name '{}'{}.".format(
                    "did not keep" if renamed else "cannot set (this build has no TimelineItem.SetName)", name,
                    ": its ShotForge marker names the take" if any(
                        (m.get("customData") or "").startswith(MARKER_PREFIX) for m in step.get("markers") or [])
                    else ""))
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
        items, tracks = [], set()
        for uid in step["ids"]:
            kind, track, item = self.locate(uid)
            if item is None:
                raise _Failed("clip {} is no longer on the timeline".format(uid))
            items.append(item)
            tracks.add((kind, track))
        # everything else on those tracks and on every audio track, to see that DeleteClips took
        # nothing more (a transition attached to a removed clip, a clip's linked sound: unmeasured)
        tracks.update(("audio", track) for track in range(1, self.count("audio") + 1))
        others = dict((item.GetUniqueId(), "'{}' on {}".format(item.GetName() or "item", _words(kind, track)))
                      for kind, track in sorted(tracks) for item in self.track_items(track, kind)
                      if item.GetUniqueId() not in step["ids"])
        self.done.append(("delete_items", step))
        self.timeline.DeleteClips(items, False)
        left = [uid for uid in step["ids"] if self.locate(uid)[2] is not None]
        if left:
            raise _Failed("Resolve did not remove {} clip{}".format(len(left), "" if len(left) == 1 else "s"))
        present = set(uid for kind, track in tracks for uid in self.ids_on(track, kind))
        gone = [words for uid, words in sorted(others.items()) if uid not in present]
        if gone:
            self.lost.extend(gone)
            raise _Failed("Resolve removed {} along with the clips".format(", ".join(gone)))
        self.result["removed"].extend(step.get("clips") or [{"id": uid} for uid in step["ids"]])

    def new_track(self, kind, sub_type):
        """``AddTrack``: a video track, or an audio track of ``sub_type`` (its format)."""
        if kind == "audio":
            return self.timeline.AddTrack("audio", sub_type or AUDIO_TRACK_TYPE)
        return self.timeline.AddTrack("video")

    def add_track(self, step):
        kind = step.get("track_type") or "video"
        before = self.count(kind)
        planned = step.get("index")
        if planned is not None and before != int(planned) - 1:
            raise _Failed("the timeline has {} {} tracks now, not the {} the result was planned on".format(
                before, kind, int(planned) - 1))
        self.new_track(kind, step.get("sub_type"))
        if self.count(kind) != before + 1:
            raise _Failed("Resolve did not add {} {} track".format("an" if kind == "audio" else "a", kind))
        self.done.append(("add_track", (kind, before + 1, step.get("sub_type"))))
        self.result["audio_tracks_added" if kind == "audio" else "tracks_added"].append(before + 1)

    def delete_track(self, step):
        kind = step.get("track_type") or "video"
        index = int(step["index"])
        if index != self.count(kind) or self.track_items(index, kind):
            raise _Failed("{} is not the top {} track or is not empty".format(_words(kind, index), kind))
        self.timeline.DeleteTrack(kind, index)
        if self.count(kind) != index - 1:
            raise _Failed("Resolve did not delete {}".format(_words(kind, index)))
        self.done.append(("delete_track", (kind, index, step.get("sub_type"))))
        self.result["audio_tracks_deleted" if kind == "audio" else "tracks_deleted"].append(index)

    # -- undo ------------------------------------------------------------------------------
    def undo(self):
        """Undo every edit in reverse; returns what could not be undone (empty: all of it)."""
        problems = []
        while self.done:
            kind, data = self.done.pop()
            try:
                if kind == "append":
                    item = self.locate(data)[2]
                    if item is not None:
                        self.edit_page()
                        self.timeline.DeleteClips([item], False)
                        if self.locate(data)[2] is not None:
                            raise _Failed("Resolve did not remove the clip it had just placed")
                elif kind == "add_track":
                    track_type, index, _sub_type = data
                    if self.count(track_type) == index and not self.track_items(index, track_type):
                        self.timeline.DeleteTrack(track_type, index)
                        if self.count(track_type) != index - 1:
                            raise _Failed("Resolve did not delete the added track {}".format(_words(track_type, index)))
                    else:
                        raise _Failed("the added track {} is not empty or not on top".format(_words(track_type, index)))
                elif kind == "delete_track":
                    track_type, index, sub_type = data
                    self.new_track(track_type, sub_type)
                    if self.count(track_type) != index:
                        raise _Failed("Resolve did not add back {}".format(_words(track_type, index)))
                elif kind == "delete_items":
                    problems.extend(self.put_back_clips(data))
            except Exception as exc:  # keep undoing the rest; say what stayed as it is
                problems.append("undo {}: {}".format(kind, exc))
        return problems

    def put_back_clips(self, step):
        """Put back each clip of a ``delete_items`` step that is gone, each on its own: one that
        fails is reported and the others are still put back."""
        problems = []
        clips = step.get("clips") or [{} for _ in step["ids"]]
        for uid, restore, clip in zip(step["ids"], step["restore"], clips):
            if self.locate(uid)[2] is not None:
                continue
            what = restore[0].get("what") or "put back clip {}".format(uid)
            error, landed = self.put_back_once(restore)
            if set(landed) & self.shaky:
                # a clip whose append failed can vanish at the next project save (measured): removed,
                # and appended once more into the range that is free again
                left = self.undo_inner(landed)
                problems.extend("{}: {}".format(what, problem) for problem in left)
                if not left:
                    error, landed = self.put_back_once(restore)
                else:  # what is still there of it
                    landed = [new for new in landed if self.locate(new)[2] is not None]
            if error is not None:
                problems.append("{}: {}".format(what, error))
            if set(landed) & self.shaky:
                problems.append("{}: Resolve reported the append as failed although the clip landed, and such a "
                                "clip can vanish when the project is saved".format(what))
            if landed:  # even half-labelled, the clip is there again, under a new id
                self.restored[uid] = landed[0]
                self.put_back.append("'{}'".format(clip.get("name") or "clip"))
        return problems

    def put_back_once(self, restore):
        """Run one clip's restore steps apart from the main undo list: (the error or None, the ids
        of the clips they placed)."""
        saved, self.done, error = self.done, [], None
        try:
            self.run_list(restore, top=False)
        except Exception as exc:
            error = exc
        finally:
            landed, self.done = [data for kind, data in self.done if kind == "append"], saved
        return error, landed

    def undo_inner(self, landed):
        """Remove the clips ``landed`` placed; returns what could not be removed."""
        saved, self.done = self.done, [("append", uid) for uid in landed]
        try:
            return self.undo()
        finally:
            self.done = saved

    def finish(self):
        if self.page and self.resolve.GetCurrentPage() != self.page:
            self.resolve.OpenPage(self.page)


def _after_undo(run, problems):
    """What the failure message says about the timeline after the undo."""
    problems = problems + ["{}: Resolve's API cannot put it back".format(words) for words in run.lost]
    if problems:
        return "Undoing it failed too ({}): check the timeline.".format("; ".join(problems))
    if run.put_back:
        many = len(run.put_back) > 1
        return ("The removed clip{} {} {} put back from {} media (same place, source range, name, colour and "
                "markers; {} grade, effects and transform are lost, and {}); the rest of the timeline is as it "
                "was before.".format("s" if many else "", ", ".join(run.put_back), "were" if many else "was",
                                     "their" if many else "its", "their" if many else "its",
                                     "they have new item ids" if many else "it has a new item id"))
    return "The timeline is as it was before."


def execute(resolve, steps):
    """Carry out PROTOCOL steps, each read back; on any failure undo all of them in reverse.

    Returns ``{placed, kept, audio, removed, tracks_added, tracks_deleted, audio_tracks_added,
    audio_tracks_deleted, notes}``: ``placed`` (``kept``: re-placed parts of shortened clips;
    ``audio``: the result's sound on audio tracks) are ``{id, track, start, duration, left_offset,
    media}``, track 1-based, frames absolute. Raises PlacementError saying which step failed, what
    the timeline is like after the undo and where the render is; its ``restored`` maps the id of
    each clip the undo put back from its media to the clip's new id (the take store follows it).
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
        error = PlacementError("Could not {}: {}. {}{}".format(
            (step or {}).get("what") or "place the result", getattr(exc, "message", exc), _after_undo(run, problems),
            " The render is kept at {}.".format(", ".join(renders)) if renders else ""))
        error.restored = dict(run.restored)
        raise error
    run.finish()
    return run.result
