"""``shotforge install-resolve``: both Resolve entries (ShotForge.py, ShotForge.lua) into the Scripts
folder, their parts into the data folder, the shotforge command's path written into the Lua entry,
and --uninstall removing all of it; the installed Lua entry loaded in real Lua 5.1 and run."""

from __future__ import annotations

import io
import re
import stat
import sys
from contextlib import redirect_stdout

from resolve_helpers import PLUGIN, REPO, api_check, make_media, new_resolve  # noqa: F401 (api_check: autouse)

from lua_resolve import LuaResolve  # noqa: E402
from plugins.resolve import install  # noqa: E402
from server.cli import main as shotforge  # noqa: E402


def wrapper(folder):
    """A `shotforge` command: this checkout's CLI with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shotforge"
    path.write_text(f"#!/bin/sh\nPYTHONPATH='{REPO}' exec '{sys.executable}' -m server.cli \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_install_puts_both_entries_in_scripts_and_their_parts_in_the_data_folder(tmp_path):
    dest, lib = tmp_path / "Fusion" / "Scripts" / "Edit", tmp_path / "data" / "resolve"
    dest.mkdir(parents=True)
    (dest / "Other.lua").write_text("-- someone else's script\n")
    command = wrapper(tmp_path / "bin")
    target = install.install(dest, lib=lib, command=str(command))
    assert target == dest / "ShotForge.py"
    assert sorted(p.name for p in dest.iterdir()) == ["Other.lua", "ShotForge.lua", "ShotForge.py"]
    assert (lib / "shotforge_resolve" / "bridge.py").is_file()
    assert sorted(p.name for p in (lib / "shotforge_lua").iterdir()) == ["bridge.lua", "facts.lua", "steps.lua"]
    assert not list(lib.rglob("__pycache__"))
    assert not list(tmp_path.rglob("*.new")) and not list(tmp_path.rglob("*.tmp"))
    lua = (dest / "ShotForge.lua").read_text()
    assert f'local SHOTFORGE_CMD = "{command}"' in lua and f'local SHOTFORGE_LIB = "{lib}"' in lua
    assert f"SHOTFORGE_LIB = {str(lib)!r}" in target.read_text()
    install.install(dest, lib=lib, command=str(command))  # again: an upgrade in place
    assert sorted(p.name for p in dest.iterdir()) == ["Other.lua", "ShotForge.lua", "ShotForge.py"]

    removed = install.uninstall(dest, lib=lib)
    assert sorted(p.name for p in removed) == ["ShotForge.lua", "ShotForge.py", "shotforge_lua", "shotforge_resolve"]
    assert [p.name for p in dest.iterdir()] == ["Other.lua"] and not list(lib.iterdir())


def test_the_installed_lua_entry_runs_the_installed_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    dest, lib = tmp_path / "Scripts" / "Edit", tmp_path / "l'ib \"\u00e9\\x"  # quotes, a backslash, non-ASCII
    command = wrapper(tmp_path / "b'in \u00e9")
    install.install(dest, lib=lib, command=str(command))
    lua = LuaResolve(command=[], script=dest / "ShotForge.lua")  # no override: the installed line counts
    assert lua.to_py(lua.module[b"find_command"]()) == [str(command)]
    resolve, _timeline, _ = new_resolve("25", make_media("25", tmp_path / "media"))
    session = lua.to_py(lua.module[b"session"](lua.to_lua(resolve)))
    assert session.get("ok"), session
    assert session["workdir"] == str(tmp_path / "config" / "lua")
    assert session["command"] == [str(command)]


def test_a_windows_install_writes_lua_string_literals_lua_reads_back(tmp_path):
    command = "C:\\Program Files\\ShotForge\\Scripts\\shotforge.exe"
    lib = "C:\\Users\\\u00c9ditor\\AppData\\Roaming\\ShotForge\\resolve\\"
    install.install(tmp_path / "dest", platform="win32", lib=tmp_path / "lib", command=command)
    text = (tmp_path / "dest" / "ShotForge.lua").read_text()
    line = re.search(r"^local SHOTFORGE_CMD = (.*?)  --", text, re.MULTILINE).group(1)
    lua = LuaResolve()
    assert lua.eval(line) == command.encode()
    assert lua.eval(install._lua_string(lib)) == lib.encode("utf-8")


def test_without_a_shotforge_command_the_lua_entry_looks_on_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "shotforge_command", lambda platform=None: None)
    install.install(tmp_path / "dest", lib=tmp_path / "lib")
    assert 'local SHOTFORGE_CMD = ""' in (tmp_path / "dest" / "ShotForge.lua").read_text()
    command = wrapper(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(command.parent))
    lua = LuaResolve(command=[], script=tmp_path / "dest" / "ShotForge.lua")
    assert lua.to_py(lua.module[b"find_command"]()) == [str(command)]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert lua.module[b"find_command"]() is None


def test_shotforge_install_resolve_command_line(tmp_path):
    dest, lib, command = tmp_path / "d", tmp_path / "l", wrapper(tmp_path / "bin")
    out = io.StringIO()
    with redirect_stdout(out):
        assert shotforge(["install-resolve", "--dest", str(dest), "--lib", str(lib), "--command", str(command)]) == 0
    assert f"runs {command}" in out.getvalue()
    assert (dest / "ShotForge.py").is_file() and (dest / "ShotForge.lua").is_file()
    with redirect_stdout(io.StringIO()):
        assert shotforge(["install-resolve", "--dest", str(dest), "--lib", str(lib), "--command",
                          str(tmp_path / "missing")]) == 1
        assert shotforge(["install-resolve", "--dest", str(dest), "--lib", str(lib), "--uninstall"]) == 0
    assert not list(dest.iterdir()) and not list(lib.iterdir())


def test_the_package_ships_the_lua_entry_and_its_parts():
    text = (REPO / "pyproject.toml").read_text()
    assert '"plugins.resolve" = ["*.py", "*.lua", "shotforge_lua/*.lua", "README.md"]' in text
    assert (PLUGIN / "ShotForge.lua").is_file() and (PLUGIN / "shotforge_lua" / "steps.lua").is_file()
