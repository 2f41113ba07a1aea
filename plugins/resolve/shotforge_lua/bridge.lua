-- ShotForge.lua's link to the shotforge command: a JSON writer (Lua 5.1 has none), loading the
-- bridge's answers (Lua table literals) with no globals, and running `shotforge resolve-bridge`
-- with every argument quoted for POSIX sh or Windows cmd.exe. Loaded by ShotForge.lua with the
-- module table M as its argument.
local M = ...
local WINDOWS = M.WINDOWS

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

function M.json_number(n)
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

local json_number = M.json_number

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

function M.failure(code, message)
  return {ok = false, error = {code = code, message = message}}
end
local failure = M.failure

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
  local installed = M.installed_command or ""
  if installed ~= "" and readable(installed) then return {installed} end
  local sep, names = WINDOWS and ";" or ":", WINDOWS and {"shotforge.exe", "shotforge.cmd"} or {"shotforge"}
  for dir in (os.getenv("PATH") or ""):gmatch("[^" .. sep .. "]+") do
    for _, name in ipairs(names) do
      local path = dir .. (WINDOWS and "\\" or "/") .. name
      if readable(path) then return {path} end
    end
  end
  return nil
end

function M.read_file(path)
  local handle = io.open(path, "rb")
  if not handle then return nil end
  local text = handle:read("*a")
  handle:close()
  return text
end

function M.write_file(path, text)
  local handle, err = io.open(path, "wb")
  if not handle then error("cannot write " .. path .. ": " .. tostring(err), 0) end
  handle:write(text)
  handle:close()
  return path
end

function M.join(dir, name)
  return dir .. (WINDOWS and "\\" or "/") .. name
end

local read_file, join = M.read_file, M.join

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
function M.bridge_background(session, words)
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
