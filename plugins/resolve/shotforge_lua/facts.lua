-- Reading Resolve's facts (plugins/resolve/PROTOCOL.md "Facts"): one pass over the API, raw
-- values only; what they mean is decided in Python. Loaded by ShotForge.lua with M as argument.
local M = ...
local json_number = M.json_number

-- A call this build may lack, made: its answer, or nil where the build has no such call. Resolve's
-- objects answer every name (in Python hasattr() is True for any, measured; Lua is unmeasured), so
-- `obj.Name ~= nil` proves nothing, and Lua has no dir(): a build without the call answers nil, or
-- errors (on a nil field, or in the binding). An error of a call the build has reads the same; a
-- call that answers nil reads as missing (Python, which can ask dir(), takes it as empty).
function M.call_if_present(obj, name, ...)
  local n, args = select("#", ...), {...}
  local ok, answer = pcall(function() return obj[name](obj, unpack(args, 1, n)) end)
  if ok then return answer end
  return nil
end

-- ---------------------------------------------------------------------------- facts
local function media_facts(item, fact)
  local media = item:GetMediaPoolItem()
  fact.media = media ~= nil
  fact.media_id, fact.file, fact.resolution, fact.fps, fact.frames = "", "", "", "", ""
  if media then
    fact.media_id = media:GetUniqueId() or ""
    fact.file = media:GetClipProperty("File Path") or ""
    fact.resolution = media:GetClipProperty("Resolution") or ""
    fact.fps = media:GetClipProperty("FPS") or ""
    fact.frames = media:GetClipProperty("Frames") or ""
  end
end

local function markers_fact(markers)
  local out = M.as_object()
  for frame, marker in pairs(markers or {}) do
    local copy = M.as_object()
    for k, v in pairs(marker) do copy[k] = v end
    out[json_number(frame)] = copy
  end
  return out
end

local function item_fact(item)
  local props = item:GetProperty()
  local fact = M.as_object({
    id = item:GetUniqueId() or "", name = item:GetName() or "",
    start = item:GetStart(), ["end"] = item:GetEnd(),
    left_offset = item:GetLeftOffset(), right_offset = item:GetRightOffset(),
    source_start = item:GetSourceStartFrame(), source_end = item:GetSourceEndFrame(),
    props_empty = type(props) ~= "table" or next(props) == nil,
    enabled = item:GetClipEnabled() and true or false,
    color = item:GetClipColor() or "",
    markers = markers_fact(item:GetMarkers()),
  })
  media_facts(item, fact)
  return fact
end

local function timeline_fact(tl)
  local fact = M.as_object({
    id = tl:GetUniqueId(), name = tl:GetName(),
    rate = tl:GetSetting("timelineFrameRate"), drop_frame = tl:GetSetting("timelineDropFrameTimecode"),
    width = tl:GetSetting("timelineResolutionWidth"), height = tl:GetSetting("timelineResolutionHeight"),
    start_frame = tl:GetStartFrame(), start_timecode = tl:GetStartTimecode(),
    playhead = tl:GetCurrentTimecode(),
    markers = markers_fact(tl:GetMarkers()),
    video_tracks = M.as_array(), audio_tracks = M.as_array(),
  })
  fact.marks, fact.selected = M.null, M.null  -- a build without the call: null
  local marks = M.call_if_present(tl, "GetMarkInOut")  -- Resolve 19.1+
  if marks ~= nil then
    fact.marks = M.as_object()
    for kind, mark in pairs(marks) do
      fact.marks[kind] = M.as_object()
      for k, v in pairs(mark) do fact.marks[kind][k] = v end
    end
  end
  local selected = M.call_if_present(tl, "GetSelectedClips")  -- Resolve 21.0.4+
  if selected ~= nil then
    fact.selected = M.as_array()
    for _, item in ipairs(selected) do
      fact.selected[#fact.selected + 1] = item:GetUniqueId() or ""
    end
  end
  for _, kind in ipairs({"video", "audio"}) do
    for index = 1, tl:GetTrackCount(kind) or 0 do
      local track = M.as_object({index = index, name = tl:GetTrackName(kind, index), items = M.as_array()})
      for _, item in ipairs(tl:GetItemListInTrack(kind, index) or {}) do
        track.items[#track.items + 1] = item_fact(item)
      end
      fact[kind .. "_tracks"][index] = track
    end
  end
  return fact
end

-- The open project and its current timeline (either nil when there is none).
function M.current_timeline(resolve)
  local manager = resolve:GetProjectManager()
  local project = manager and manager:GetCurrentProject()
  return project, project and project:GetCurrentTimeline() or nil
end

-- One pass over Resolve's API, raw values only (PROTOCOL.md "Facts"); nil where there is nothing.
function M.read_facts(resolve)
  local facts = M.as_object({product = resolve:GetProductName(), version = M.as_array(resolve:GetVersion()),
                             page = resolve:GetCurrentPage(), project = M.null, timeline = M.null})
  local project, tl = M.current_timeline(resolve)
  if project then
    facts.project = project:GetName()
    if tl then facts.timeline = timeline_fact(tl) end
  end
  return facts
end
