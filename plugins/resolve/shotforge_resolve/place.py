"""Put a finished job's clips on the Resolve timeline, frame-exactly, or leave it untouched.

Each placement (DESIGN.md) is ``{media, track, record_frame, source_in, frames}``: ``track`` a
0-based video track (``len(video tracks)`` = a new track above), ``record_frame`` a timeline frame
counted from the timeline's first frame, ``source_in`` a 0-based frame index into ``media``.

Resolve's ``AppendToTimeline`` wants 1-based ``trackIndex``, an absolute ``recordFrame`` (same
counting as ``GetStartFrame()``) and ``startFrame``/``endFrame`` source frames. ``endFrame`` is
exclusive in Resolve 19 and later and inclusive in 18.x (public reports); the placed item's
duration is read back and corrected if this Resolve counts the other way.
"""

import os

from .errors import PlacementError

BIN_NAME = "ShotForge"


def _plain_int(value, what):
    if isinstance(value, bool):
        raise PlacementError("placement {} {!r} is not a whole number".format(what, value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise PlacementError("placement {} {!r} is not a whole number".format(what, value))
    return value


def check_placements(placements):
    """Validate the server's placements before anything touches the timeline."""
    if not isinstance(placements, list) or not placements:
        raise PlacementError("The job finished but returned no placements: nothing to put on the timeline.")
    checked = []
    for number, raw in enumerate(placements, 1):
        if not isinstance(raw, dict):
            raise PlacementError("placement {} is not an object: {!r}".format(number, raw))
        media = raw.get("media")
        if not media or not isinstance(media, str):
            raise PlacementError("placement {} names no media file".format(number))
        if media.startswith("file://"):
            from urllib.parse import unquote, urlsplit
            media = unquote(urlsplit(media).path)
            if os.name == "nt" and media.startswith("/") and media[2:3] == ":":
                media = media[1:]
        if not os.path.isfile(media):
            raise PlacementError("The result file {} does not exist on this machine (is the server "
                                 "writing to a folder Resolve can read?)".format(media))
        item = {
            "media": media,
            "track": _plain_int(raw.get("track"), "track"),
            "record_frame": _plain_int(raw.get("record_frame"), "record_frame"),
            "source_in": _plain_int(raw.get("source_in", 0), "source_in"),
            "frames": _plain_int(raw.get("frames"), "frames"),
        }
        if item["track"] < 0 or item["record_frame"] < 0 or item["source_in"] < 0 or item["frames"] < 1:
            raise PlacementError("placement {} is out of range: {!r}".format(number, raw))
        checked.append(item)
    return checked


def _norm(path):
    return os.path.normcase(os.path.realpath(path)) if path else ""


def find_bin(media_pool, name=BIN_NAME):
    """The media pool bin ``name`` under the root folder, created when missing."""
    root = media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder and folder.GetName() == name:
            return folder
    folder = media_pool.AddSubFolder(root, name)
    if not folder:
        raise PlacementError("Could not create the '{}' bin in the media pool.".format(name))
    return folder


def _timeline_media(info):
    """MediaPoolItems already on the timeline, by file path (original media for handle frames)."""
    found = {}
    for track in range(1, int(info.timeline.GetTrackCount("video") or 0) + 1):
        for item in info.timeline.GetItemListInTrack("video", track) or []:
            media = item.GetMediaPoolItem() if item else None
            if media:
                path = media.GetClipProperty("File Path")
                if path:
                    found.setdefault(_norm(path), media)
    return found


def import_media(info, paths):
    """MediaPoolItems for ``paths``: ones already on the timeline are reused, new ones imported
    into the ShotForge bin. Only the media pool changes here, never the timeline."""
    pool = info.project.GetMediaPool()
    existing = _timeline_media(info)
    result = {}
    to_import = []
    for path in paths:
        key = _norm(path)
        if key in result:
            continue
        if key in existing:
            result[key] = existing[key]
        else:
            to_import.append(path)
            result[key] = None
    if to_import:
        folder = find_bin(pool)
        previous = pool.GetCurrentFolder()
        pool.SetCurrentFolder(folder)
        try:
            for clip in folder.GetClipList() or []:  # re-run: the file is already in the bin
                path = clip.GetClipProperty("File Path") if clip else ""
                if path and _norm(path) in result and result[_norm(path)] is None:
                    result[_norm(path)] = clip
            for path in to_import:
                if result[_norm(path)] is not None:
                    continue
                items = pool.ImportMedia([path]) or []
                if not items:
                    raise PlacementError("Resolve could not import {} into the media pool.".format(path))
                result[_norm(path)] = items[0]
        finally:
            if previous:
                pool.SetCurrentFolder(previous)
    return result


def _end_exclusive(resolve):
    """Whether this Resolve's ``endFrame`` is exclusive (19 and later, per public reports).

    When the version cannot be read the answer is False: an inclusive guess on a Resolve that
    counts exclusively places one frame too few, which is corrected without touching anything
    beyond the placement; the opposite mistake would overwrite one frame of the next clip.
    """
    try:
        version = resolve.GetVersion() or []
        return int(version[0]) >= 19
    except (TypeError, ValueError, IndexError):
        return False


def place(info, placements):
    """Place every placement, or none: on any failure the clips and tracks added are removed.

    Returns a list of dicts describing the placed items (track 1-based, record frames absolute).
    """
    checked = check_placements(placements)
    media = import_media(info, [p["media"] for p in checked])
    timeline = info.timeline
    pool = info.project.GetMediaPool()
    exclusive = _end_exclusive(info.resolve)

    tracks_before = int(timeline.GetTrackCount("video") or 0)
    need = max(p["track"] for p in checked) + 1
    added_tracks = 0
    appended = []
    try:
        while int(timeline.GetTrackCount("video") or 0) < need:
            if not timeline.AddTrack("video"):
                raise PlacementError("Resolve could not add a video track above V{}.".format(
                    tracks_before + added_tracks))
            added_tracks += 1
        placed = []
        for p in checked:
            item = _append(info, pool, media[_norm(p["media"])], p, exclusive)
            appended.append(item)
            placed.append({"media": p["media"], "track": p["track"] + 1,
                           "record_frame": info.absolute(p["record_frame"]), "frames": p["frames"],
                           "start": int(item.GetStart()), "end": int(item.GetEnd())})
        return placed
    except Exception:
        if appended:
            timeline.DeleteClips(appended, False)
        for index in range(tracks_before + added_tracks, tracks_before, -1):
            timeline.DeleteTrack("video", index)
        raise


def _clip_info(media_item, p, start_frame, exclusive):
    end = p["source_in"] + p["frames"]
    return {
        "mediaPoolItem": media_item,
        "startFrame": int(p["source_in"]),
        "endFrame": int(end if exclusive else end - 1),
        "trackIndex": int(p["track"] + 1),
        "recordFrame": int(start_frame + p["record_frame"]),
        "mediaType": 1,
    }


def _append(info, pool, media_item, p, exclusive):
    record = info.absolute(p["record_frame"])
    items = pool.AppendToTimeline([_clip_info(media_item, p, info.start_frame, exclusive)]) or []
    item = items[0] if items else None
    if not item:
        raise PlacementError("Resolve did not place {} on V{} at frame {}.".format(
            os.path.basename(p["media"]), p["track"] + 1, info.tc(p["record_frame"])))
    duration = int(item.GetDuration())
    if duration != p["frames"]:
        # This Resolve counts endFrame the other way: place it again with the other convention.
        info.timeline.DeleteClips([item], False)
        items = pool.AppendToTimeline([_clip_info(media_item, p, info.start_frame, not exclusive)]) or []
        item = items[0] if items else None
        if not item or int(item.GetDuration()) != p["frames"]:
            if item:
                info.timeline.DeleteClips([item], False)
            raise PlacementError("Resolve placed {} frames of {} where {} were asked.".format(
                duration, os.path.basename(p["media"]), p["frames"]))
    if int(item.GetStart()) != record:
        info.timeline.DeleteClips([item], False)
        raise PlacementError("Resolve placed {} at {} instead of {}.".format(
            os.path.basename(p["media"]), item.GetStart(), record))
    return item
