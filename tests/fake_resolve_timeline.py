"""The fake Resolve's timeline and its items, as real Resolve is measured to behave
(``resolve_api_notes.md``, "Measured behaviour of real Resolve").

Model: each video track holds :class:`Entry` records (record frames counted from the timeline's
first frame); the API's ``TimelineItem`` objects are thin handles looking their entry up by id.
Kinds of entries:

* ``clip``: media from a file. ``source_in`` is the lowest media frame used (0-based, media
  frames), ``span`` how many media frames the item plays, ``speed`` a Fraction (negative: reverse).
  The record duration is ``frames``; ``span = ceil(frames * |speed| * media rate / timeline
  rate)``, at least 1 (``otio_tools.retime``'s convention). Speed 0 is a held frame.
* ``title`` / ``generator``: ``GetMediaPoolItem()`` None, ``GetProperty()`` a full dict.
* ``adjustment``: a media pool item without a "File Path".
* ``compound``: a media pool item without a "File Path"; ``GetCurrentVideoItem()`` returns it.
* ``transition``: named after the transition ("Cross Dissolve"), centred on a cut,
  ``GetMediaPoolItem()`` None, ``GetProperty()`` {}.
* ``audio``: the sound of a file on an AUDIO track (``GetItemListInTrack("audio", n)``), counted
  like a clip (record frames, ``source_in`` and ``span`` in the media's video frames).

Audio tracks (the reference documents ``GetTrackCount("audio")``, ``GetItemListInTrack("audio",
n)``, ``AddTrack(trackType, subTrackType)``, ``DeleteTrack`` and ``AppendToTimeline``'s
``mediaType`` 2 = audio only; nothing about audio is measured): a new timeline has one, "Audio 1".
Assumed, the harsher guess each time: an audio-only append over an occupied range of its audio
track is dropped like a video one (an item with an empty id, on no track); an audio-only append of
media without sound is dropped the same way; ``AddTrack("audio")`` without a sub-track type
("mono", "stereo", "5.1", …, "adaptive1".."adaptive24") adds nothing and returns False; the
frames of an audio item count as a video item's do (record frames, ``startFrame``/``endFrame`` in
the media's video frames); ``DeleteClips`` removes an audio item as it does a video one; audio
items answer ``GetProperty()`` with {} (nothing of them is read) and take no markers.

Getter conventions chosen where the measurements are silent (marked "chosen"):

* An item that is not on the timeline (the empty-id item a dropped append returns, or one that
  was deleted) answers every getter with None and every setter with False (chosen: a dead
  object); ``GetUniqueId()`` stays what it was ("" for a dropped append).
* ``GetLeftOffset()``/``GetRightOffset()``: media frames for an un-retimed clip; on a retimed
  clip the record (warped) domain, i.e. the media frames divided by ``|speed|``, floored (measured:
  "in the warped (record) domain"). A reversed clip's left offset counts from the media's first
  frame too (chosen).
* ``GetSourceStartFrame()``/``GetSourceEndFrame()`` count media frames from the media's start
  timecode (davinci-resolve-mcp #147: "timecode-absolute on media with a non-zero start TC"),
  end exclusive (davinci-resolve-mcp #35: "Resolve's exclusive source boundary"); a reversed clip
  has start > end (start = the exclusive top, end = the lowest frame): ``|end - start|`` is the
  span, so span / duration is the speed (measured).
* ``DeleteClips`` also removes a transition attached to a deleted clip (one over its first or last
  frame's edge): chosen, the harsher behaviour, until Resolve's is measured.
* Item markers: ``frameId`` counts from the item's first record frame (chosen), within its duration.
* Timeline markers: ``frameId`` counts from the timeline's first frame (davinci-resolve-mcp #66).
* ``GetMarkInOut()`` (19.1+): frames counted from the timeline's first frame, ``out`` the LAST
  marked frame (inclusive). Sources: the DaVinciResolveScript stubs quoted in davinci-resolve-mcp
  #200 ("Record frame relative to timeline start", the same space as the render range's
  MarkIn/MarkOut, where MarkIn == MarkOut renders one frame, i.e. out is inclusive).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from math import ceil
from pathlib import Path

from fake_resolve_api import ApiObject, MediaPoolItem, frame_timecode, timecode_frame, uid
from fake_resolve_api import rate_text as _rate_text

#: ``TimelineItem.SetClipColor`` accepts exactly these (measured); anything else returns False.
CLIP_COLORS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue", "Purple",
               "Violet", "Pink", "Tan", "Beige", "Brown", "Chocolate")
#: Marker colours: a different set (Resolve's marker colour menu).
MARKER_COLORS = ("Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender",
                 "Sky", "Mint", "Lemon", "Sand", "Cocoa", "Cream")
PAGES = ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver")
NO_MEDIA_KINDS = ("title", "generator", "transition")
MEDIA_KINDS = ("clip", "audio")  # items playing frames of a file
#: ``AddTrack("audio", subTrackType)``: the audio track formats Resolve's UI offers.
AUDIO_SUB_TYPES = ("mono", "stereo", "5.1", "5.1film", "7.1", "7.1film") + tuple(
    "adaptive{}".format(n) for n in range(1, 25))
#: What ``GetProperty()`` returns for a video item (a subset of Resolve's keys; none for speed).
ITEM_PROPERTIES = {"Pan": 0.0, "Tilt": 0.0, "ZoomX": 1.0, "ZoomY": 1.0, "RotationAngle": 0.0,
                   "CropLeft": 0.0, "CropRight": 0.0, "CropTop": 0.0, "CropBottom": 0.0, "Opacity": 100.0,
                   "CompositeMode": 0, "FlipX": False, "FlipY": False}


class Entry:
    """One item on a track (plain data; not API)."""

    def __init__(self, kind, name, start, frames, media=None, source_in=0, span=None, speed=Fraction(1),
                 enabled=True, generator=""):
        self.uid = uid("item")
        self.kind = kind
        self.name = name
        self.start = int(start)
        self.frames = int(frames)
        self.media = media
        self.source_in = int(source_in)
        self.span = int(frames if span is None else span)
        self.speed = Fraction(speed)
        self.enabled = enabled
        self.generator = generator
        self.color = ""
        self.markers: dict[int, dict] = {}
        self.properties = {} if kind in ("transition", "audio") else dict(ITEM_PROPERTIES)

    @property
    def end(self) -> int:
        return self.start + self.frames

    def state(self) -> dict:
        """Everything an editor could see of the item (its id excluded: a restored clip is a new item)."""
        return {"kind": self.kind, "name": self.name, "start": self.start, "frames": self.frames,
                "media": self.media.path if self.media else None, "source_in": self.source_in,
                "span": self.span, "speed": str(self.speed), "enabled": self.enabled, "color": self.color,
                "markers": {str(k): v for k, v in sorted(self.markers.items())}}


class MarkerSet:
    """Resolve's marker calls, shared by Timeline and TimelineItem (``self._markers()`` is the dict
    or None for a dead item, ``self._marker_frames()`` the frames a marker may sit on)."""

    def AddMarker(self, frame_id, color, name, note, duration, custom_data):
        markers = self._markers()
        if markers is None or color not in MARKER_COLORS:
            return False
        frame = int(frame_id)
        if frame != frame_id or frame in markers or int(duration) < 1 or not self._marker_fits(frame):
            return False
        markers[frame] = {"color": color, "duration": int(duration), "note": note, "name": name,
                          "customData": custom_data}
        return True

    def GetMarkers(self):
        markers = self._markers()
        if markers is None:
            return None
        return {float(k): dict(v) for k, v in sorted(markers.items())}  # Resolve's keys come back as floats

    def GetMarkerByCustomData(self, custom_data):
        for frame, marker in sorted((self._markers() or {}).items()):
            if marker["customData"] == custom_data:
                return {float(frame): dict(marker)}
        return {}

    def UpdateMarkerCustomData(self, frame_id, custom_data):
        marker = (self._markers() or {}).get(int(frame_id))
        if marker is None:
            return False
        marker["customData"] = custom_data
        return True

    def GetMarkerCustomData(self, frame_id):
        return ((self._markers() or {}).get(int(frame_id)) or {}).get("customData", "")

    def DeleteMarkersByColor(self, color):
        markers = self._markers()
        if markers is None:
            return False
        doomed = [k for k, v in markers.items() if color in ("All", v["color"])]
        for key in doomed:
            del markers[key]
        return bool(doomed)

    def DeleteMarkerAtFrame(self, frame_num):
        markers = self._markers()
        if markers is None or int(frame_num) not in markers:
            return False
        del markers[int(frame_num)]
        return True

    def DeleteMarkerByCustomData(self, custom_data):
        markers = self._markers()
        for frame, marker in sorted((markers or {}).items()):
            if marker["customData"] == custom_data:
                del markers[frame]
                return True
        return False


class TimelineItem(MarkerSet, ApiObject):
    api_class = "TimelineItem"

    def __init__(self, timeline: "Timeline", item_id: str):
        self.timeline = timeline
        self.resolve = timeline.resolve
        self.uid = item_id

    def __eq__(self, other):
        return isinstance(other, TimelineItem) and other.uid == self.uid and other.timeline is self.timeline

    def __hash__(self):
        return hash(self.uid)

    def entry(self) -> Entry | None:
        found = self.timeline.find_any(self.uid)
        return found[2] if found else None

    def _markers(self):
        entry = self.entry()
        return entry.markers if entry and entry.kind != "audio" else None

    def _marker_fits(self, frame):
        return 0 <= frame < self.entry().frames

    def _get(self, read):
        entry = self.entry()
        return None if entry is None else read(entry)

    # -- API -------------------------------------------------------------------------------
    def GetUniqueId(self):
        return self.uid

    def GetName(self):
        return self._get(lambda e: e.name)

    def SetName(self, name):
        entry = self.entry()
        if entry is None or entry.kind == "transition" or not str(name):
            return False
        entry.name = str(name)
        return True

    def GetStart(self):
        return self._get(lambda e: self.timeline.start_frame + e.start)

    def GetEnd(self):
        return self._get(lambda e: self.timeline.start_frame + e.end)

    def GetDuration(self):
        return self._get(lambda e: e.frames)

    def _warped(self, media_frames: int, entry: Entry) -> int:
        if entry.speed in (0, 1):  # a held frame: its offset stays in media frames (chosen)
            return media_frames
        return int(media_frames / abs(entry.speed))

    def GetLeftOffset(self):
        return self._get(lambda e: self._warped(e.source_in, e) if e.kind in MEDIA_KINDS else 0)

    def GetRightOffset(self):
        def right(e):
            if e.kind not in MEDIA_KINDS:
                return 0
            return self._warped(e.media.info["frames"] - e.source_in - e.span, e)
        return self._get(right)

    def GetSourceStartFrame(self):
        def first(e):  # measured: can be one frame off; ``Timeline.source_start_off`` makes it so
            if e.kind not in MEDIA_KINDS:
                return 0
            low = e.media.start_tc_frame + e.source_in
            return (low + e.span if e.speed < 0 else low) + self.timeline.source_start_off
        return self._get(first)

    def GetSourceEndFrame(self):
        def last(e):
            if e.kind not in MEDIA_KINDS:
                return 0
            low = e.media.start_tc_frame + e.source_in
            return low if e.speed < 0 else low + e.span
        return self._get(last)

    def GetMediaPoolItem(self):
        return self._get(lambda e: None if e.kind in NO_MEDIA_KINDS else e.media)

    def GetTrackTypeAndIndex(self):
        found = self.timeline.find_any(self.uid)
        return [found[0], found[1] + 1] if found else None

    def GetClipEnabled(self):
        return self._get(lambda e: e.enabled)

    def SetClipEnabled(self, enabled):
        entry = self.entry()
        if entry is None:
            return False
        entry.enabled = bool(enabled)
        return True

    def GetProperty(self, key=None):
        entry = self.entry()
        if entry is None:
            return None
        return dict(entry.properties) if key is None else entry.properties.get(key)

    def SetProperty(self, key, value):
        entry = self.entry()
        if entry is None or key not in entry.properties:
            return False
        entry.properties[key] = value
        return True

    def GetClipColor(self):
        return self._get(lambda e: e.color)

    def SetClipColor(self, color):
        entry = self.entry()
        if entry is None or color not in CLIP_COLORS:
            return False
        if entry.kind in ("clip", "compound", "adjustment", "audio"):
            entry.color = color
        return True  # titles, generators (and transitions, chosen): True without effect (measured)

    def ClearClipColor(self):
        entry = self.entry()
        if entry is None:
            return False
        entry.color = ""
        return True


class Timeline(MarkerSet, ApiObject):
    api_class = "Timeline"

    def __init__(self, resolve, name: str, rate: Fraction, start_tc: str = "01:00:00:00",
                 drop_frame: bool = False, width: int = 1920, height: int = 1080, video_tracks: int = 1,
                 rate_text: str | None = None, exact_rates_in_export: bool = False, audio_tracks: int = 1):
        self.resolve = resolve
        self.name = name
        self.rate = Fraction(rate)
        self.drop_frame = drop_frame
        self.width, self.height = width, height
        self.rate_text = rate_text or _rate_text(self.rate)
        self.exact_rates_in_export = exact_rates_in_export
        self.start_frame = timecode_frame(start_tc, self.rate)
        self.start_tc = start_tc
        self.tracks: list[dict] = [{"name": f"Video {n + 1}", "entries": []} for n in range(video_tracks)]
        self.audio_tracks: list[dict] = [{"name": f"Audio {n + 1}", "entries": [], "sub_type": "stereo"}
                                         for n in range(audio_tracks)]
        self.playhead = self.start_frame  # absolute frame
        self.markers: dict[int, dict] = {}
        self.marks: dict[str, dict] = {}   # {"video": {"in": i, "out": o}, ...}, relative, out inclusive
        self.selected: list[str] = []
        self.uid = uid("timeline")
        self.failed_appends: list[Entry] = []  # placed by an append that failed: gone at the next save
        self.source_start_off = 0  # frames GetSourceStartFrame is off by (measured: it can be one)

    # -- helpers for tests and the fake (lower-case: not API) ------------------------------
    def find(self, item_id: str):
        """(0-based video track, entry) of a video item, or None."""
        found = self.find_any(item_id)
        return found[1:] if found and found[0] == "video" else None

    def find_any(self, item_id: str):
        """("video" | "audio", 0-based track, entry) of any item, or None."""
        for kind, tracks in (("video", self.tracks), ("audio", self.audio_tracks)):
            for index, track in enumerate(tracks):
                for entry in track["entries"]:
                    if entry.uid == item_id and item_id:
                        return kind, index, entry
        return None

    def track_list(self, kind: str) -> list[dict] | None:
        return {"video": self.tracks, "audio": self.audio_tracks}.get(kind)

    def entries(self, track: int, transitions: bool = True) -> list[Entry]:
        rows = sorted(self.tracks[track]["entries"], key=lambda e: (e.start, e.kind != "transition"))
        return [e for e in rows if transitions or e.kind != "transition"]

    def rows(self, track: int) -> list[tuple[int, int, Entry]]:
        """(start, end, entry) of the items on 0-based ``track`` except transitions, frames from 0."""
        return [(e.start, e.end, e) for e in self.entries(track, transitions=False)]

    def layout(self, track: int = 0) -> list[tuple]:
        """(start, end, name, media file name or None, source_in) per item on 0-based ``track``."""
        return [(e.start, e.end, e.name, os.path.basename(e.media.path) if e.media and e.media.path else None,
                 e.source_in) for e in self.entries(track, transitions=False)]

    def audio_layout(self, track: int = 0) -> list[tuple]:
        """(start, end, name, media file name, source_in) per item on 0-based audio ``track``."""
        return [(e.start, e.end, e.name, os.path.basename(e.media.path), e.source_in)
                for e in sorted(self.audio_tracks[track]["entries"], key=lambda e: e.start)]

    def overlapping(self, track: int, first: int, last: int, kind: str = "video") -> list[Entry]:
        return [e for e in self.track_list(kind)[track]["entries"] if e.start < last and first < e.end]

    def item(self, entry: Entry) -> TimelineItem:
        return TimelineItem(self, entry.uid)

    def items(self, track: int) -> list[TimelineItem]:
        return [self.item(e) for e in self.entries(track)]

    def set_playhead(self, rel: int) -> None:
        self.playhead = self.start_frame + rel

    def set_marks(self, first: int | None, last: int | None) -> None:
        """Mark In at ``first`` and Out at ``last`` (frames from the timeline's first frame, ``last``
        the last frame inside), for video and audio, as pressing I and O does; None: not set."""
        mark = {k: int(v) for k, v in (("in", first), ("out", last)) if v is not None}
        self.marks = {"video": dict(mark), "audio": dict(mark)} if mark else {}

    def select(self, *items: TimelineItem) -> None:
        self.selected = [item.uid for item in items]

    def snapshot(self) -> str:
        """The timeline's full visible state, to check that nothing changed."""
        return json.dumps({"tracks": [{"name": t["name"], "items": [e.state() for e in self.entries(i)]}
                                      for i, t in enumerate(self.tracks)],
                           "audio": [{"name": t["name"], "sub_type": t["sub_type"],
                                      "items": [e.state() for e in sorted(t["entries"], key=lambda e: e.start)]}
                                     for t in self.audio_tracks],
                           "markers": {str(k): v for k, v in sorted(self.markers.items())}}, sort_keys=True)

    def _add(self, track: int, entry: Entry) -> TimelineItem:
        clash = [e for e in self.overlapping(track, entry.start, entry.end) if e.kind != "transition"]
        assert entry.kind == "transition" or not clash, \
            f"test setup: {entry.name} at {entry.start}..{entry.end} overlaps {[e.name for e in clash]}"
        self.tracks[track]["entries"].append(entry)
        return self.item(entry)

    def clip(self, track: int, media: MediaPoolItem, source_in: int, record: int, frames: int,
             name: str | None = None, speed=1, enabled: bool = True) -> TimelineItem:
        """Test setup: ``frames`` record frames of ``media`` from media frame ``source_in`` (the
        lowest frame used, also when reversed) at timeline frame ``record`` on 0-based ``track``,
        at ``speed`` (a Fraction; negative plays it backwards)."""
        speed = Fraction(speed)
        # the media frames it uses, rounded up, at least one (otio_tools.retime.ClipTime.span)
        span = max(1, ceil(Fraction(frames) * abs(speed) * media.info["fps"] / self.rate))
        assert 0 <= source_in and source_in + span <= media.info["frames"], "test setup: outside the media"
        return self._add(track, Entry("clip", name or media.name, record, frames, media, source_in, span,
                                      speed, enabled))

    def audio_clip(self, track: int, media: MediaPoolItem, source_in: int, record: int, frames: int,
                   name: str | None = None) -> TimelineItem:
        """Test setup: the sound of ``media`` from media frame ``source_in`` at timeline frame
        ``record`` on 0-based audio ``track`` (at 100%)."""
        assert media.info.get("audio"), "test setup: the media has no sound"
        assert not self.overlapping(track, record, record + frames, "audio"), "test setup: audio overlaps"
        entry = Entry("audio", name or media.name, record, frames, media, source_in)
        self.audio_tracks[track]["entries"].append(entry)
        return self.item(entry)

    def title(self, track: int, record: int, frames: int, name: str = "Text+", kind: str = "title") -> TimelineItem:
        """Test setup: a title, generator or adjustment clip (``kind``)."""
        assert kind in ("title", "generator", "adjustment"), kind
        media = None
        if kind == "adjustment":
            media = MediaPoolItem("", self._own_media_info(frames), name="Adjustment Clip", kind="Adjustment Clip")
            media.resolve = self.resolve
        return self._add(track, Entry(kind, name, record, frames, media,
                                      generator={"title": "Text+", "generator": "Solid Color"}.get(kind, name)))

    def compound(self, track: int, record: int, frames: int, name: str = "Compound Clip 1",
                 media: MediaPoolItem | None = None, source_in: int = 0) -> TimelineItem:
        """Test setup: a compound clip (optionally showing ``media`` from ``source_in`` inside)."""
        pool_item = MediaPoolItem("", self._own_media_info(frames), name=name, kind="Compound")
        pool_item.resolve = self.resolve
        entry = Entry("compound", name, record, frames, pool_item)
        entry.inner = (media, source_in)
        return self._add(track, entry)

    def transition(self, track: int, cut: int, frames: int, name: str = "Cross Dissolve") -> TimelineItem:
        """Test setup: a transition of ``frames`` centred on the cut at timeline frame ``cut``."""
        edges = {e.end for e in self.tracks[track]["entries"]} | {e.start for e in self.tracks[track]["entries"]}
        assert cut in edges, f"test setup: no clip starts or ends at {cut} on V{track + 1}"
        return self._add(track, Entry("transition", name, cut - frames // 2, frames))

    def _own_media_info(self, frames: int) -> dict:
        return {"fps": self.rate, "frames": frames, "width": self.width, "height": self.height,
                "timecode": "00:00:00:00"}

    # -- API -------------------------------------------------------------------------------
    def _markers(self):
        return self.markers

    def _marker_fits(self, frame):
        return frame >= 0

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.uid

    def GetStartFrame(self):
        return self.start_frame

    def GetEndFrame(self):
        ends = [e.end for t in self.tracks for e in t["entries"]]
        return self.start_frame + max(ends, default=0)

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
        tracks = self.track_list(kind)
        return len(tracks) if tracks is not None else 0

    def GetTrackName(self, kind, index):
        tracks = self.track_list(kind)
        return tracks[index - 1]["name"] if tracks is not None and 0 < index <= len(tracks) else ""

    def GetItemListInTrack(self, kind, index):
        if kind == "audio" and 0 < index <= len(self.audio_tracks):
            return [self.item(e) for e in sorted(self.audio_tracks[index - 1]["entries"], key=lambda e: e.start)]
        if kind != "video" or not 0 < index <= len(self.tracks):
            return []
        return self.items(index - 1)

    def GetCurrentTimecode(self):
        return frame_timecode(self.playhead, self.rate, self.drop_frame)

    def SetCurrentTimecode(self, timecode):
        self.playhead = timecode_frame(timecode, self.rate)
        return True

    def GetCurrentVideoItem(self):
        """The topmost item under the playhead (a title or a compound clip itself; not a transition)."""
        rel = self.playhead - self.start_frame
        for index in range(len(self.tracks) - 1, -1, -1):
            for entry in self.entries(index, transitions=False):
                if entry.start <= rel < entry.end:
                    return self.item(entry)
        return None

    def GetSelectedClips(self):
        return [TimelineItem(self, item_id) for item_id in self.selected if self.find(item_id)]

    def GetMarkInOut(self):
        return {kind: dict(mark) for kind, mark in self.marks.items()}

    def SetMarkInOut(self, first, last, kind="all"):
        if int(last) < int(first) or kind not in ("all", "video", "audio"):
            return False
        for which in (("video", "audio") if kind == "all" else (kind,)):
            self.marks[which] = {"in": int(first), "out": int(last)}
        return True

    def ClearMarkInOut(self, kind="all"):
        for which in (("video", "audio") if kind == "all" else (kind,)):
            self.marks.pop(which, None)
        return True

    def AddTrack(self, kind, *options):
        if kind == "audio":  # assumed: an audio track needs its format (sub-track type)
            if not options or options[0] not in AUDIO_SUB_TYPES:
                return False
            self.audio_tracks.append({"name": f"Audio {len(self.audio_tracks) + 1}", "entries": [],
                                      "sub_type": options[0]})
            return True
        if kind != "video":
            return False
        self.tracks.append({"name": f"Video {len(self.tracks) + 1}", "entries": []})
        return True

    def DeleteTrack(self, kind, index):
        tracks = self.track_list(kind)
        if tracks is None or not 0 < index <= len(tracks):
            return False
        del tracks[index - 1]
        return True

    def DeleteClips(self, items, ripple=False):
        """Refused (False, nothing deleted) off the Edit page (measured on the Fairlight page)."""
        if self.resolve.page != "edit":
            return False
        ok = True
        for item in items:
            found = self.find_any(getattr(item, "uid", ""))
            if not found:
                ok = False
                continue
            kind, track, entry = found
            entries = self.track_list(kind)[track]["entries"]
            entries.remove(entry)
            if entry.kind not in ("transition", "audio"):  # the transitions at its edges go with it (chosen: harsher)
                for other in list(entries):
                    if other.kind == "transition" and any(other.start <= edge <= other.end
                                                          for edge in (entry.start, entry.end)):
                        entries.remove(other)
            if ripple:
                for other in entries:
                    if other.start >= entry.end:
                        other.start -= entry.frames
        return ok

    def Export(self, path, export_type, *subtype):
        from fake_resolve_export import export_otio

        if export_type != "EXPORT_OTIO" or not Path(path).parent.is_dir():
            return False
        Path(path).write_text(export_otio(self), encoding="utf-8")
        return True
