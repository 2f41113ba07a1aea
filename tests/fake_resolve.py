"""A fake DaVinci Resolve for testing the ShotForge Resolve script without Resolve, behaving as
real Resolve is measured to (``resolve_api_notes.md``, "Measured behaviour of real Resolve"):
not a forgiving NLE.

* The API check (only calls in ``resolve_api.tsv``, arity, no keywords, version-gated calls
  missing from ``dir()``) is in :mod:`fake_resolve_api`; the timeline, its items (clips, titles,
  generators, adjustment and compound clips, transitions; retimed, reversed and disabled clips)
  in :mod:`fake_resolve_timeline`, the OTIO export in :mod:`fake_resolve_export`. This module has
  the media pool, project
  and Resolve objects, and re-exports the rest.
* ``MediaPool.AppendToTimeline`` never overwrites: a clipInfo whose record range overlaps any
  item already on that track (of any kind, transitions included; ``mediaType`` 1 = a video track,
  2 = an audio track, see :mod:`fake_resolve_timeline` for what is assumed of audio) is dropped
  silently, and the
  returned list holds, at its place, an item whose ``GetUniqueId()`` is "" and which is on no
  track. ``endFrame`` is exclusive (``duration = endFrame - startFrame``, measured 19.1.3.7 to
  21.x); for 18.x the fake keeps it inclusive, as the older public reports say (unmeasured).
  ``startFrame``/``endFrame`` are media frames; with media at another rate than the timeline the
  record duration is ``floor(source frames * timeline rate / media rate)`` (Resolve floors).
  :meth:`MediaPool.misplace_next_append` makes the next append land wrong (late or short), so a
  read-back mismatch can be tested (:meth:`MediaPool.script_appends` says what each of the next
  appends does); :meth:`MediaPool.fail_next_append` makes the next append land
  and then answer ``[]`` or raise: such placements stay on the timeline until
  ``ProjectManager.SaveProject``, which removes them (measured: they "can vanish at the next
  project save"; the fake makes "can" always).
* ``ImportMedia`` lands in the current folder; a file already in the pool returns the existing clip.
* Pages: ``GetCurrentPage``/``OpenPage`` keep the page; ``Timeline.DeleteClips`` returns False
  off the Edit page.
* Frames count like Resolve's: absolute (``GetStartFrame()`` is 86400 at 01:00:00:00 @ 24). The
  playhead, marks, selection and the timeline's items are set by the tests through plain
  (lower-case) helpers, which the API check does not see.
"""

from __future__ import annotations

import os
from fractions import Fraction
from math import floor
from pathlib import Path

from fake_resolve_api import (API, CALLS, CONSTANTS, GATES, VIOLATIONS, ApiObject, ApiViolation, Folder,
                              MediaPoolItem, _violation, frame_timecode, load_reference, probe, rate_text,
                              timecode_frame, version_tuple)
from fake_resolve_export import export_otio
from fake_resolve_timeline import CLIP_COLORS, MARKER_COLORS, PAGES, Entry, Timeline, TimelineItem

__all__ = [  # the fake's whole surface, for the tests (this module re-exports the other three)
    "API", "CALLS", "CONSTANTS", "GATES", "VIOLATIONS", "ApiObject", "ApiViolation", "Folder", "MediaPoolItem",
    "frame_timecode", "load_reference", "probe", "rate_text", "timecode_frame", "version_tuple", "CLIP_COLORS",
    "MARKER_COLORS", "PAGES", "Entry", "Timeline", "TimelineItem", "export_otio", "MediaPool", "Project", "ProjectManager",
    "Resolve", "reset_log",
]


