-- Carrying out planned steps (plugins/resolve/PROTOCOL.md "Steps"): the same executor as
-- shotforge_resolve.executor.execute, step for step. Loaded by ShotForge.lua with M as argument.
local M = ...
local WINDOWS, failure = M.WINDOWS, M.failure

-- ---------------------------------------------------------------------------- steps
-- The same executor as shotforge_resolve.executor.execute, step for step (PROTOCOL.md "Steps").
local Failed = {}  -- error values thrown by a step that did not read back: {Failed, message}

local function fail(message) error({Failed, message}, 0) end

local KINDS = {"video", "audio"}
local AUDIO_TRACK_TYPE = "stereo"  -- as place.AUDIO_TRACK_TYPE

local function words(kind, track) return (kind == "audio" and "A" or "V") .. track end

local function same_path(a, b)
  if WINDOWS then return (a:lower():gsub("/", "\\")) == (b:lower():gsub("/", "\\")) end
  return a == b
end

local Executor = {}
Executor.__index = Executor

local function new_executor(resolve)
  local project, tl = M.current_timeline(resolve)
  if not tl then return nil end
  return setmetatable({resolve = resolve, timeline = tl, pool = project:GetMediaPool(), page = resolve:GetCurrentPage(),
                       done = {}, notes = M.as_array(), media = {},
                       restored = M.as_object(), put_back = {}, lost = {}, unnamed = {}, shaky = {},  -- as executor.py: see there
                       result = {placed = M.as_array(), kept = M.as_array(), audio = M.as_array(),
                                 removed = M.as_array(), tracks_added = M.as_array(), tracks_deleted = M.as_array(),
                                 audio_tracks_added = M.as_array(), audio_tracks_deleted = M.as_array()}}, Executor)
end

function Executor:count(kind) return self.timeline:GetTrackCount(kind or "video") or 0 end

function Executor:track_items(track, kind) return self.timeline:GetItemListInTrack(kind or "video", track) or {} end

