"""A fake DaVinci Resolve for testing the ShotForge Resolve script without Resolve.

* Only methods listed in ``shared/reference/resolve_api.tsv`` exist on the fake's API objects. Any
  other capitalised attribute, a call with a number of arguments the reference does not allow, or
  keyword arguments (Resolve's API takes none) raises :class:`ApiViolation` and is recorded in
  :data:`VIOLATIONS`, which the tests' fixture checks after every test. The reference is parsed at
  test time.
* Timelines are real OpenTimelineIO timelines. ``Timeline.Export(path, resolve.EXPORT_OTIO)`` writes
  a real ``.otio`` of it in the shape Resolve's exporter uses (see ``resolve_api_notes.md``):
  ``global_start_time`` = the start timecode's frame, rates written as Resolve writes them (23.976,
  29.97: rounded floats), ``Resolve_OTIO`` metadata, media ranges in timeline-rate frames starting at
  the media's source timecode, the source timecode also in the media reference's metadata, and an
  (empty) audio track after the video tracks. ``MediaPool.AppendToTimeline`` edits that timeline
  (an overwrite edit at ``recordFrame`` on ``trackIndex``).
* Frames count like Resolve's: absolute (``GetStartFrame()`` is 86400 at 01:00:00:00 @ 24). The
  playhead and markers are set by the tests through plain (lower-case) helpers, which the API
  check does not see.
* ``AppendToTimeline``'s ``endFrame`` is exclusive for version >= 19 and inclusive for 18.x, as
  public reports describe.
"""

from __future__ import annotations

import itertools
import os
import re
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange

