-- ShotForge for DaVinci Resolve, Lua entry (Workspace > Scripts > ShotForge).
--
-- Every edition lists Lua scripts; Resolve 21.1's free edition lists no Python scripts, so this is
-- the entry there (ShotForge.py is the same dialog in Resolve's Python). This file only reads facts
-- from Resolve and carries out planned steps (plugins/resolve/PROTOCOL.md); HTTP, JSON parsing and
-- every decision are made by the installed `shotforge` command (`shotforge resolve-bridge ...`,
-- run with io.popen), which answers with a Lua table literal. Lua 5.1, standard library only.
--
-- Headless use (automation, tests): set the global SHOTFORGE_HEADLESS before running this file; it
-- then opens no dialog and returns (and sets the global ShotForge to) the module below, e.g.
--   SHOTFORGE_HEADLESS = true; local sf = dofile(path)
--   local answer = sf.run(resolve, {operation = "extend", side = "tail", length = 12})
-- `answer.ok` is true or `answer.error` = {code, message}. The global SHOTFORGE_COMMAND (a table of
-- words, e.g. {"python", "-m", "server.cli"}) overrides the shotforge command. The Python twin is
-- shotforge_resolve.workflow.run(resolve, options).

local SHOTFORGE_CMD = ""  -- filled in by `shotforge install-resolve`: the shotforge command's path

local M = {}
local WINDOWS = package.config:sub(1, 1) == "\\"

-- ---------------------------------------------------------------------------- JSON (out only)
-- Lua tables do not say whether an empty one is a list or an object: mark them.
local JSON_KIND = setmetatable({}, {__mode = "k"})
function M.as_object(t) t = t or {}; JSON_KIND[t] = "object"; return t end
function M.as_array(t) t = t or {}; JSON_KIND[t] = "array"; return t end
-- JSON null where a key must be present with no value (a table cannot hold nil).
M.null = setmetatable({}, {__tostring = function() return "null" end})

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                 ["\b"] = "\\b", ["\f"] = "\\f"}

