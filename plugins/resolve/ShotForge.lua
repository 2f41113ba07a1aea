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
--   sf.run(resolve, {operation = "inpaint", inpaint_region = {640, 360, 200, 120}, prompt = ""})
-- `answer.ok` is true or `answer.error` = {code, message}. The global SHOTFORGE_COMMAND (a table of
-- words, e.g. {"python", "-m", "server.cli"}) overrides the shotforge command. The Python twin is
-- shotforge_resolve.workflow.run(resolve, options).

local SHOTFORGE_CMD = ""  -- filled in by `shotforge install-resolve`: the shotforge command's path
local SHOTFORGE_LIB = ""  -- filled in by `shotforge install-resolve`: the folder holding shotforge_lua/

local M = {WINDOWS = package.config:sub(1, 1) == "\\", installed_command = SHOTFORGE_CMD}
local WINDOWS = M.WINDOWS
local SEP = WINDOWS and "\\" or "/"

-- The parts in shotforge_lua/ (kept out of Resolve's Scripts menu, which lists every .lua there):
-- the installer's folder, the global SHOTFORGE_LUA_LIB, beside this file (a checkout), the default.
local function find_lib()
  local source = debug.getinfo(1, "S").source or ""
  local here = source:sub(1, 1) == "@" and source:sub(2):match("^(.*)[/\\]") or ""
  local home, data = os.getenv("HOME") or "", os.getenv("XDG_DATA_HOME") or ""
  local dirs = {rawget(_G, "SHOTFORGE_LUA_LIB") or "", SHOTFORGE_LIB, here}
  if WINDOWS then dirs[#dirs + 1] = (os.getenv("APPDATA") or "") .. "\\ShotForge\\resolve"
  else  -- install.lib_dir's defaults: Linux, then macOS
    dirs[#dirs + 1] = (data ~= "" and data or home .. "/.local/share") .. "/shotforge/resolve"
    dirs[#dirs + 1] = home .. "/Library/Application Support/ShotForge/resolve"
  end
  for _, dir in ipairs(dirs) do
    local handle = dir ~= "" and io.open(dir .. SEP .. "shotforge_lua" .. SEP .. "bridge.lua", "rb")
    if handle then handle:close(); return dir end
  end
end

local lib = find_lib()
if not lib then
  local message = "ShotForge: its shotforge_lua folder was not found; run `shotforge install-resolve`."
  if rawget(_G, "SHOTFORGE_HEADLESS") then error(message, 0) end
  print(message)
  return
end
for _, part in ipairs({"bridge", "facts", "steps"}) do
  local chunk, err = loadfile(lib .. SEP .. "shotforge_lua" .. SEP .. part .. ".lua")
  if not chunk then error(err, 0) end
  chunk(M)
end
local failure, join, read_file, write_file, json_encode = M.failure, M.join, M.read_file, M.write_file, M.json_encode

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
  return select(2, M.current_timeline(resolve))
end

-- Read the timeline, have the request prepared, export and submit it. With `new_take`, re-render
-- the last result's slot from its stored request instead (the options' seed and prompt).
function M.start(session, options, new_take)
  local run = {options = options_file(session, options), facts = facts_file(session, "facts.json"),
               meta = join(session.workdir, "meta.json"), target = join(session.workdir, "target.json"),
               status_file = join(session.workdir, "status.lua")}
  if new_take then
    local answer = M.bridge(session, {"new-take", "--facts", run.facts, "--options", run.options})
    if not answer.ok then return answer end
    run.description, run.job, run.ok = answer.description, answer.job, true
    return run
  end
  local answer = M.bridge(session, {"prepare", "--facts", run.facts, "--options", run.options, "--meta-out", run.meta,
                                    "--target-out", run.target})
  if not answer.ok then return answer end
  run.description = answer.description
  local tl = current_timeline(session.resolve)
  local request = join(session.workdir, "request.otio")
  os.remove(request)
  local otio = session.resolve.EXPORT_OTIO  -- a build without it may answer nil or a function (any name answers)
  if otio == nil or type(otio) == "function" or not tl:Export(request, otio) then
    return failure("export_failed", "Resolve could not export the timeline as OTIO to " .. request ..
      " (ShotForge needs Resolve 18.5 or later).")
  end
  answer = M.bridge(session, {"submit", "--request", request, "--meta", run.meta, "--timeline", answer.timeline,
                              "--target", run.target, "--options", run.options})
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

-- Steps carried out; when they failed after putting clips back under new ids, the take store
-- follows the new ids (`resolve-bridge restored`), so those takes can still be removed.
local function execute_and_follow(session, steps)
  local done = M.execute_steps(session.resolve, steps)
  if not done.ok and next(done.error.restored or {}) ~= nil then
    local tl = current_timeline(session.resolve)
    local ids = write_file(join(session.workdir, "restored.json"), json_encode(done.error.restored))
    M.bridge(session, {"restored", "--timeline", tl:GetUniqueId(), "--ids", ids})
  end
  return done
end

-- Place a finished job's result: steps planned from fresh facts, carried out, the take recorded.
-- `options` (optional) adds to the run's options for the plan: {confirm_overwrite = question}, the
-- question of an overwrite_needs_confirmation answer the editor said yes to.
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
  local done = execute_and_follow(session, plan.steps)
  if not done.ok then return done end
  local result = write_file(join(session.workdir, "placed.json"), json_encode(done.result))
  local recorded = M.bridge(session, {"placed", "--job", run.job, "--result", result, "--options", run.options})
  if not recorded.ok then return recorded end
  local sound, seen = {}, {}  -- each audio track once (an extension's handles and new frames share one)
  for _, item in ipairs(done.result.audio or {}) do
    if not seen[item.track] then
      seen[item.track] = true
      sound[#sound + 1] = "A" .. item.track
    end
  end
  local placed = run.description .. ": placed as take " .. tostring(recorded.take) ..
    (#sound > 0 and ", its sound on " .. table.concat(sound, ", ") or "") .. "."
  return {ok = true, description = run.description, job = run.job, result = done.result, take = recorded.take,
          message = summary(placed, recorded.notes)}
end

-- Remove the last result ShotForge placed on this timeline, leaving it as it was before.
function M.remove_last(session)
  local facts = facts_file(session, "facts.json")
  local plan = M.bridge(session, {"remove-last", "--facts", facts})
  if not plan.ok then return plan end
  local done = execute_and_follow(session, plan.steps)
  if not done.ok then return done end
  local tl = current_timeline(session.resolve)
  local result = write_file(join(session.workdir, "removed.json"), json_encode(done.result))
  local recorded = M.bridge(session, {"removed", "--timeline", tl:GetUniqueId(), "--job", plan.job, "--result", result})
  if not recorded.ok then return recorded end
  return {ok = true, result = done.result, message = summary(recorded.message, plan.notes)}
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
                     record.error and record.error.message or
                       ("The job was " .. record.state .. "; the timeline is unchanged."))
    end
  end
  return M.finish(session, run)
end

-- ---------------------------------------------------------------------------- conform placeholders
-- Every ShotForge placeholder on the timeline re-rendered (the options' conform_engine,
-- conform_model, conform_classical, conform_mode, conform_new_seed); the bridge decides which
-- takes, the new jobs' progress and each take's steps; here the steps are carried out.
function M.conform_start(session, options)
  local run = {options = options_file(session, options), facts = facts_file(session, "facts.json")}
  local answer = M.bridge(session, {"conform-start", "--facts", run.facts, "--options", run.options})
  if not answer.ok then return answer end
  run.conform, run.count, run.description, run.ok = answer.conform, answer.count, answer.description, true
  return run
end

function M.conform_status(session, run, wait)
  return M.bridge(session, {"conform-status", run.conform, "--options", run.options, "--wait", tostring(wait or 0)})
end

function M.conform_cancel(session, run)
  return M.bridge(session, {"conform-cancel", run.conform, "--options", run.options})
end

-- Place each finished re-render in turn (one that fails is undone and named; the rest go on).
function M.conform_place(session, run)
  for index = 1, run.count do
    local facts = facts_file(session, "facts_after.json")
    local plan = M.bridge(session, {"conform-steps", run.conform, "--index", tostring(index), "--facts", facts})
    if not plan.ok then return plan end
    if not plan.skip then
      local done = execute_and_follow(session, plan.steps)
      local outcome = done.ok and done.result or {error = done.error.message}
      local result = write_file(join(session.workdir, "placed.json"), json_encode(outcome))
      local recorded = M.bridge(session, {"conform-placed", run.conform, "--index", tostring(index),
                                          "--result", result})
      if not recorded.ok then return recorded end
    end
  end
  local answer = M.bridge(session, {"conform-summary", run.conform})
  if not answer.ok then return answer end
  return {ok = true, conform = run.conform, message = answer.message}
end

-- Headless: Conform placeholders start to finish, `on_update({state, progress, stage})` over it.
function M.conform(resolve, options, on_update)
  local session = M.session(resolve)
  if not session.ok then return session end
  local run = M.conform_start(session, options)
  if not run.ok then return run end
  while true do
    local record = M.conform_status(session, run, 0.5)
    if not record.ok then return record end
    if on_update then on_update(record) end
    if record.state == "done" then break end
  end
  return M.conform_place(session, run)
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
      row(ui, "Length", ui:HGroup{ui:SpinBox{ID = "Length", Minimum = 1, Maximum = 100000},
                                  ui:ComboBox{ID = "LengthUnit"}}),
      row(ui, "Generate range", ui:ComboBox{ID = "GenerateRange"}),
      row(ui, "Outpaint canvas", ui:HGroup{ui:ComboBox{ID = "Canvas"},
        ui:LineEdit{ID = "CanvasWidth", PlaceholderText = "width"},
        ui:LineEdit{ID = "CanvasHeight", PlaceholderText = "height"}}),
      row(ui, "Inpaint", ui:ComboBox{ID = "InpaintWith"}),
      row(ui, "Inpaint region", ui:HGroup{
        ui:LineEdit{ID = "InpaintRegion", PlaceholderText = "x, y, width, height (source pixels)"},
        ui:LineEdit{ID = "InpaintRegionEnd",
                    PlaceholderText = "at the clip's last frame (optional: a moving object)"}}),
      row(ui, "Inpaint matte", ui:LineEdit{ID = "InpaintMask", PlaceholderText = "matte file (white = replace)"}),
      row(ui, "Prompt", ui:LineEdit{ID = "Prompt"}),
      row(ui, "Negative prompt", ui:LineEdit{ID = "NegativePrompt"}),
      row(ui, "Seed", ui:LineEdit{ID = "Seed"}),
      row(ui, "Reference", ui:HGroup{ui:ComboBox{ID = "Reference"},
                                     ui:LineEdit{ID = "ReferenceImage", PlaceholderText = "still path"}}),
      row(ui, "Engine", ui:ComboBox{ID = "Engine"}),
      row(ui, "Placement", ui:HGroup{ui:ComboBox{ID = "Placement"},
        ui:CheckBox{ID = "ConfirmOverwrite", Text = "Overwrite may remove or shorten clips"}}),
      row(ui, "Conform with", ui:HGroup{ui:ComboBox{ID = "ConformEngine"},
        ui:LineEdit{ID = "ConformModel", PlaceholderText = "model (diffusers)"}}),
      row(ui, "Conform", ui:HGroup{ui:ComboBox{ID = "ConformMode"},
        ui:CheckBox{ID = "ConformClassical", Text = "Include classical results"},
        ui:CheckBox{ID = "ConformNewSeed", Text = "New seed"}}),
      row(ui, "Server", ui:LineEdit{ID = "ServerUrl"}),
      row(ui, "Token", ui:LineEdit{ID = "Token", EchoMode = "Password"}),
      ui:Label{ID = "Status", Text = "", WordWrap = true, Weight = 0},
      ui:HGroup{Weight = 0, ui:Button{ID = "Run", Text = "Run"},
        ui:Button{ID = "Cancel", Text = "Cancel job", Enabled = false},
        ui:Button{ID = "NewTake", Text = "New take"}, ui:Button{ID = "RemoveLast", Text = "Remove last result"},
        ui:Button{ID = "Conform", Text = "Conform placeholders"},
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
    fill_combo(it.InpaintWith, c.inpaint_with, v.inpaint_with)
    it.InpaintRegion.Text = tostring(v.inpaint_region or "")
    it.InpaintRegionEnd.Text = tostring(v.inpaint_region_end or "")
    it.InpaintMask.Text = v.inpaint_mask or ""
    it.Prompt.Text, it.NegativePrompt.Text, it.Seed.Text = v.prompt or "", v.negative_prompt or "", tostring(v.seed)
    fill_combo(it.Reference, c.reference, v.reference)
    it.ReferenceImage.Text = v.reference_image or ""
    fill_combo(it.Engine, c.engine, v.engine)
    fill_combo(it.Placement, c.placement, v.placement)
    fill_combo(it.ConformEngine, c.conform_engine, v.conform_engine)
    fill_combo(it.ConformMode, c.conform_mode, v.conform_mode)
    it.ConformModel.Text = v.conform_model or ""
    it.ConformClassical.Checked, it.ConformNewSeed.Checked = v.conform_classical == true, v.conform_new_seed == true
    it.ServerUrl.Text, it.Token.Text = v.server_url or "", v.token or ""
  end

  local function values()
    local c = session.choices
    local op = chosen(it.Operation, c.operation)
    return {operation_choice = op, operation = op:match("^[^:]+"), side = op:match(":(.+)$"),
            track = chosen(it.Track, d.tracks), length = it.Length.Value,
            length_unit = chosen(it.LengthUnit, c.length_unit),
            generate_range = chosen(it.GenerateRange, c.generate_range), canvas_preset = chosen(it.Canvas, c.canvas),
            canvas_width = it.CanvasWidth.Text, canvas_height = it.CanvasHeight.Text,
            inpaint_with = chosen(it.InpaintWith, c.inpaint_with), inpaint_region = it.InpaintRegion.Text,
            inpaint_region_end = it.InpaintRegionEnd.Text, inpaint_mask = it.InpaintMask.Text,
            prompt = it.Prompt.Text, negative_prompt = it.NegativePrompt.Text, seed = it.Seed.Text,
            reference = chosen(it.Reference, c.reference), reference_image = it.ReferenceImage.Text,
            engine = chosen(it.Engine, c.engine), placement = chosen(it.Placement, c.placement),
            conform_engine = chosen(it.ConformEngine, c.conform_engine), conform_model = it.ConformModel.Text,
            conform_mode = chosen(it.ConformMode, c.conform_mode), conform_classical = it.ConformClassical.Checked,
            conform_new_seed = it.ConformNewSeed.Checked,
            server_url = it.ServerUrl.Text, token = it.Token.Text}
  end

  local function busy(running)
    it.Run.Enabled, it.NewTake.Enabled, it.RemoveLast.Enabled = not running, not running, not running
    it.Conform.Enabled = not running
    it.Cancel.Enabled = running
  end

  local timer = ui:Timer{ID = "ShotForgeTimer", Interval = 500, SingleShot = false}
  d.timer = timer

  local function start(new_take)
    if d.run or not session.ok then return end
    local pending = d.pending
    d.pending = nil
    if pending and not new_take and it.ConfirmOverwrite.Checked then  -- the render waiting for the editor's yes
      -- the yes is to exactly what was listed: if other clips are in the way now, it asks again
      local result = M.finish(session, pending.run, {confirm_overwrite = pending.question})
      if not result.ok and result.error.code == "overwrite_needs_confirmation" then
        d.pending = {run = pending.run, question = result.error.question}
        status(result.error.message .. "\nThe clips in the way changed: to overwrite these, press Run again.")
      else
        status(result.ok and result.message or result.error.message)
      end
      return
    end
    status("Reading the timeline and sending the job…")
    local run = M.start(session, values(), new_take)
    if not run.ok then status(run.error.message); return end
    d.run, d.started = run, os.time()
    os.remove(run.status_file)
    M.bridge_background(session, {"watch", run.job, "--options", run.options, "--out", run.status_file})
    status(run.description .. ": queued")
    busy(true)
    timer:Start()
  end

  local function start_conform()
    if d.run or d.conform or not session.ok then return end
    status("Reading the timeline and sending the re-renders…")
    local run = M.conform_start(session, values())
    if not run.ok then status(run.error.message); return end
    d.conform = run
    status(run.description)
    busy(true)
    timer:Start()
  end

  -- A conform's tick asks for progress over all its re-renders; once all ended, places each.
  local function conform_tick(run)
    local record = M.conform_status(session, run, 0)
    if not record.ok then status(record.error.message) end
    if record.ok and record.state ~= "done" then
      status(string.format("%s: %d%% (%s)", run.description, math.floor(100 * (record.progress or 0) + 0.5),
                           record.stage or ""))
      return
    end
    timer:Stop()
    d.conform = nil
    busy(false)
    if record.ok then
      status("Placing the new takes…")
      local result = M.conform_place(session, run)
      status(result.ok and result.message or result.error.message)
    end
  end

  -- The watcher writes the job's state to a file; a tick only reads it, so the dialog never waits.
  function d.tick()
    if d.conform and not d.ticking then
      d.ticking = true
      conform_tick(d.conform)
      d.ticking = false
      return
    end
    local run = d.run
    if not run or d.ticking then return end
    d.ticking = true
    local record = M.load_answer(read_file(run.status_file), "status")
    if not record and os.time() - d.started > 15 then record = M.status(session, run, 0) end
    if record and not record.ok then
      status(record.error.message)
    elseif record then
      status(string.format("%s: %s %d%% (%s)", run.description, record.state,
                           math.floor(100 * (record.progress or 0) + 0.5),
                           record.stage or ""))
    end
    local state = record and (record.ok and record.state or "failed")
    if state == "done" or state == "failed" or state == "canceled" then
      timer:Stop()
      d.run = nil
      busy(false)
      if state == "done" then
        local result = M.finish(session, run)
        if not result.ok and result.error.code == "overwrite_needs_confirmation" then
          -- placed on Run once the editor ticks the overwrite box; nothing rendered again
          d.pending = {run = run, question = result.error.question}
          status(result.error.message .. "\nTo overwrite, tick the box and press Run.")
        else
          status(result.ok and result.message or result.error.message)
        end
      elseif record.ok then
        status(record.error and record.error.message or ("The job was " .. state .. "; the timeline is unchanged."))
      end
    end
    d.ticking = false
  end

  win.On.Run.Clicked = function() start(false) end
  win.On.NewTake.Clicked = function() start(true) end
  win.On.Conform.Clicked = start_conform
  win.On.Cancel.Clicked = function()
    if d.conform then
      local answer = M.conform_cancel(session, d.conform)
      timer:Stop()
      d.conform = nil
      busy(false)
      status(answer.ok and "Conform canceled: the re-renders still running were canceled and nothing was placed."
             or answer.error.message)
      return
    end
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
    if d.conform then M.conform_cancel(session, d.conform) end
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
