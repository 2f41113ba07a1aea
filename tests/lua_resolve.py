"""Run plugins/resolve/ShotForge.lua in real Lua 5.1 (lupa) against tests/fake_resolve.py.

The fake's API objects reach Lua the way Resolve's Lua sees its own: each one is a Lua table
whose ``__index`` gives, for a call the object has (``name in dir(obj)``, so version-gated calls
are absent: ``tl.GetMarkInOut == nil`` on an old build), a function called with ``:``
(``obj:GetName()``: the ``self`` Lua passes is dropped), and for a constant (``resolve.EXPORT_OTIO``)
its value; any other name is nil. Values cross converted: Python lists -> 1-based tables, dicts ->
tables, None -> nil, str <-> Lua strings (UTF-8 bytes); Lua tables passed to the API (clipInfo,
item lists) -> dicts and lists, proxies -> the fake objects. ``io.popen`` is Lua's own, so the
bridge runs as a real subprocess (``SHOTFORGE_COMMAND``: ``python -m server.cli``). lupa's bundled
Lua 5.1 is built without ``LUA_USE_POPEN`` ("'popen' not supported"), so the harness gives
``io.popen`` the C library's behaviour itself: the line run by ``/bin/sh -c``, its stdout read
back (reading mode only, which is all the script uses).

A stand-in for Fusion's UIManager (:data:`FAKE_UI`, in Lua) records the dialog the script builds,
so a test can click its buttons and fire its timer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lupa.lua51 as lupa51

import fake_resolve

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "plugins" / "resolve" / "ShotForge.lua"

PROXY = b"""
local has, call, value, same = ...
local HANDLE = {}
local MT = {}
local function proxy(handle) return setmetatable({[HANDLE] = handle}, MT) end
MT.__index = function(t, name)
  local handle = rawget(t, HANDLE)
  local kind = has(handle, name)
  if kind == "method" then
    return function(self, ...)
      if self ~= t then error("call " .. name .. " with ':' (Resolve's Lua passes the object first)", 2) end
      return call(handle, name, ...)
    end
  elseif kind == "value" then
    return value(handle, name)
  elseif kind == "absent" then
    return function() return nil end  -- a name this build lacks answers like a call that does nothing
  end
  return nil
end
MT.__newindex = function(t, name) error("cannot set " .. tostring(name) .. " on a Resolve object", 2) end
MT.__eq = function(a, b) return same(rawget(a, HANDLE), rawget(b, HANDLE)) end
local function unwrap(t) return rawget(t, HANDLE) end
return proxy, unwrap
"""

POPEN = b"""
local start, read_all, close = ...
io.popen = function(line, mode)
  if mode ~= nil and mode ~= "r" then error("this io.popen reads only", 2) end
  local process = start(line)
  return {read = function(self, format)
            if format ~= "*a" then error("this io.popen reads '*a' only", 2) end
            return read_all(process)
          end,
          close = function(self) return close(process) end}