local function json_string(s)
  -- bytes >= 0x80 pass through: Resolve's strings are UTF-8
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json_number(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("cannot write " .. tostring(n) .. " as JSON", 0)
  end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    return string.format("%.0f", n)  -- %d would wrap at 2^31 where C longs are 32 bits (Windows)
  end
  return string.format("%.17g", n)
end

local function is_array(t)
  local count, max = 0, 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then return false end
    count = count + 1
    if k > max then max = k end
  end
  if count == 0 then return JSON_KIND[t] == "array" end
  return max == count and JSON_KIND[t] ~= "object"
end

local function json_encode(value, depth)
  depth = depth or 0
  if depth > 64 then error("JSON nesting too deep (a cycle?)", 0) end
  local kind = type(value)
  if value == nil or value == M.null then return "null" end
  if kind == "boolean" then return value and "true" or "false" end
  if kind == "number" then return json_number(value) end
  if kind == "string" then return json_string(value) end
  if kind ~= "table" then error("cannot write a " .. kind .. " as JSON", 0) end
  local parts = {}
  if is_array(value) then
    for i = 1, #value do parts[i] = json_encode(value[i], depth + 1) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(value) do
    if type(k) == "number" then k = json_number(k)
    elseif type(k) ~= "string" then error("cannot write a " .. type(k) .. " key as JSON", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    parts[i] = json_string(k) .. ":" .. json_encode(v, depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end
M.json_encode = json_encode

-- ---------------------------------------------------------------------------- answers
-- The bridge prints `return {...}`: data only, so it runs with no globals at all.
function M.load_answer(text, what)
  local chunk, err = loadstring(text or "", "=shotforge " .. (what or "answer"))
  if not chunk then return nil, err end
  setfenv(chunk, {})
  local ok, value = pcall(chunk)
  if not ok then return nil, value end
  if type(value) ~= "table" then return nil, "no answer table" end
  return value
end

local function failure(code, message)
  return {ok = false, error = {code = code, message = message}}
end

-- ---------------------------------------------------------------------------- the command
function M.quote_posix(s)
  return "'" .. (s:gsub("'", "'\\''")) .. "'"
end

-- One argument for a Windows program's argv parser (MSVCRT rules): backslashes before a quote are
-- doubled, the quote escaped, and trailing backslashes doubled before the closing quote.
function M.quote_windows(s)
  local out = s:gsub('(\\*)"', function(slashes) return slashes .. slashes .. '\\"' end)
  out = out:gsub("(\\+)$", "%1%1")
  return '"' .. out .. '"'
end

-- The command line for words; `windows` picks cmd.exe's rules (default: this machine's).
function M.command_line(words, windows)
  if windows == nil then windows = WINDOWS end
  local quoted = {}
  for i, word in ipairs(words) do
    word = tostring(word)
    if word:find("[\r\n%z]") then error("argument " .. i .. " has a line break: " .. word, 0) end
    if windows and word:find("%%") then
      error("cmd.exe would expand the % in argument " .. i .. ": " .. word, 0)
    end
    quoted[i] = windows and M.quote_windows(word) or M.quote_posix(word)
  end
  return table.concat(quoted, " ")
end

-- cmd /c drops the first and last quote of a line that starts with one: wrap the whole line.
local function shell_line(line)
  if WINDOWS and line:sub(1, 1) == '"' then return '"' .. line .. '"' end
  return line
end

local function readable(path)
  local handle = io.open(path, "rb")
  if handle then handle:close(); return true end
  return false
end

function M.find_command()
  local override = rawget(_G, "SHOTFORGE_COMMAND")
  if type(override) == "table" and #override > 0 then return override end
  if type(override) == "string" and override ~= "" then return {override} end
  if SHOTFORGE_CMD ~= "" and readable(SHOTFORGE_CMD) then return {SHOTFORGE_CMD} end
  local sep, names = WINDOWS and ";" or ":", WINDOWS and {"shotforge.exe", "shotforge.cmd"} or {"shotforge"}
  for dir in (os.getenv("PATH") or ""):gmatch("[^" .. sep .. "]+") do
    for _, name in ipairs(names) do
      local path = dir .. (WINDOWS and "\\" or "/") .. name
      if readable(path) then return {path} end
    end
  end
  return nil
end

local function read_file(path)
  local handle = io.open(path, "rb")
  if not handle then return nil end
  local text = handle:read("*a")
  handle:close()
  return text
end

local function write_file(path, text)
  local handle, err = io.open(path, "wb")
  if not handle then error("cannot write " .. path .. ": " .. tostring(err), 0) end
  handle:write(text)
  handle:close()
  return path
end

local function join(dir, name)
  return dir .. (WINDOWS and "\\" or "/") .. name
end

local function log_tail(session)
  local text = session.log and read_file(session.log) or ""
  return text:sub(-600)
end

-- Run `shotforge resolve-bridge <words...>` and load its answer (or say why there is none).
function M.bridge(session, words)
  local all = {}
  for _, word in ipairs(session.command) do all[#all + 1] = word end
  all[#all + 1] = "resolve-bridge"
  for _, word in ipairs(words) do all[#all + 1] = word end
  local ok, line = pcall(M.command_line, all)
  if not ok then return failure("bridge", line) end
  if session.log then line = line .. " 2>>" .. M.command_line({session.log}) end
  local pipe = io.popen(shell_line(line), "r")
  if not pipe then return failure("bridge", "could not run " .. all[1]) end
  local text = pipe:read("*a")
  pipe:close()
  local answer, err = M.load_answer(text, words[1])
  if not answer then
    return failure("bridge", "the shotforge command gave no answer to '" .. words[1] .. "' (" ..
      tostring(err) .. "). Check that `" .. table.concat(session.command, " ") ..
      " resolve-bridge settings` runs in a terminal. " .. log_tail(session))
  end
  return answer
end

-- Start the bridge without waiting (the dialog's job watcher).
local function bridge_background(session, words)
  local all = {}
  for _, word in ipairs(session.command) do all[#all + 1] = word end
  all[#all + 1] = "resolve-bridge"
  for _, word in ipairs(words) do all[#all + 1] = word end
  local line = M.command_line(all)
  local log = M.command_line({session.log})
  if WINDOWS then
    os.execute('start "" /B ' .. line .. " >NUL 2>>" .. log)
  else
    os.execute(line .. " >/dev/null 2>>" .. log .. " &")
  end
end

-- ---------------------------------------------------------------------------- facts
local function media_facts(item, fact)
  local media = item:GetMediaPoolItem()
  fact.media = media ~= nil
  fact.media_id, fact.file, fact.resolution, fact.fps = "", "", "", ""
  if media then
    fact.media_id = media:GetUniqueId() or ""
    fact.file = media:GetClipProperty("File Path") or ""
    fact.resolution = media:GetClipProperty("Resolution") or ""
    fact.fps = media:GetClipProperty("FPS") or ""
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
    video_tracks = M.as_array(),
  })
  fact.marks, fact.selected = M.null, M.null  -- a build without the call: null
  if tl.GetMarkInOut ~= nil then  -- Resolve 19.1+
    local marks = M.as_object()
    for kind, mark in pairs(tl:GetMarkInOut() or {}) do
      marks[kind] = M.as_object()
      for k, v in pairs(mark) do marks[kind][k] = v end
    end
    fact.marks = marks
  end
  if tl.GetSelectedClips ~= nil then  -- Resolve 21.0.4+
    fact.selected = M.as_array()
    for _, item in ipairs(tl:GetSelectedClips() or {}) do fact.selected[#fact.selected + 1] = item:GetUniqueId() or "" end
  end
  local current = tl:GetCurrentVideoItem()
  local current_id = current and current:GetUniqueId() or ""
  fact.current_item = current_id ~= "" and current_id or M.null
  for index = 1, tl:GetTrackCount("video") or 0 do
    local track = M.as_object({index = index, name = tl:GetTrackName("video", index), items = M.as_array()})
    for _, item in ipairs(tl:GetItemListInTrack("video", index) or {}) do
      track.items[#track.items + 1] = item_fact(item)
    end
    fact.video_tracks[index] = track
  end
  return fact
end

-- One pass over Resolve's API, raw values only (PROTOCOL.md "Facts"); nil where there is nothing.
function M.read_facts(resolve)
  local facts = M.as_object({product = resolve:GetProductName(), version = M.as_array(resolve:GetVersion()),
                             page = resolve:GetCurrentPage(), project = M.null, timeline = M.null})
  local manager = resolve:GetProjectManager()
  local project = manager and manager:GetCurrentProject()
  if project then
    facts.project = project:GetName()
    local tl = project:GetCurrentTimeline()
    if tl then facts.timeline = timeline_fact(tl) end
  end
  return facts
end

-- ---------------------------------------------------------------------------- steps
-- The same executor as shotforge_resolve.place.execute, step for step (PROTOCOL.md "Steps").
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
  if not item then fail("a label names step " .. tostring(step.step) .. ", which is not an append carried out before it") end
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
-- {ok=true, result={placed, kept, removed, tracks_added, tracks_deleted, notes}} (as place.execute)
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

-- ---------------------------------------------------------------------------- one run
-- A session: the command, the work folder and the saved settings (from `resolve-bridge settings`).
function M.session(resolve)
  local command = M.find_command()
  if not command then
    return failure("no_command", "The shotforge command was not found. Install ShotForge (pip install " ..
      "shotforge), then run `shotforge install-resolve` so this script knows where it is.")
  end
  local session = {resolve = resolve, command = command}
  local answer = M.bridge(session, {"settings"})
  if not answer.ok then return answer end
  session.workdir, session.log = answer.workdir, join(answer.workdir, "bridge.log")
  session.settings, session.choices = answer.settings, answer.choices
  session.ok = true
  return session
end

local function options_file(session, options)
  local merged = M.as_object()
  for k, v in pairs(session.settings or {}) do merged[k] = v end
  for k, v in pairs(options or {}) do merged[k] = v end
  if (merged.shotforge_path or "") == "" and #session.command == 1 then
    merged.shotforge_path = session.command[1]  -- lets the bridge start the server when it is down
  end
  return write_file(join(session.workdir, "options.json"), json_encode(merged))
end

local function facts_file(session, name)
  return write_file(join(session.workdir, name), json_encode(M.read_facts(session.resolve)))
end

local function current_timeline(resolve)
  local manager = resolve:GetProjectManager()
  local project = manager and manager:GetCurrentProject()
  return project and project:GetCurrentTimeline()
end

-- Read the timeline, have the request prepared, export and submit it. With `new_take`, re-render
-- the last result's slot from its stored request instead (the options' seed and prompt).
function M.start(session, options, new_take)
  local run = {options = options_file(session, options), facts = facts_file(session, "facts.json"),
               meta = join(session.workdir, "meta.json"), status_file = join(session.workdir, "status.lua")}
  if new_take then
    local answer = M.bridge(session, {"new-take", "--facts", run.facts, "--options", run.options})
    if not answer.ok then return answer end
    run.description, run.job, run.ok = answer.description, answer.job, true
    return run
  end
  local answer = M.bridge(session, {"prepare", "--facts", run.facts, "--options", run.options, "--meta-out", run.meta})
  if not answer.ok then return answer end
  run.description = answer.description
  local tl = current_timeline(session.resolve)
  local request = join(session.workdir, "request.otio")
  os.remove(request)
  if not session.resolve.EXPORT_OTIO or not tl:Export(request, session.resolve.EXPORT_OTIO) then
    return failure("export_failed", "Resolve could not export the timeline as OTIO to " .. request ..
      " (ShotForge needs Resolve 18.5 or later).")
  end
  answer = M.bridge(session, {"submit", "--request", request, "--meta", run.meta, "--timeline", answer.timeline,
                              "--options", run.options})
  if not answer.ok then return answer end
  run.job, run.ok = answer.job, true
  return run
end

function M.status(session, run, wait)
  return M.bridge(session, {"status", run.job, "--options", run.options, "--wait", tostring(wait or 0)})
end

function M.cancel(session, run)
  return M.bridge(session, {"cancel", run.job, "--options", run.options})
end

local function summary(text, notes)
  if notes and #notes > 0 then text = text .. " " .. table.concat(notes, " ") end
  return text
end

-- Place a finished job's result: steps planned from fresh facts, carried out, the take recorded.
-- `options` (optional) adds to the run's options for the plan, e.g. {confirm_overwrite = true}.
function M.finish(session, run, options)
  local facts = facts_file(session, "facts_after.json")
  local opts = run.options
  if options then
    local merged = M.as_object()
    for k, v in pairs(session.settings or {}) do merged[k] = v end
    for k, v in pairs(options) do merged[k] = v end
    opts = write_file(join(session.workdir, "options_finish.json"), json_encode(merged))
  end
  local plan = M.bridge(session, {"steps", "--facts", facts, "--job", run.job, "--options", opts})
  if not plan.ok then return plan end
  local done = M.execute_steps(session.resolve, plan.steps)
  if not done.ok then return done end
  local result = write_file(join(session.workdir, "placed.json"), json_encode(done.result))
  local recorded = M.bridge(session, {"placed", "--job", run.job, "--result", result, "--options", run.options})
  if not recorded.ok then return recorded end
  return {ok = true, description = run.description, job = run.job, result = done.result, take = recorded.take,
          message = summary(run.description .. ": placed as take " .. tostring(recorded.take) .. ".", recorded.notes)}
end

-- Remove the last result ShotForge placed on this timeline, leaving it as it was before.
function M.remove_last(session)
  local facts = facts_file(session, "facts.json")
  local plan = M.bridge(session, {"remove-last", "--facts", facts})
  if not plan.ok then return plan end
  local done = M.execute_steps(session.resolve, plan.steps)
  if not done.ok then return done end
  local tl = current_timeline(session.resolve)
  local recorded = M.bridge(session, {"removed", "--timeline", tl:GetUniqueId(), "--job", plan.job})
  if not recorded.ok then return recorded end
  return {ok = true, result = done.result,
          message = summary("Removed take " .. tostring(plan.take) .. ".", plan.notes)}
end

-- Headless: one operation start to finish, waiting for the job (`options.new_take`: a new take).
function M.run(resolve, options, on_update)
  local session = M.session(resolve)
  if not session.ok then return session end
  local run = M.start(session, options, options and options.new_take)
  if not run.ok then return run end
  while true do
    local record = M.status(session, run, 0.5)
    if not record.ok then return record end
    if on_update then on_update(record) end
    if record.state == "done" then break end
    if record.state == "failed" or record.state == "canceled" then
      return failure(record.error and record.error.code or record.state,
                     record.error and record.error.message or ("The job was " .. record.state .. "; the timeline is unchanged."))
    end
  end
  return M.finish(session, run)
end

-- ---------------------------------------------------------------------------- dialog
local function row(ui, label, widget)
  return ui:HGroup{Weight = 0, ui:Label{Text = label, Weight = 0.35}, widget}
end

local function build_window(ui, disp)
  return disp:AddWindow({ID = "ShotForgeWin", WindowTitle = "ShotForge", Geometry = {200, 150, 560, 700}},
    ui:VGroup{Spacing = 6,
      row(ui, "Operation", ui:ComboBox{ID = "Operation"}),
      row(ui, "Video track", ui:ComboBox{ID = "Track"}),
      row(ui, "Length", ui:HGroup{ui:SpinBox{ID = "Length", Minimum = 1, Maximum = 100000}, ui:ComboBox{ID = "LengthUnit"}}),
      row(ui, "Generate range", ui:ComboBox{ID = "GenerateRange"}),
      row(ui, "Outpaint canvas", ui:HGroup{ui:ComboBox{ID = "Canvas"},
        ui:LineEdit{ID = "CanvasWidth", PlaceholderText = "width"}, ui:LineEdit{ID = "CanvasHeight", PlaceholderText = "height"}}),
      row(ui, "Prompt", ui:LineEdit{ID = "Prompt"}),
      row(ui, "Negative prompt", ui:LineEdit{ID = "NegativePrompt"}),
      row(ui, "Seed", ui:LineEdit{ID = "Seed"}),
      row(ui, "Reference", ui:HGroup{ui:ComboBox{ID = "Reference"}, ui:LineEdit{ID = "ReferenceImage", PlaceholderText = "still path"}}),
      row(ui, "Engine", ui:ComboBox{ID = "Engine"}),
      row(ui, "Placement", ui:HGroup{ui:ComboBox{ID = "Placement"},
        ui:CheckBox{ID = "ConfirmOverwrite", Text = "Overwrite may remove or shorten clips"}}),
      row(ui, "Server", ui:LineEdit{ID = "ServerUrl"}),
      row(ui, "Token", ui:LineEdit{ID = "Token", EchoMode = "Password"}),
      ui:Label{ID = "Status", Text = "", WordWrap = true, Weight = 0},
      ui:HGroup{Weight = 0, ui:Button{ID = "Run", Text = "Run"}, ui:Button{ID = "Cancel", Text = "Cancel job", Enabled = false},
        ui:Button{ID = "NewTake", Text = "New take"}, ui:Button{ID = "RemoveLast", Text = "Remove last result"},
        ui:Button{ID = "Close", Text = "Close"}},
    })
end

-- Combo boxes list the choices `resolve-bridge settings` sends ({label, value} pairs).
local function fill_combo(combo, choices, value)
  for i, choice in ipairs(choices) do
    combo:AddItem(choice[1])
    if choice[2] == value then combo.CurrentIndex = i - 1 end
  end
end

local function chosen(combo, choices)
  local choice = choices[(combo.CurrentIndex or 0) + 1] or choices[1]
  return choice[2]
end

function M.dialog(resolve, fu, bmd)
  local session = M.session(resolve)
  local ui = fu.UIManager
  local disp = bmd.UIDispatcher(ui)
  local win = build_window(ui, disp)
  local it = win:GetItems()
  local d = {session = session, win = win, items = it, disp = disp}
  local function status(text) it.Status.Text = text end
  if not session.ok then
    status(session.error.message)
  else
    local c, v = session.choices, session.settings
    fill_combo(it.Operation, c.operation, v.operation_choice)
    local tracks = {{"auto", "auto"}}
    local tl = current_timeline(resolve)
    for n = 1, (tl and tl:GetTrackCount("video")) or 1 do tracks[#tracks + 1] = {"V" .. n, "V" .. n} end
    d.tracks = tracks
    fill_combo(it.Track, tracks, tostring(v.track))
    it.Length.Value = tonumber(v.length) or 48
    fill_combo(it.LengthUnit, c.length_unit, v.length_unit)
    fill_combo(it.GenerateRange, c.generate_range, v.generate_range)
    fill_combo(it.Canvas, c.canvas, v.canvas_preset)
    it.CanvasWidth.Text, it.CanvasHeight.Text = tostring(v.canvas_width), tostring(v.canvas_height)
    it.Prompt.Text, it.NegativePrompt.Text, it.Seed.Text = v.prompt or "", v.negative_prompt or "", tostring(v.seed)
    fill_combo(it.Reference, c.reference, v.reference)
    it.ReferenceImage.Text = v.reference_image or ""
    fill_combo(it.Engine, c.engine, v.engine)
    fill_combo(it.Placement, c.placement, v.placement)
    it.ServerUrl.Text, it.Token.Text = v.server_url or "", v.token or ""
  end

  local function values()
    local c = session.choices
    local op = chosen(it.Operation, c.operation)
    return {operation_choice = op, operation = op:match("^[^:]+"), side = op:match(":(.+)$"),
            track = chosen(it.Track, d.tracks), length = it.Length.Value,
            length_unit = chosen(it.LengthUnit, c.length_unit), generate_range = chosen(it.GenerateRange, c.generate_range),
            canvas_preset = chosen(it.Canvas, c.canvas), canvas_width = it.CanvasWidth.Text, canvas_height = it.CanvasHeight.Text,
            prompt = it.Prompt.Text, negative_prompt = it.NegativePrompt.Text, seed = it.Seed.Text,
            reference = chosen(it.Reference, c.reference), reference_image = it.ReferenceImage.Text,
            engine = chosen(it.Engine, c.engine), placement = chosen(it.Placement, c.placement),
            server_url = it.ServerUrl.Text, token = it.Token.Text}
  end

  local function busy(running)
    it.Run.Enabled, it.NewTake.Enabled, it.RemoveLast.Enabled = not running, not running, not running
    it.Cancel.Enabled = running
  end

  local timer = ui:Timer{ID = "ShotForgeTimer", Interval = 500, SingleShot = false}
  d.timer = timer

  local function start(new_take)
    if d.run or not session.ok then return end
    status("Reading the timeline and sending the job…")
    local run = M.start(session, values(), new_take)
    if not run.ok then status(run.error.message); return end
    d.run, d.started = run, os.time()
    os.remove(run.status_file)
    bridge_background(session, {"watch", run.job, "--options", run.options, "--out", run.status_file})
    status(run.description .. ": queued")
    busy(true)
    timer:Start()
  end

  -- The watcher writes the job's state to a file; a tick only reads it, so the dialog never waits.
  function d.tick()
    local run = d.run
    if not run or d.ticking then return end
    d.ticking = true
    local record = M.load_answer(read_file(run.status_file), "status")
    if not record and os.time() - d.started > 15 then record = M.status(session, run, 0) end
    if record and not record.ok then
      status(record.error.message)
    elseif record then
      status(string.format("%s: %s %d%% (%s)", run.description, record.state, math.floor(100 * (record.progress or 0) + 0.5),
                           record.stage or ""))
    end
    local state = record and (record.ok and record.state or "failed")
    if state == "done" or state == "failed" or state == "canceled" then
      timer:Stop()
      d.run = nil
      busy(false)
      if state == "done" then
        local result = M.finish(session, run, {confirm_overwrite = it.ConfirmOverwrite.Checked and true or false})
        status(result.ok and result.message or result.error.message)
      elseif record.ok then
        status(record.error and record.error.message or ("The job was " .. state .. "; the timeline is unchanged."))
      end
    end
    d.ticking = false
  end

  win.On.Run.Clicked = function() start(false) end
  win.On.NewTake.Clicked = function() start(true) end
  win.On.Cancel.Clicked = function()
    if d.run then
      local answer = M.cancel(session, d.run)
      status(answer.ok and "Canceling…" or answer.error.message)
    end
  end
  win.On.RemoveLast.Clicked = function()
    if d.run or not session.ok then return end
    local answer = M.remove_last(session)
    status(answer.ok and (answer.message or "Removed the last result.") or answer.error.message)
  end
  local function close()
    if d.run then M.cancel(session, d.run) end
    timer:Stop()
    disp:ExitLoop()
  end
  win.On.Close.Clicked = close
  win.On.ShotForgeWin.Close = close
  win.On.ShotForgeTimer.Timeout = d.tick
  disp.On.Timeout = d.tick  -- where Fusion's Lua delivers timer events (the tick ignores a second call)
  return d
end

ShotForge = M
if rawget(_G, "SHOTFORGE_HEADLESS") then return M end

local app = rawget(_G, "resolve") or (rawget(_G, "Resolve") and Resolve())
local fusion = rawget(_G, "fu") or rawget(_G, "fusion") or (app and app:Fusion())
if not app or not fusion or not rawget(_G, "bmd") then
  print("ShotForge: run this from DaVinci Resolve's Workspace > Scripts menu.")
  return M
end
local d = M.dialog(app, fusion, bmd)
d.win:Show()
d.disp:RunLoop()
d.win:Hide()
return M