class MediaPool(ApiObject):
    api_class = "MediaPool"

    def __init__(self, project: "Project"):
        self.project = project
        self.resolve = project.resolve
        self.root = Folder("Master")
        self.current = self.root
        self.appends: list[list[dict]] = []
        self.misplace: dict | None = None
        self.fail_after_landing: str | None = None
        self.scripted: list[str | None] = []

    def all_clips(self) -> list[MediaPoolItem]:
        out, stack = [], [self.root]
        while stack:
            folder = stack.pop()
            out.extend(folder.clips)
            stack.extend(folder.subfolders)
        return out

    def add(self, path: str | Path, folder: Folder | None = None) -> MediaPoolItem:
        """Test setup: a media pool item for ``path`` (in the root bin)."""
        info = probe(str(path))
        assert info, f"cannot read {path}"
        item = MediaPoolItem(str(path), info)
        item.resolve = self.resolve
        (folder or self.root).clips.append(item)
        return item

    def misplace_next_append(self, late: int = 0, short: int = 0) -> None:
        """Test hook: the next clipInfo that lands does so ``late`` frames later and ``short``
        frames shorter than asked (as a mixed-rate floor or a wrong guess would)."""
        self.misplace = {"late": int(late), "short": int(short)}

    def fail_next_append(self, how: str = "empty") -> None:
        """Test hook: the next AppendToTimeline lands its clips, then returns [] (``"empty"``) or
        raises (``"raise"``)."""
        assert how in ("empty", "raise"), how
        self.fail_after_landing = how

    def script_appends(self, *outcomes) -> None:
        """Test hook: what each of the next AppendToTimeline calls does, in order: None (as
        asked), "short" (lands a frame short), "dropped" (places nothing, answers []), "empty" or
        "raise" (lands, then answers [] or raises, as :meth:`fail_next_append`)."""
        assert all(o in (None, "short", "dropped", "empty", "raise") for o in outcomes), outcomes
        self.scripted = list(outcomes)

    def GetRootFolder(self):
        return self.root

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        if not isinstance(folder, Folder):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, folder, name):
        sub = Folder(name)
        folder.subfolders.append(sub)
        return sub

    def RefreshFolders(self):
        return True

    def ImportMedia(self, items):
        out = []
        for path in items:
            if not isinstance(path, str):
                raise _violation("MediaPool.ImportMedia: this script should pass file paths")
            known = [c for c in self.all_clips()
                     if c.path and os.path.realpath(c.path) == os.path.realpath(path)]
            if known:  # measured: importing a file already in the pool returns the existing clip
                out.append(known[0])
                continue
            info = probe(path) if os.path.isfile(path) else None
            if info is None:
                continue
            item = MediaPoolItem(path, info)
            item.resolve = self.resolve
            self.current.clips.append(item)
            out.append(item)
        return out

    def AppendToTimeline(self, clip_infos):
        timeline = self.project.current_timeline
        self.appends.append([dict(ci) if isinstance(ci, dict) else ci for ci in clip_infos])
        outcome = self.scripted.pop(0) if self.scripted else None
        if outcome == "dropped":
            return []
        if outcome == "short":
            self.misplace_next_append(short=1)
        elif outcome:
            self.fail_next_append(outcome)
        placed = []
        exclusive = version_tuple(self.resolve.version) >= (19,)
        for info in clip_infos:
            if not isinstance(info, dict):
                return []
            allowed = {"mediaPoolItem", "startFrame", "endFrame", "mediaType", "trackIndex", "recordFrame"}
            unknown = set(info) - allowed
            if unknown:
                raise _violation(f"AppendToTimeline clipInfo keys {sorted(unknown)} are not documented")
            media = info.get("mediaPoolItem")
            if not isinstance(media, MediaPoolItem) or not media.path:
                return []
            for key in ("startFrame", "endFrame", "trackIndex", "recordFrame", "mediaType"):
                if key in info and (not isinstance(info[key], int) or isinstance(info[key], bool)):
                    return []  # Resolve 21 rejects fractional values (public reports)
            first = info.get("startFrame", 0)
            last = info.get("endFrame", media.info["frames"] - (0 if exclusive else 1))
            source_frames = last - first if exclusive else last - first + 1
            track = info.get("trackIndex", 1)
            kind = {1: "video", 2: "audio"}.get(info.get("mediaType", 1))
            if kind is None:
                return []
            if source_frames < 1 or first < 0 or first + source_frames > media.info["frames"]:
                return []
            if not 0 < track <= len(timeline.track_list(kind)):
                return []
            record = info.get("recordFrame", timeline.GetEndFrame()) - timeline.start_frame
            if record < 0:
                return []
            frames = floor(Fraction(source_frames) * timeline.rate / media.info["fps"])
            if self.misplace:
                record += self.misplace["late"]
                frames -= self.misplace["short"]
                self.misplace = None
            silent = kind == "audio" and not media.info.get("audio")  # assumed: dropped like an overlap
            if frames < 1 or silent or timeline.overlapping(track - 1, record, record + frames, kind):
                placed.append(TimelineItem(timeline, ""))  # dropped silently (measured)
                continue
            entry = Entry("clip" if kind == "video" else "audio", media.name, record, frames, media, first,
                          source_frames)
            timeline.track_list(kind)[track - 1]["entries"].append(entry)
            placed.append(timeline.item(entry))
        how, self.fail_after_landing = self.fail_after_landing, None
        if how:
            timeline.failed_appends.extend(item.entry() for item in placed if item.GetUniqueId())
        if how == "raise":
            raise RuntimeError("AppendToTimeline: internal error")
        return [] if how == "empty" else placed


