-- Carrying out planned steps (plugins/resolve/PROTOCOL.md "Steps"): the same executor as
-- shotforge_resolve.executor.execute, step for step. Loaded by ShotForge.lua with M as argument.
local M = ...
local WINDOWS, failure = M.WINDOWS, M.failure

-- ---------------------------------------------------------------------------- steps
-- The same executor as shotforge_resolve.executor.execute, step for step (PROTOCOL.md "Steps").
local Failed = {}  -- error values thrown by a step that did not read back: {Failed, message}

local function fail(message) error({Failed, message}, 0) end

local function same_path(a, b)
  if WINDOWS then return (a:lower():gsub("/", "\\")) == (b:lower():gsub("/", "\\")) end
  return a == b
end

local Executor = {}
Executor.__index = Executor

local function new_executor(resolve)
  local manager = resolve:GetProjectManager()
  local project = manager and manager:GetCurrentProject()
  local tl = project and project:GetCurrentTimeline()
  if not tl then return nil end
  return setmetatable({resolve = resolve, timeline = tl, pool = project:GetMediaPool(), page = resolve:GetCurrentPage(),
                       done = {}, notes = M.as_array(), media = {},
                       result = {placed = M.as_array(), kept = M.as_array(), removed = M.as_array(),
                                 tracks_added = M.as_array(), tracks_deleted = M.as_array()}}, Executor)
end

function Executor:count() return self.timeline:GetTrackCount("video") or 0 end

function Executor:track_items(track) return self.timeline:GetItemListInTrack("video", track) or {} end

function Executor:locate(uid)
  for track = 1, self:count() do
    for _, item in ipairs(self:track_items(track)) do
      if item:GetUniqueId() == uid then return track, item end
    end
  end
end

function Executor:locate_on(track, uid)
  for _, item in ipairs(self:track_items(track)) do
    if item:GetUniqueId() == uid then return item end
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

function Executor:append(step, top)
  local info = {}
  for k, v in pairs(step.clip_info) do info[k] = v end
  info.mediaPoolItem = self.lookup(step.media)
  local e = step.expect
  local item = (self.pool:AppendToTimeline({info}) or {})[1]
  local uid = item and item:GetUniqueId() or ""
  if uid == "" then  -- measured: an append over an occupied range comes back empty or with no id
    fail("Resolve dropped the clip (the range on V" .. e.track .. " is not free)")
  end
  self.done[#self.done + 1] = {"append", uid}
  local placed = self:locate_on(e.track, uid)
  if not placed then fail("Resolve's new clip is not on V" .. e.track) end
  local start, duration, left = placed:GetStart(), placed:GetDuration(), placed:GetLeftOffset()
  if start ~= e.start or duration ~= e.duration or left ~= e.left_offset then
    fail(string.format("Resolve placed %d frames at record frame %d from source frame %d, where %d frames at %d " ..
      "from source frame %d were planned", duration, start, left, e.duration, e.start, e.left_offset))
  end
  if top then
    local list = step.role == "kept" and self.result.kept or self.result.placed
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
    item:SetName(step.name)
    if item:GetName() ~= step.name then fail("Resolve did not keep the clip name '" .. step.name .. "'") end
  end
  if step.color and step.color ~= "" then
    item:SetClipColor(step.color)
    if item:GetClipColor() ~= step.color then  -- cosmetic: reported, never rolled back
      self.notes[#self.notes + 1] = "Resolve did not keep the clip colour " .. step.color .. " on '" ..
        (step.name or "the clip") .. "'."
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
  local items = {}
  for _, uid in ipairs(step.ids) do
    local _, item = self:locate(uid)
    if not item then fail("clip " .. uid .. " is no longer on the timeline") end
    items[#items + 1] = item
  end
  self.done[#self.done + 1] = {"delete_items", step}
  self.timeline:DeleteClips(items, false)
  local left = 0
  for _, uid in ipairs(step.ids) do if select(2, self:locate(uid)) then left = left + 1 end end
  if left > 0 then fail("Resolve did not remove " .. left .. " clip" .. (left == 1 and "" or "s")) end
  for _, clip in ipairs(step.clips or {}) do self.result.removed[#self.result.removed + 1] = clip end
end

function Executor:add_track()
  local before = self:count()
  self.timeline:AddTrack("video")
  if self:count() ~= before + 1 then fail("Resolve did not add a video track") end
  self.done[#self.done + 1] = {"add_track", before + 1}
  self.result.tracks_added[#self.result.tracks_added + 1] = before + 1
end

function Executor:delete_track(step)
  local index = step.index
  if index ~= self:count() or #self:track_items(index) > 0 then
    fail("V" .. index .. " is not the top video track or is not empty")
  end
  self.timeline:DeleteTrack("video", index)
  if self:count() ~= index - 1 then fail("Resolve did not delete V" .. index) end
  self.done[#self.done + 1] = {"delete_track", index}
  self.result.tracks_deleted[#self.result.tracks_deleted + 1] = index
end

function Executor:run_list(steps, top)
  local appended = {}  -- `label.step` is the 0-based index of an append in the same list
  for index, step in ipairs(steps) do
    self.current = step
    local op = step.op
    if op == "append" then appended[index - 1] = self:append(step, top)
    elseif op == "label" then self:label(step, appended[step.step])
    elseif op == "delete_items" then self:delete_items(step)
    elseif op == "add_track" then self:add_track()
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
end

-- Undo every edit in reverse; returns what could not be undone (empty: all of it).
function Executor:undo()
  local problems = {}
  while #self.done > 0 do
    local kind, data = unpack(table.remove(self.done))
    local ok, err = pcall(function()
      if kind == "append" then
        local _, item = self:locate(data)
        if item then
          self:edit_page()
          self.timeline:DeleteClips({item}, false)
          if select(2, self:locate(data)) then fail("Resolve did not remove the clip it had just placed") end
        end
      elseif kind == "add_track" then
        if self:count() == data and #self:track_items(data) == 0 then self.timeline:DeleteTrack("video", data)
        else fail("the added track V" .. data .. " is not empty or not on top") end
      elseif kind == "delete_track" then
        self.timeline:AddTrack("video")
      elseif kind == "delete_items" then
        for i, uid in ipairs(data.ids) do
          if not select(2, self:locate(uid)) then
            local saved = self.done
            self.done = {}
            local ran, why = pcall(self.run_list, self, data.restore[i], false)
            self.done = saved
            if not ran then error(why, 0) end
          end
        end
      end
    end)
    if not ok then
      problems[#problems + 1] = kind .. ": " .. (type(err) == "table" and err[2] or tostring(err))
    end
  end
  return problems
end

function Executor:finish()
  if self.page and self.resolve:GetCurrentPage() ~= self.page then self.resolve:OpenPage(self.page) end
end

-- Carry out steps, each read back; on any failure undo all of them in reverse. Returns
-- {ok=true, result={placed, kept, removed, tracks_added, tracks_deleted, notes}} (as executor.execute)
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
  local what = run.current and run.current.what or "place the result"
  if #problems > 0 then
    return failure("placement", "Could not " .. what .. ": " .. message .. ". Undoing it failed too (" ..
      table.concat(problems, "; ") .. "): check the timeline." .. where)
  end
  return failure("placement", "Could not " .. what .. ": " .. message .. ". The timeline is as it was before." .. where)
end