REFERENCE = Path(os.environ.get("SHOTFORGE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / \
    "reference" / "resolve_api.tsv"

#: Arguments the notes show as optional although the signature column lists them:
#: ``timeline.Export(path, resolve.EXPORT_OTIO)`` ("exportSubtype applies to some types (AAF/EDL)")
#: and ``timeline.AddTrack("video")`` (resolve_api_notes.md, "Re-import").
OPTIONAL_FROM_NOTES = {("Timeline", "Export"): 2, ("Timeline", "AddTrack"): 1}

VIOLATIONS: list[str] = []
CALLS: list[tuple[str, str, tuple]] = []


class ApiViolation(AssertionError):
    """The script used something the Resolve API reference does not document."""


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _arity(args: str) -> tuple[int, int]:
    """(fewest, most) positional arguments for one signature cell of the reference."""
    args = args.strip()
    if not args:
        return 0, 0
    if ") or " in args:  # "a, b) or SetMetadata(dict": two call forms
        forms = [form.split("(")[-1] for form in args.split(") or ")]
        counts = [_arity(form) for form in forms]
        return min(c[0] for c in counts), max(c[1] for c in counts)
    params = _split_top(args)
    required = [p for p in params if "=" not in p]
    return len(required), len(params)


def load_reference(path: Path = REFERENCE) -> tuple[dict[str, dict[str, tuple[int, int]]], set[str]]:
    """{class: {method: (min, max)}} and the constants (resolve.EXPORT_*) named in the notes column."""
    api: dict[str, dict[str, tuple[int, int]]] = {}
    constants: set[str] = set()
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["class", "method", "args"], header
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = (line.split("\t") + [""] * 5)[:5]
        cls, method, args, _returns, note = cells
        low, high = _arity(args)
        low = min(low, OPTIONAL_FROM_NOTES.get((cls, method), low))
        api.setdefault(cls, {})[method] = (low, high)
        constants.update(re.findall(r"\b(EXPORT_[A-Z0-9_]+)\b", note))
    return api, constants


API, CONSTANTS = load_reference()


def _violation(message: str) -> ApiViolation:
    VIOLATIONS.append(message)
    return ApiViolation(message)


class ApiObject:
    """Base of every fake API object: checks each capitalised attribute against the reference."""

    api_class = ""

    def __getattribute__(self, name: str):
        if not name[:1].isupper():
            return object.__getattribute__(self, name)
        cls = object.__getattribute__(self, "api_class")
        if name.isupper() and cls == "Resolve":
            if name in CONSTANTS:
                return name
            raise _violation(f"resolve.{name} is not a constant named in resolve_api.tsv")
        spec = API.get(cls, {}).get(name)
        if spec is None:
            raise _violation(f"{cls}.{name} is not in resolve_api.tsv")
        try:
            method = object.__getattribute__(self, name)
        except AttributeError:
            raise _violation(f"{cls}.{name} is documented but the fake does not implement it; "
                             "add it to tests/fake_resolve.py") from None
        low, high = spec

        def checked(*args, **kwargs):
            if kwargs:
                raise _violation(f"{cls}.{name} called with keyword arguments {sorted(kwargs)}")
            if not low <= len(args) <= high:
                raise _violation(f"{cls}.{name} takes {low}..{high} arguments per resolve_api.tsv, "
                                 f"called with {len(args)}")
            CALLS.append((cls, name, args))
            return method(*args)

        return checked


# ----------------------------------------------------------------------------- media
def _rate_text(rate: Fraction) -> str:
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def probe(path: str) -> dict | None:
    """What Resolve's media pool shows for a file: fps, frames, resolution, start TC."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            rate = Fraction(stream.average_rate or stream.guessed_rate)
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            tc = stream.metadata.get("timecode") or container.metadata.get("timecode") or "00:00:00:00"
            return {"fps": rate, "frames": int(frames), "width": stream.width, "height": stream.height,
                    "timecode": tc}
    except Exception:
        return None


_ids = itertools.count(1)


def _uid(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


class MediaPoolItem(ApiObject):
    api_class = "MediaPoolItem"

    def __init__(self, path: str, info: dict):
        self.path = str(path)
        self.info = info
        self.uid = _uid("mpi")

    @property
    def start_tc_frame(self) -> int:
        return timecode_frame(self.info["timecode"], self.info["fps"])

    def GetName(self):
        return os.path.basename(self.path)

    def GetUniqueId(self):
        return self.uid

    def GetMediaId(self):
        return self.uid

    def GetClipProperty(self, name=None):
        props = {
            "File Path": self.path, "Clip Name": os.path.basename(self.path), "FPS": _rate_text(self.info["fps"]),
            "Frames": str(self.info["frames"]), "Resolution": f"{self.info['width']}x{self.info['height']}",
            "Start TC": self.info["timecode"], "Type": "Video",
        }
        return props if name is None else props.get(name, "")


class Folder(ApiObject):
    api_class = "Folder"

    def __init__(self, name: str):
        self.name = name
        self.clips: list[MediaPoolItem] = []
        self.subfolders: list[Folder] = []
        self.uid = _uid("folder")

    def GetName(self):
        return self.name

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)

    def GetUniqueId(self):
        return self.uid

    def GetIsFolderStale(self):
        return False


def timecode_frame(tc: str, rate: Fraction) -> int:
    return round(otio.opentime.from_timecode(tc, float(rate)).value)


# ----------------------------------------------------------------------------- timeline
class TimelineItem(ApiObject):
    api_class = "TimelineItem"

    def __init__(self, timeline: "Timeline", uid: str):
        self.timeline = timeline
        self.uid = uid

    def __eq__(self, other):
        return isinstance(other, TimelineItem) and other.uid == self.uid

    def __hash__(self):
        return hash(self.uid)

    def _where(self):
        return self.timeline.locate(self.uid)

    def GetName(self):
        return self._where()[2].name

    def GetStart(self):
        return self.timeline.start_frame + self._where()[1]

    def GetEnd(self):
        _, start, clip = self._where()
        return self.timeline.start_frame + start + self.timeline.frames_of(clip.source_range.duration)

    def GetDuration(self):
        return self.timeline.frames_of(self._where()[2].source_range.duration)

    def GetLeftOffset(self):
        clip = self._where()[2]
        avail = clip.media_reference.available_range
        return self.timeline.frames_of(clip.source_range.start_time) - self.timeline.frames_of(avail.start_time)

    def GetRightOffset(self):
        clip = self._where()[2]
        avail = clip.media_reference.available_range
        end = self.timeline.frames_of(clip.source_range.start_time) + self.timeline.frames_of(clip.source_range.duration)
        return self.timeline.frames_of(avail.start_time) + self.timeline.frames_of(avail.duration) - end

    def GetMediaPoolItem(self):
        return self.timeline.media_items.get(self._where()[2].metadata["fake"]["media"])

    def GetTrackTypeAndIndex(self):
        return ["video", self._where()[0] + 1]

    def GetUniqueId(self):
        return self.uid

    def GetClipEnabled(self):
        return True


class Timeline(ApiObject):
    api_class = "Timeline"

    def __init__(self, resolve: "Resolve", name: str, rate: Fraction, start_tc: str = "01:00:00:00",
                 drop_frame: bool = False, width: int = 1920, height: int = 1080, video_tracks: int = 1,
                 rate_text: str | None = None, exact_rates_in_export: bool = False):
        self.resolve = resolve
        self.name = name
        self.rate = Fraction(rate)
        self.drop_frame = drop_frame
        self.width, self.height = width, height
        self.rate_text = rate_text or _rate_text(self.rate)
        self.exact_rates_in_export = exact_rates_in_export
        self.start_frame = timecode_frame(start_tc, self.rate)
        self.start_tc = start_tc
        self.otio = otio.schema.Timeline(name=name)
        for n in range(video_tracks):
            self.otio.tracks.append(otio.schema.Track(name=f"Video {n + 1}", kind=otio.schema.TrackKind.Video))
        self.otio.tracks.append(otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio))
        self.playhead = self.start_frame  # absolute frame
        self.markers: dict[int, dict] = {}
        self.media_items: dict[str, MediaPoolItem] = {}
        self.uid = _uid("timeline")

    # -- helpers for tests and the fake (lower-case: not API) ------------------------------
    @property
    def video_tracks(self) -> list[otio.schema.Track]:
        return [t for t in self.otio.tracks if t.kind == otio.schema.TrackKind.Video]

    def rt(self, frames: int) -> RT:
        return RT(frames, float(self.rate))

    def frames_of(self, time: RT) -> int:
        return round(time.value * self.rate / Fraction(time.rate))

    def rows(self, track_index: int) -> list[tuple[int, int, otio.schema.Clip]]:
        """(start, end, clip) of the clips on 0-based video track, in timeline frames from 0."""
        rows, position = [], 0
        for child in self.video_tracks[track_index]:
            length = self.frames_of(child.source_range.duration)
            if isinstance(child, otio.schema.Clip):
                rows.append((position, position + length, child))
            position += length
        return rows

    def locate(self, uid: str):
        for index in range(len(self.video_tracks)):
            for start, _end, clip in self.rows(index):
                if clip.metadata["fake"]["uid"] == uid:
                    return index, start, clip
        raise LookupError(f"timeline item {uid} is no longer on the timeline")

    def set_playhead(self, rel: int) -> None:
        self.playhead = self.start_frame + rel

    def snapshot(self) -> str:
        """The timeline's full state, to check that nothing changed."""
        return otio.adapters.write_to_string(self.otio, "otio_json")

    def clip(self, track: int, media: MediaPoolItem, source_in: int, record: int, frames: int,
             name: str | None = None) -> "TimelineItem":
        """Put ``frames`` frames of ``media`` from index ``source_in`` at timeline frame ``record``
        (from 0) on 0-based video ``track``: test setup, same edit as AppendToTimeline."""
        return self._overwrite(track, media, source_in, record, frames, name)

    def _make_clip(self, media: MediaPoolItem, source_in: int, frames: int, name: str | None) -> otio.schema.Clip:
        tc0 = media.start_tc_frame  # media ranges in timeline-rate frames, from the source timecode
        ref = otio.schema.ExternalReference(
            target_url=media.path,
            available_range=TR(self.rt(tc0), self.rt(media.info["frames"])),
            metadata={"Resolve_OTIO": {"Source Timecode": media.info["timecode"]}},
        )
        ref.name = os.path.basename(media.path)
        uid = _uid("item")
        clip = otio.schema.Clip(name=name or os.path.basename(media.path), media_reference=ref,
                                source_range=TR(self.rt(tc0 + source_in), self.rt(frames)),
                                metadata={"fake": {"uid": uid, "media": media.uid},
                                          "Resolve_OTIO": {"Link Group ID": next(_ids)}})
        self.media_items[media.uid] = media
        return clip

    def _overwrite(self, track: int, media: MediaPoolItem, source_in: int, record: int, frames: int,
                   name: str | None = None) -> "TimelineItem":
        new = self._make_clip(media, source_in, frames, name)
        self._replace_range(track, record, record + frames, new)
        return TimelineItem(self, new.metadata["fake"]["uid"])

    def _replace_range(self, track: int, first: int, last: int, new: otio.schema.Clip | None) -> None:
        kept = []
        for start, end, clip in self.rows(track):
            if end <= first or start >= last:
                kept.append((start, end, clip))
                continue
            if start < first:  # the head stays
                kept.append((start, first, self._trimmed(clip, 0, first - start, keep_uid=True)))
            if end > last:  # the tail stays, as a new item
                kept.append((last, end, self._trimmed(clip, last - start, end - last, keep_uid=start >= first)))
        if new is not None:
            kept.append((first, last, new))
        kept.sort(key=lambda row: row[0])
        target = self.video_tracks[track]
        target.clear()
        position = 0
        for start, end, clip in kept:
            if start > position:
                target.append(otio.schema.Gap(source_range=TR(self.rt(0), self.rt(start - position))))
            target.append(clip)
            position = end

    def _trimmed(self, clip: otio.schema.Clip, offset: int, frames: int, keep_uid: bool) -> otio.schema.Clip:
        part = clip.deepcopy()
        start = self.frames_of(clip.source_range.start_time) + offset
        part.source_range = TR(self.rt(start), self.rt(frames))
        if not keep_uid:
            meta = dict(part.metadata["fake"])
            meta["uid"] = _uid("item")
            part.metadata["fake"] = meta
        return part

    def items(self, track_index: int) -> list[TimelineItem]:
        return [TimelineItem(self, clip.metadata["fake"]["uid"]) for _s, _e, clip in self.rows(track_index)]

    # -- API -------------------------------------------------------------------------------
    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.uid

    def GetStartFrame(self):
        return self.start_frame

    def GetEndFrame(self):
        length = max((self.frames_of(t.duration()) for t in self.video_tracks), default=0)
        return self.start_frame + length

    def GetStartTimecode(self):
        return self.start_tc

    def GetSetting(self, name):
        return {
            "timelineFrameRate": self.rate_text,
            "timelineDropFrameTimecode": "1" if self.drop_frame else "0",
            "timelineResolutionWidth": str(self.width),
            "timelineResolutionHeight": str(self.height),
        }.get(name, "")

    def GetTrackCount(self, kind):
        if kind == "video":
            return len(self.video_tracks)
        if kind == "audio":
            return len([t for t in self.otio.tracks if t.kind == otio.schema.TrackKind.Audio])
        return 0

    def GetTrackName(self, kind, index):
        tracks = self.video_tracks if kind == "video" else []
        return tracks[index - 1].name if 0 < index <= len(tracks) else ""

    def GetItemListInTrack(self, kind, index):
        if kind != "video" or not 0 < index <= len(self.video_tracks):
            return []
        return self.items(index - 1)

    def GetCurrentTimecode(self):
        return otio.opentime.to_timecode(self.rt(self.playhead), float(self.rate), self.drop_frame)

    def SetCurrentTimecode(self, timecode):
        self.playhead = timecode_frame(timecode, self.rate)
        return True

    def GetCurrentVideoItem(self):
        rel = self.playhead - self.start_frame
        for index in range(len(self.video_tracks) - 1, -1, -1):
            for start, end, clip in self.rows(index):
                if start <= rel < end:
                    return TimelineItem(self, clip.metadata["fake"]["uid"])
        return None

    def AddTrack(self, kind, *options):
        if kind != "video":
            return False
        position = len(self.video_tracks)  # above the last video track (audio tracks follow)
        track = otio.schema.Track(name=f"Video {position + 1}", kind=otio.schema.TrackKind.Video)
        self.otio.tracks.insert(position, track)
        return True

    def DeleteTrack(self, kind, index):
        if kind != "video" or not 0 < index <= len(self.video_tracks):
            return False
        track = self.video_tracks[index - 1]
        del self.otio.tracks[list(self.otio.tracks).index(track)]
        return True

    def DeleteClips(self, items, ripple=False):
        ok = True
        for item in items:
            try:
                track, start, clip = self.locate(item.uid)
            except LookupError:
                ok = False
                continue
            self._replace_range(track, start, start + self.frames_of(clip.source_range.duration), None)
        return ok

    def AddMarker(self, frame_id, color, name, note, duration, custom_data):
        if frame_id in self.markers:
            return False
        self.markers[int(frame_id)] = {"color": color, "duration": int(duration), "note": note, "name": name,
                                       "customData": custom_data}
        return True

    def GetMarkers(self):
        return {float(k): dict(v) for k, v in self.markers.items()}  # Resolve's keys come back as floats

    def Export(self, path, export_type, *subtype):
        if export_type != "EXPORT_OTIO":
            return False
        Path(path).write_text(self.resolve_flavoured_json(), encoding="utf-8")
        return True

    def resolve_flavoured_json(self) -> str:
        """The timeline as Resolve's OTIO exporter writes it."""
        rate = float(self.rate) if self.exact_rates_in_export else float(_rate_text(self.rate))
        timeline = self.otio.deepcopy()
        timeline.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
        timeline.global_start_time = RT(self.start_frame, rate)
        for track in timeline.tracks:
            track.metadata["Resolve_OTIO"] = {"Locked": False}
            for child in track:
                child.source_range = TR(RT(child.source_range.start_time.value, rate),
                                        RT(child.source_range.duration.value, rate))
                if isinstance(child, otio.schema.Clip):
                    if "fake" in child.metadata:
                        del child.metadata["fake"]
                    ref = child.media_reference
                    ref.available_range = TR(RT(ref.available_range.start_time.value, rate),
                                             RT(ref.available_range.duration.value, rate))
        for frame, marker in sorted(self.markers.items()):
            timeline.tracks.markers.append(otio.schema.Marker(
                name=marker["name"], marked_range=TR(RT(frame, rate), RT(marker["duration"], rate)),
                metadata={"Resolve_OTIO": {"Note": marker["note"]}}))
        return otio.adapters.write_to_string(timeline, "otio_json")


# ----------------------------------------------------------------------------- project
class MediaPool(ApiObject):
    api_class = "MediaPool"

    def __init__(self, project: "Project"):
        self.project = project
        self.root = Folder("Master")
        self.current = self.root
        self.appends: list[list[dict]] = []

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
        (folder or self.root).clips.append(item)
        return item

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
            info = probe(path) if os.path.isfile(path) else None
            if info is None:
                continue
            item = MediaPoolItem(path, info)
            self.current.clips.append(item)
            out.append(item)
        return out

    def AppendToTimeline(self, clip_infos):
        timeline = self.project.current_timeline
        self.appends.append([dict(ci) if isinstance(ci, dict) else ci for ci in clip_infos])
        placed = []
        exclusive = self.project.resolve.version[0] >= 19
        for info in clip_infos:
            if not isinstance(info, dict):
                return []
            allowed = {"mediaPoolItem", "startFrame", "endFrame", "mediaType", "trackIndex", "recordFrame"}
            unknown = set(info) - allowed
            if unknown:
                raise _violation(f"AppendToTimeline clipInfo keys {sorted(unknown)} are not documented")
            media = info.get("mediaPoolItem")
            if not isinstance(media, MediaPoolItem):
                return []
            for key in ("startFrame", "endFrame", "trackIndex", "recordFrame", "mediaType"):
                if key in info and (not isinstance(info[key], int) or isinstance(info[key], bool)):
                    return []  # Resolve 21 rejects fractional values (public reports)
            first = info.get("startFrame", 0)
            last = info.get("endFrame", media.info["frames"] - (0 if exclusive else 1))
            frames = last - first if exclusive else last - first + 1
            track = info.get("trackIndex", 1)
            if frames < 1 or first < 0 or first + frames > media.info["frames"]:
                return []
            if not 0 < track <= len(timeline.video_tracks):
                return []
            record = info.get("recordFrame", timeline.GetEndFrame()) - timeline.start_frame
            if record < 0:
                return []
            placed.append(timeline._overwrite(track - 1, media, first, record, frames))
        return placed


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
        self.project: Project | None = Project(resolve, "ShotForge test")

    def GetCurrentProject(self):
        return self.project


class Resolve(ApiObject):
    api_class = "Resolve"

    def __init__(self, version=(19, 1, 3, 7, "")):
        self.version = tuple(version)
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
        return "DaVinci Resolve Studio"

    def GetCurrentPage(self):
        return "edit"

    def Fusion(self):
        return None


def reset_log() -> None:
    VIOLATIONS.clear()
    CALLS.clear()
