"""Carry out PROTOCOL.md steps on a live Resolve: every edit read back, all of them undone in
reverse on any mismatch. ShotForge.lua implements the same executor for the Lua entry.

Measured Resolve (resolve_api_notes.md): an append over an occupied range is dropped, sometimes
returning an item with an empty id; ``DeleteClips`` works on the Edit page only.
"""

import os

from .errors import PlacementError
from .place import BIN_NAME

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
