"""Read the facts: one pass over Resolve's API into plain, JSON-serialisable data (PROTOCOL.md).

Raw values only, no interpretation: frames as Resolve reports them (absolute record frames for
items, the timeline's own counting for marks and markers), settings verbatim. What the values
mean is decided in ``context`` (and the Lua entry reads the same document). Calls a build lacks
are probed with ``name in dir(obj)`` (``hasattr`` is True for every name on Resolve objects);
their fact is None.
"""


def has_call(obj, name):
    """Whether this Resolve build has the call ``name`` on ``obj``."""
    try:
        return name in dir(obj)
    except Exception:  # a scripting object that cannot list itself has nothing to probe
        return False


def _plain(value):
    """Resolve's return values as JSON data: dict keys as text ("240", not 240.0), Lua-style
    1-based tables as lists left as they come, numbers and strings untouched."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _key(key):
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _as_list(value):
    """A list from a Python list or a Lua-style table ({1: a, 2: b})."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: float(k))]
    return list(value)


def _call(obj, name, *args):
    try:
        return getattr(obj, name)(*args)
    except Exception:  # a dead item: Resolve answers None
        return None


def _media_facts(media):
    if media is None:
        return {"media": False, "media_id": "", "file": "", "resolution": "", "fps": "", "frames": ""}
    return {"media": True, "media_id": _call(media, "GetUniqueId") or "",
            "file": _call(media, "GetClipProperty", "File Path") or "",
            "resolution": _call(media, "GetClipProperty", "Resolution") or "",
            "fps": _call(media, "GetClipProperty", "FPS") or "",
            "frames": _call(media, "GetClipProperty", "Frames") or ""}


def item_facts(item):
    """The facts of one timeline item."""
    facts = {
        "id": _call(item, "GetUniqueId") or "", "name": _call(item, "GetName"),
        "start": _call(item, "GetStart"), "end": _call(item, "GetEnd"),
        "left_offset": _call(item, "GetLeftOffset"), "right_offset": _call(item, "GetRightOffset"),
        "source_start": _call(item, "GetSourceStartFrame"), "source_end": _call(item, "GetSourceEndFrame"),
    }
    facts.update(_media_facts(_call(item, "GetMediaPoolItem")))
    props = _call(item, "GetProperty")
    facts["props_empty"] = not props
    facts["enabled"] = _call(item, "GetClipEnabled")
    facts["color"] = _call(item, "GetClipColor") or ""
    facts["markers"] = _plain(_call(item, "GetMarkers") or {})
    return _plain(facts)


def timeline_facts(timeline):
    tl = timeline
    facts = {
        "id": tl.GetUniqueId(), "name": tl.GetName(),
        "rate": tl.GetSetting("timelineFrameRate"),
        "drop_frame": tl.GetSetting("timelineDropFrameTimecode"),
        "width": tl.GetSetting("timelineResolutionWidth"),
        "height": tl.GetSetting("timelineResolutionHeight"),
        "start_frame": tl.GetStartFrame(),
        "start_timecode": tl.GetStartTimecode(),
        "playhead": tl.GetCurrentTimecode(),
        "marks": _plain(tl.GetMarkInOut() or {}) if has_call(tl, "GetMarkInOut") else None,
        "selected": ([_call(item, "GetUniqueId") or "" for item in _as_list(tl.GetSelectedClips())]
                     if has_call(tl, "GetSelectedClips") else None),
        "markers": _plain(tl.GetMarkers() or {}),
        "video_tracks": [],
        "audio_tracks": [],
    }
    for kind in ("video", "audio"):
        for index in range(1, int(tl.GetTrackCount(kind) or 0) + 1):
            items = [item_facts(item) for item in _as_list(tl.GetItemListInTrack(kind, index)) if item]
            facts[kind + "_tracks"].append({"index": index, "name": tl.GetTrackName(kind, index), "items": items})
    return _plain(facts)


def current_timeline(resolve):
    """(project, timeline) open in Resolve; either None when there is none."""
    manager = resolve.GetProjectManager()
    project = manager.GetCurrentProject() if manager else None
    return project, (project.GetCurrentTimeline() if project else None)


def read_facts(resolve):
    """The facts document of PROTOCOL.md; ``project``/``timeline`` None when none is open."""
    project, timeline = current_timeline(resolve)
    return {
        "product": resolve.GetProductName(),
        "version": _plain(_as_list(resolve.GetVersion())),
        "page": resolve.GetCurrentPage(),
        "project": project.GetName() if project else None,
        "timeline": timeline_facts(timeline) if timeline else None,
    }