function Executor:ids_on(track, kind)
  local ids = {}
  if track < 1 or track > self:count(kind) then return ids end
  for _, item in ipairs(self:track_items(track, kind)) do ids[#ids + 1] = item:GetUniqueId() end
  return ids
end

-- (item, kind, track) of the item with `uid` on any video or audio track; nil when it is on none.
function Executor:locate(uid)
  for _, kind in ipairs(KINDS) do
    for track = 1, self:count(kind) do
      for _, item in ipairs(self:track_items(track, kind)) do
        if item:GetUniqueId() == uid then return item, kind, track end
      end
    end
  end
end

function Executor:edit_page()  -- DeleteClips works on the Edit page only (measured)
  if self.resolve:GetCurrentPage() ~= "edit" then
    self.resolve:OpenPage("edit")
    if self.resolve:GetCurrentPage() ~= "edit" then
      fail("Resolve did not switch to the Edit page, where clips can be removed")
    end
  end
end

local function walk(steps, out)
  for _, step in ipairs(steps) do
    out[#out + 1] = step
    for _, nested in ipairs(step.restore or {}) do walk(nested, out) end
  end
  return out
end

-- Media pool items for every append before any edit: one on the timeline, one in the ShotForge
-- bin, else imported into that bin (ImportMedia lands in the current folder: measured).
function Executor:find_media(steps)
  local found, missing = {}, {}
  local function lookup(path)
    for known, item in pairs(found) do if same_path(known, path) then return item end end
  end
  for track = 1, self:count() do
    for _, item in ipairs(self:track_items(track)) do
      local media = item:GetMediaPoolItem()
      local path = media and media:GetClipProperty("File Path") or ""
      if path ~= "" and not lookup(path) then found[path] = media end
    end
  end
  for _, step in ipairs(walk(steps, {})) do
    if step.op == "append" and not lookup(step.media) then missing[#missing + 1] = step.media end
  end
  if #missing > 0 then
    local root, folder = self.pool:GetRootFolder(), nil
    for _, sub in ipairs(root:GetSubFolderList() or {}) do
      if sub:GetName() == "ShotForge" then folder = sub end
    end
    folder = folder or self.pool:AddSubFolder(root, "ShotForge")
    if not folder then return "Could not create the 'ShotForge' bin in the media pool." end
    local previous = self.pool:GetCurrentFolder()
    self.pool:SetCurrentFolder(folder)
    for _, clip in ipairs(folder:GetClipList() or {}) do
      local path = clip:GetClipProperty("File Path") or ""
      if path ~= "" and not lookup(path) then found[path] = clip end
    end
    local problem
    for _, path in ipairs(missing) do
      if not lookup(path) then
        local items = self.pool:ImportMedia({path}) or {}
        if not items[1] then
          problem = "Resolve could not import " .. path .. " into the media pool: nothing was placed."
          break
        end
        found[path] = items[1]
      end
    end
    if previous then self.pool:SetCurrentFolder(previous) end
    if problem then return problem end
  end
  self.lookup = lookup
end

-- The ids of every item on every video and audio track, as a set.
function Executor:all_ids()
  local ids = {}
  for _, kind in ipairs(KINDS) do
    for track = 1, self:count(kind) do
      for _, uid in ipairs(self:ids_on(track, kind)) do ids[uid] = true end
    end
  end
  return ids
end

-- Items new on `track` since `before` (a set of ids) although the append failed: the undo removes them.
function Executor:sweep(track, before, kind)
  local new = 0
  for _, uid in ipairs(self:ids_on(track, kind)) do
    if uid ~= "" and not before[uid] then
      self.done[#self.done + 1] = {"append", uid}
      self.shaky[uid] = true
      new = new + 1
    end
  end
  return new
end

function Executor:append(step, top)
  local info = {}
  for k, v in pairs(step.clip_info) do info[k] = v end
  info.mediaPoolItem = self.lookup(step.media)
  local e = step.expect
  local kind = e.track_type or "video"
  local where, what = words(kind, e.track), kind == "audio" and "sound" or "clip"
  local before = self:all_ids()  -- on every track: an answer naming any of them is no placement
  local ok, items = pcall(function() return self.pool:AppendToTimeline({info}) end)
  if not ok then  -- it may have landed all the same: find it so the undo removes it
    self:sweep(e.track, before, kind)
    fail("Resolve's AppendToTimeline failed (" .. tostring(items) .. ")")
  end
  local item = (items or {})[1]
  local uid = item and item:GetUniqueId() or ""
  -- measured: an append over an occupied range comes back empty or with no id; an answer naming
  -- an item that was on the timeline before is no placement either, and the undo must never remove it
  if uid == "" or before[uid] then
    if self:sweep(e.track, before, kind) > 0 then
      fail("Resolve answered that it placed nothing, yet a clip landed on " .. where)
    end
    fail("Resolve dropped the " .. what .. " (the range on " .. where .. " is not free" ..
      (kind == "audio" and ", or the media has no sound" or "") .. ")")
  end
  self.done[#self.done + 1] = {"append", uid}
  local placed, found, track = self:locate(uid)
  if not placed or found ~= kind or track ~= e.track then fail("Resolve's new " .. what .. " is not on " .. where) end
  local start, duration, left = placed:GetStart(), placed:GetDuration(), placed:GetLeftOffset()
  if start ~= e.start or duration ~= e.duration or left ~= e.left_offset then
    fail(string.format("Resolve placed %d frames at record frame %d from source frame %d, where %d frames at %d " ..
      "from source frame %d were planned", duration, start, left, e.duration, e.start, e.left_offset))
  end
  if top then
    local list = step.role == "kept" and self.result.kept or step.role == "audio" and self.result.audio or
      self.result.placed
    list[#list + 1] = {id = uid, track = e.track, start = start, duration = duration, left_offset = left,
                       media = step.media}
  end
  return placed
end

function Executor:label(step, item)
  if not item then
    fail("a label names step " .. tostring(step.step) .. ", which is not an append carried out before it")
  end
  if step.name and step.name ~= "" then
    -- TimelineItem.SetName is only in the 2026 README: probed, and a name that does not stick is
    -- reported (the take's marker names it), never rolled back
    local renamed = M.call_if_present(item, "SetName", step.name) ~= nil
    if item:GetName() ~= step.name and not self.unnamed[step.name] then
      self.unnamed[step.name] = true
      local ours = false
      for _, mk in ipairs(step.markers or {}) do
        if (mk.customData or ""):sub(1, 10) == "shotforge:" then ours = true end
      end
      self.notes[#self.notes + 1] = "Resolve " ..
        (renamed and "did not keep" or "cannot set (this build has no TimelineItem.SetName)") ..
        " the clip name '" .. step.name .. "'" .. (ours and ": its ShotForge marker names the take" or "") .. "."
    end
  end
  if step.color and step.color ~= "" then
    item:SetClipColor(step.color)
    if item:GetClipColor() ~= step.color then  -- cosmetic: reported, never rolled back
      self.notes[#self.notes + 1] = "Resolve did not keep the clip colour " .. step.color .. " on '" ..
        (step.name ~= "" and step.name or "a clip") .. "'."
    end
  end
  if step.enabled ~= nil then
    item:SetClipEnabled(step.enabled)
    if (item:GetClipEnabled() and true or false) ~= step.enabled then
      fail("Resolve did not " .. (step.enabled and "enable" or "disable") .. " the clip")
    end
  end
  for _, mk in ipairs(step.markers or {}) do
    item:AddMarker(mk.frame, mk.color, mk.name, mk.note, mk.duration, mk.customData)
    local got
    for frame, marker in pairs(item:GetMarkers() or {}) do
      if math.floor(frame + 0.5) == mk.frame then got = marker end
    end
    if not got or (got.customData or "") ~= mk.customData or (got.name or "") ~= mk.name then
      fail("Resolve did not keep the marker '" .. mk.name .. "' on the clip")
    end
  end
end

function Executor:delete_items(step)
  self:edit_page()
  local items, tracks, ours = {}, {}, {}
  for _, uid in ipairs(step.ids) do
    local item, kind, track = self:locate(uid)
    if not item then fail("clip " .. uid .. " is no longer on the timeline") end
    items[#items + 1] = item
    tracks[kind .. ":" .. track] = {kind, track}
    ours[uid] = true
  end
  -- everything else on those tracks and on every audio track, to see that DeleteClips took
  -- nothing more (a transition attached to a removed clip, a clip's linked sound: unmeasured)
  for track = 1, self:count("audio") do tracks["audio:" .. track] = {"audio", track} end
  local others, order = {}, {}
  for _, where in pairs(tracks) do
    for _, item in ipairs(self:track_items(where[2], where[1])) do
      local uid = item:GetUniqueId()
      if not ours[uid] then
        others[uid] = "'" .. (item:GetName() or "item") .. "' on " .. words(where[1], where[2])
        order[#order + 1] = uid
      end
    end
  end
  table.sort(order)
  self.done[#self.done + 1] = {"delete_items", step}
  self.timeline:DeleteClips(items, false)
  local left = 0
  for _, uid in ipairs(step.ids) do if self:locate(uid) then left = left + 1 end end
  if left > 0 then fail("Resolve did not remove " .. left .. " clip" .. (left == 1 and "" or "s")) end
  local present = {}
  for _, where in pairs(tracks) do
    for _, uid in ipairs(self:ids_on(where[2], where[1])) do present[uid] = true end
  end
  local gone = {}
  for _, uid in ipairs(order) do
    if not present[uid] then
      gone[#gone + 1] = others[uid]
      self.lost[#self.lost + 1] = others[uid]
    end
  end
  if #gone > 0 then fail("Resolve removed " .. table.concat(gone, ", ") .. " along with the clips") end
  for _, clip in ipairs(step.clips or {}) do self.result.removed[#self.result.removed + 1] = clip end
end

-- AddTrack: a video track, or an audio track of `sub_type` (its format).
function Executor:new_track(kind, sub_type)
  if kind == "audio" then return self.timeline:AddTrack("audio", sub_type or AUDIO_TRACK_TYPE) end
  return self.timeline:AddTrack("video")
end

local function append_to(list, value) list[#list + 1] = value end

function Executor:add_track(step)
  local kind = step.track_type or "video"
  local before = self:count(kind)
  if step.index and before ~= step.index - 1 then
    fail("the timeline has " .. before .. " " .. kind .. " tracks now, not the " .. (step.index - 1) ..
      " the result was planned on")
  end
  self:new_track(kind, step.sub_type)
  if self:count(kind) ~= before + 1 then
    fail("Resolve did not add " .. (kind == "audio" and "an" or "a") .. " " .. kind .. " track")
  end
  self.done[#self.done + 1] = {"add_track", {kind, before + 1, step.sub_type}}
  append_to(kind == "audio" and self.result.audio_tracks_added or self.result.tracks_added, before + 1)
end

function Executor:delete_track(step)
  local kind, index = step.track_type or "video", step.index
  if index ~= self:count(kind) or #self:track_items(index, kind) > 0 then
    fail(words(kind, index) .. " is not the top " .. kind .. " track or is not empty")
  end
  self.timeline:DeleteTrack(kind, index)
  if self:count(kind) ~= index - 1 then fail("Resolve did not delete " .. words(kind, index)) end
  self.done[#self.done + 1] = {"delete_track", {kind, index, step.sub_type}}
  append_to(kind == "audio" and self.result.audio_tracks_deleted or self.result.tracks_deleted, index)
end

function Executor:run_list(steps, top)
  local appended = {}  -- `label.step` is the 0-based index of an append in the same list
  for index, step in ipairs(steps) do
    self.current = step
    local op = step.op
    if op == "append" then appended[index - 1] = self:append(step, top)
    elseif op == "label" then self:label(step, appended[step.step])
    elseif op == "delete_items" then self:delete_items(step)
    elseif op == "add_track" then self:add_track(step)
    elseif op == "delete_track" then self:delete_track(step)
    elseif op == "open_page" then
      self.resolve:OpenPage(step.page)
      if self.resolve:GetCurrentPage() ~= step.page then fail("Resolve did not open the " .. step.page .. " page") end
    elseif op == "check_timeline" then
      if self.timeline:GetUniqueId() ~= step.id then
        fail("the current timeline is not the one the result belongs to; switch back to it")
      end
    elseif op ~= "note" then fail("unknown step '" .. tostring(op) .. "'") end
    if step.note then self.notes[#self.notes + 1] = step.note end
  end
  return appended
end

local function message_of(err) return type(err) == "table" and err[2] or tostring(err) end

-- Run one clip's restore steps apart from the main undo list: the error (or nil) and the ids of
-- the clips they placed.
function Executor:put_back_once(restore)
  local saved = self.done
  self.done = {}
  local ran, why = pcall(self.run_list, self, restore, false)
  local landed = {}
  for _, done in ipairs(self.done) do
    if done[1] == "append" then landed[#landed + 1] = done[2] end
  end
  self.done = saved
  return (not ran) and message_of(why) or nil, landed
end

function Executor:any_shaky(landed)
  for _, uid in ipairs(landed) do if self.shaky[uid] then return true end end
  return false
end

-- Remove the clips `landed` placed; returns what could not be removed.
function Executor:undo_inner(landed)
  local saved = self.done
  self.done = {}
  for _, uid in ipairs(landed) do self.done[#self.done + 1] = {"append", uid} end
  local problems = self:undo()
  self.done = saved
  return problems
end

-- Put back each clip of a delete_items step that is gone, each on its own: one that fails is
-- reported and the others are still put back.
function Executor:put_back_clips(step)
  local problems = {}
  for i, uid in ipairs(step.ids) do
    if not self:locate(uid) then
      local restore, clip = step.restore[i], (step.clips or {})[i] or {}
      local what = restore[1].what or ("put back clip " .. uid)
      local why, landed = self:put_back_once(restore)
      if self:any_shaky(landed) then
        -- a clip whose append failed can vanish at the next project save (measured): removed, and
        -- appended once more into the range that is free again
        local left = self:undo_inner(landed)
        for _, problem in ipairs(left) do problems[#problems + 1] = what .. ": " .. problem end
        if #left == 0 then
          why, landed = self:put_back_once(restore)
        else  -- what is still there of it
          local there = {}
          for _, new in ipairs(landed) do if self:locate(new) then there[#there + 1] = new end end
          landed = there
        end
      end
      if why then problems[#problems + 1] = what .. ": " .. why end
      if self:any_shaky(landed) then
        problems[#problems + 1] = what .. ": Resolve reported the append as failed although the clip landed, " ..
          "and such a clip can vanish when the project is saved"
      end
      if landed[1] then  -- even half-labelled, the clip is there again, under a new id
        self.restored[uid] = landed[1]
        self.put_back[#self.put_back + 1] = "'" .. (clip.name or "clip") .. "'"
      end
    end
  end
  return problems
end

-- Undo every edit in reverse; returns what could not be undone (empty: all of it).
function Executor:undo()
  local problems = {}
  while #self.done > 0 do
    local kind, data = unpack(table.remove(self.done))
    local ok, err = pcall(function()
      if kind == "append" then
        local item = self:locate(data)
        if item then
          self:edit_page()
          self.timeline:DeleteClips({item}, false)
          if self:locate(data) then fail("Resolve did not remove the clip it had just placed") end
        end
      elseif kind == "add_track" then
        local track_type, index = data[1], data[2]
        if self:count(track_type) == index and #self:track_items(index, track_type) == 0 then
          self.timeline:DeleteTrack(track_type, index)
          if self:count(track_type) ~= index - 1 then
            fail("Resolve did not delete the added track " .. words(track_type, index))
          end
        else fail("the added track " .. words(track_type, index) .. " is not empty or not on top") end
      elseif kind == "delete_track" then
        local track_type, index, sub_type = data[1], data[2], data[3]
        self:new_track(track_type, sub_type)
        if self:count(track_type) ~= index then fail("Resolve did not add back " .. words(track_type, index)) end
      elseif kind == "delete_items" then
        for _, problem in ipairs(self:put_back_clips(data)) do problems[#problems + 1] = problem end
      end
    end)
    if not ok then problems[#problems + 1] = "undo " .. kind .. ": " .. message_of(err) end
  end
  return problems
end

-- What the failure message says about the timeline after the undo (as executor._after_undo).
function Executor:after_undo(problems)
  for _, words in ipairs(self.lost) do problems[#problems + 1] = words .. ": Resolve's API cannot put it back" end
  if #problems > 0 then return "Undoing it failed too (" .. table.concat(problems, "; ") .. "): check the timeline." end
  local n = #self.put_back
  if n > 0 then
    local many = n > 1
    return "The removed clip" .. (many and "s " or " ") .. table.concat(self.put_back, ", ") ..
      (many and " were" or " was") .. " put back from " .. (many and "their" or "its") ..
      " media (same place, source range, name, colour and markers; " .. (many and "their" or "its") ..
      " grade, effects and transform are lost, and " .. (many and "they have new item ids" or "it has a new item id") ..
      "); the rest of the timeline is as it was before."
  end
  return "The timeline is as it was before."
end

function Executor:finish()
  if self.page and self.resolve:GetCurrentPage() ~= self.page then self.resolve:OpenPage(self.page) end
end

-- Carry out steps, each read back; on any failure undo all of them in reverse. Returns
-- {ok=true, result={placed, kept, audio, removed, tracks_added, tracks_deleted, audio_tracks_added,
-- audio_tracks_deleted, notes}} (as executor.execute)
-- or {ok=false, error={code="placement", message=...}}.
function M.execute_steps(resolve, steps)
  local run = new_executor(resolve)
  if not run then return failure("placement", "No timeline is open in Resolve: nothing was placed.") end
  local ok, err = pcall(function()
    local problem = run:find_media(steps)
    if problem then error({Failed, problem, media = true}, 0) end
    run:run_list(steps, true)
  end)
  if ok then
    run:finish()
    run.result.notes = run.notes
    return {ok = true, result = run.result}
  end
  local message = type(err) == "table" and err[1] == Failed and err[2] or tostring(err)
  local what = run.current and run.current.what or "place the result"  -- before the undo runs steps of its own
  local problems = run:undo()
  run:finish()
  if type(err) == "table" and err.media then return failure("placement", message) end
  local renders, seen = {}, {}
  for _, step in ipairs(steps) do
    if step.op == "append" and step.role == "result" and not seen[step.media] then
      seen[step.media] = true
      renders[#renders + 1] = step.media
    end
  end
  table.sort(renders)
  local where = #renders > 0 and (" The render is kept at " .. table.concat(renders, ", ") .. ".") or ""
  local answer = failure("placement", "Could not " .. what .. ": " .. message .. ". " .. run:after_undo(problems) ..
    where)
  answer.error.restored = run.restored  -- old id -> new id of each clip put back from its media
  return answer
end