end
"""

#: Fusion's UIManager as far as the dialog uses it: elements are tables of their properties;
#: ``ui.windows`` holds what AddWindow built; a window's ``On`` table holds the handlers.
FAKE_UI = b"""
local ui = {windows = {}, timers = {}}
local function element(kind)
  return function(self, props)
    local e = {kind = kind, children = {}, items = {}, CurrentIndex = 0, Text = "", Enabled = true}
    for k, v in pairs(props or {}) do
      if type(k) == "number" then e.children[#e.children + 1] = v else e[k] = v end
    end
    function e:AddItem(text) self.items[#self.items + 1] = text end
    return e
  end
end
for _, kind in ipairs({"VGroup", "HGroup", "Label", "Button", "CheckBox", "LineEdit", "TextEdit", "ComboBox",
                       "SpinBox"}) do ui[kind] = element(kind) end
function ui:Timer(props)
  local timer = {props = props, running = false}
  function timer:Start() self.running = true end
  function timer:Stop() self.running = false end
  self.timers[#self.timers + 1] = timer
  return timer
end
local function collect(e, out)
  if e.ID then out[e.ID] = e end
  for _, child in ipairs(e.children or {}) do collect(child, out) end
  return out
end
local disp = {On = {}}
function disp:AddWindow(props, layout)
  local win = {props = props, layout = layout, shown = false}
  win.On = setmetatable({}, {__index = function(t, id) local h = {}; rawset(t, id, h); return h end})
  local items = collect(layout, {})
  function win:GetItems() return items end
  function win:Show() self.shown = true end
  function win:Hide() self.shown = false end
  ui.windows[#ui.windows + 1] = win
  return win
end
function disp:RunLoop() end
function disp:ExitLoop() ui.exited = true end
local bmd = {UIDispatcher = function(manager) return disp end}
return {UIManager = ui}, bmd
"""


def _text(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


class LuaResolve:
    """ShotForge.lua loaded headless in a fresh Lua 5.1, with ``command`` (a list of words; default
    this interpreter's ``-m server.cli``) as its shotforge command.

    What Resolve's Lua gives for a name its build lacks is unmeasured; in Python ``hasattr()`` is
    True for every name (measured), so by default (``absent="callable"``) such a name reads as a
    function that answers nil, and a probe like ``obj.Name ~= nil`` is always true, as it would be
    there. ``absent="nil"`` gives nil instead, the other way a binding could behave."""

    def __init__(self, command=None, script: Path = SCRIPT, absent: str = "callable"):
        assert absent in ("callable", "nil"), absent
        self.absent = absent
        self.lua = lupa51.LuaRuntime(encoding=None, unpack_returned_tuples=True)
        proxy_chunk = self.lua.execute(b"return function(...) " + PROXY + b" end")
        # Lua holds plain numbers standing for the Python objects (kept in ``self._objects``), never
        # the objects themselves: lupa maps Python objects by id(), which a freed object hands on.
        self._objects: dict[int, object] = {}
        self._proxy, self._unwrap = proxy_chunk(self._has, self._call, self._value, lambda a, b: a == b)
        self._processes: dict[int, subprocess.Popen] = {}
        self.lua.execute(b"return function(...) " + POPEN + b" end")(self._popen_start, self._popen_read,
                                                                      self._popen_close)
        self.globals = self.lua.globals()
        self.globals[b"SHOTFORGE_HEADLESS"] = True
        if command is None:
            command = [sys.executable, "-m", "server.cli"]
        if command:  # empty: no override, the script finds its command as installed
            self.globals[b"SHOTFORGE_COMMAND"] = self.to_lua(list(command))
        loaded = self.lua.globals().loadfile(str(script).encode())
        assert not isinstance(loaded, tuple), _text(loaded[1])  # (nil, message) when it does not compile
        self.module = loaded()

    # -- the API objects ------------------------------------------------------------------
    def _has(self, handle, name):
        obj, name = self._objects[handle], _text(name)
        if not isinstance(obj, fake_resolve.ApiObject):
            return None
        if name not in dir(obj):
            cls = obj.api_class
            if name in fake_resolve.API.get(cls, {}) or (cls == "Resolve" and name in fake_resolve.CONSTANTS):
                return b"absent" if self.absent == "callable" else None  # documented, not in this build
            if name[:1].isupper():
                try:  # not in resolve_api.tsv at all: reading it records the violation, as from Python
                    getattr(obj, name)
                except fake_resolve.ApiViolation:
                    pass
            return None
        return b"value" if name.isupper() else b"method"

    def _value(self, handle, name):
        return self.to_lua(getattr(self._objects[handle], _text(name)))

    def _call(self, handle, name, *args):
        method = getattr(self._objects[handle], _text(name))
        return self.to_lua(method(*[self.to_py(arg) for arg in args]))

    # -- io.popen -----------------------------------------------------------------------------
    def _popen_start(self, line):
        handle = len(self._processes) + 1
        self._processes[handle] = subprocess.Popen(["/bin/sh", "-c", _text(line)], stdout=subprocess.PIPE)
        return handle

    def _popen_read(self, handle):
        return self._processes[handle].stdout.read()

    def _popen_close(self, handle):
        process = self._processes.pop(handle)
        process.stdout.close()
        return process.wait() == 0

    # -- values -----------------------------------------------------------------------------
    def to_lua(self, value):
        if isinstance(value, fake_resolve.ApiObject):
            handle = len(self._objects) + 1
            self._objects[handle] = value
            return self._proxy(handle)
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, (list, tuple)):
            table = self.lua.table()
            for index, item in enumerate(value, 1):
                table[index] = self.to_lua(item)
            return table
        if isinstance(value, dict):
            table = self.lua.table()
            for key, item in value.items():
                table[self.to_lua(key)] = self.to_lua(item)
            return table
        if value is None or isinstance(value, (bool, int, float, bytes)):
            return value
        if callable(value):  # a test's callback (on_update): Lua calls it
            return value
        raise TypeError(f"the fake returned a {type(value).__name__}, which Resolve's Lua could not see")

    def to_py(self, value):
        if isinstance(value, bytes):
            return _text(value)
        if lupa51.lua_type(value) == "table":
            handle = self._unwrap(value)
            if handle is not None:
                return self._objects[handle]
            pairs = [(self.to_py(k), self.to_py(v)) for k, v in value.items()]
            keys = [k for k, _ in pairs]
            if all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
                return [v for _, v in sorted(pairs)]
            return dict(pairs)
        if lupa51.lua_type(value) == "function":
            raise TypeError("a Lua function cannot be passed to Resolve's API")
        return value

    # -- the script -------------------------------------------------------------------------
    def call(self, name, *args):
        """``ShotForge.<name>(args...)`` with Python values in and out (API objects as proxies)."""
        function = self.module[name.encode()]
        assert function is not None, f"ShotForge.lua defines no {name}"
        return self.to_py(function(*[self.to_lua(arg) for arg in args]))

    def call_raw(self, name, *args):
        """Like :meth:`call`, the result left as Lua values (for state kept between calls)."""
        return self.module[name.encode()](*args)

    def eval(self, code: str):
        return self.lua.eval(code.encode())

    def fake_ui(self):
        """(fusion, bmd) stand-ins for the dialog; ``fusion.UIManager.windows`` lists its windows."""
        return self.lua.execute(FAKE_UI)