class Project(ApiObject):
    api_class = "Project"

    def __init__(self, resolve: "Resolve", name: str):
        self.resolve = resolve
        self.name = name
        self.media_pool = MediaPool(self)
        self.timelines: list[Timeline] = []
        self.current_timeline: Timeline | None = None

    def new_timeline(self, name: str, rate, **kwargs) -> Timeline:
        timeline = Timeline(self.resolve, name, Fraction(rate), **kwargs)
        self.timelines.append(timeline)
        self.current_timeline = timeline
        return timeline

    def GetName(self):
        return self.name

    def GetMediaPool(self):
        return self.media_pool

    def GetTimelineCount(self):
        return len(self.timelines)

    def GetTimelineByIndex(self, index):
        return self.timelines[index - 1] if 0 < index <= len(self.timelines) else None

    def GetCurrentTimeline(self):
        return self.current_timeline

    def SetCurrentTimeline(self, timeline):
        if timeline not in self.timelines:
            return False
        self.current_timeline = timeline
        return True

    def GetSetting(self, name):
        return self.current_timeline.GetSetting(name) if self.current_timeline else ""


class ProjectManager(ApiObject):
    api_class = "ProjectManager"

    def __init__(self, resolve: "Resolve"):
        self.resolve = resolve
        self.project: Project | None = Project(resolve, "ShotForge test")

    def GetCurrentProject(self):
        return self.project

    def SaveProject(self):
        """Saving drops what an append that failed had placed (measured: it "can vanish")."""
        for timeline in self.project.timelines if self.project else []:
            for entry in timeline.failed_appends:
                found = timeline.find_any(entry.uid)
                if found:
                    kind, track, _ = found
                    timeline.track_list(kind)[track]["entries"].remove(entry)
            timeline.failed_appends.clear()
        return True


class Resolve(ApiObject):
    """``product``: "DaVinci Resolve" (the free edition) or "DaVinci Resolve Studio"; ``page``:
    the page the editor is on; ``lacks``: calls this build does not have ("TimelineItem.SetName")."""

    api_class = "Resolve"

    def __init__(self, version=(19, 1, 3, 7, ""), product: str = "DaVinci Resolve Studio", page: str = "edit",
                 lacks=()):
        self.resolve = self
        self.lacks = set(lacks)  # "Class.Method" this build does not have (see fake_resolve_api)
        self.version = tuple(version)
        self.product = product
        self.page = page
        self.manager = ProjectManager(self)

    @property
    def project(self) -> Project:
        return self.manager.project

    def GetProjectManager(self):
        return self.manager

    def GetVersion(self):
        return list(self.version)

    def GetVersionString(self):
        return ".".join(str(v) for v in self.version if v != "")

    def GetProductName(self):
        return self.product

    def GetCurrentPage(self):
        return self.page

    def OpenPage(self, name):
        if name not in PAGES:
            return False
        self.page = name
        return True

    def Fusion(self):
        return None


def reset_log() -> None:
    VIOLATIONS.clear()
    CALLS.clear()
