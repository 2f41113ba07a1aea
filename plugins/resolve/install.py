"""Install the ShotForge scripts into DaVinci Resolve's Scripts menu.

``shotforge install-resolve`` copies both entries, ``ShotForge.py`` (Resolve's Python: Studio, and
the free edition up to 21.0.x) and ``ShotForge.lua`` (Lua: every edition, the only one Resolve
21.1's free edition lists), into Resolve's per-user ``Fusion/Scripts/Edit`` folder (Workspace >
Scripts on the Edit page), and their parts (the ``shotforge_resolve`` package and the
``shotforge_lua`` folder) into ShotForge's data folder, out of the Scripts menu. It writes that
folder into both scripts (``SHOTFORGE_LIB``) and the absolute path of the ``shotforge`` command
into ``ShotForge.lua`` (``SHOTFORGE_CMD``), which hands HTTP and every decision to it.
Manual install: copy the same things by hand and set those lines at the top of the copied scripts
(without ``SHOTFORGE_CMD`` the Lua entry looks for ``shotforge`` on the PATH).
Stdlib only; nothing here imports Resolve.
"""

import argparse
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path, PurePosixPath, PureWindowsPath

HERE = Path(__file__).resolve().parent
SCRIPT_NAME = "ShotForge.py"
LUA_SCRIPT = "ShotForge.lua"
PACKAGE = "shotforge_resolve"
LUA_PARTS = "shotforge_lua"


def _platform(platform=None):
    platform = platform or sys.platform
    if platform.startswith("win"):
        return "win32"
    if platform == "darwin":
        return "darwin"
    return "linux"


def _home(env):
    return env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~")


def scripts_dir(platform=None, env=None, all_users=False):
    """Resolve's Scripts/Edit folder for this user (or for all users) on ``platform``."""
    env = os.environ if env is None else env
    platform = _platform(platform)
    if platform == "win32":
        if all_users:
            base = env.get("PROGRAMDATA") or "C:\\ProgramData"
            return PureWindowsPath(base, "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts", "Edit")
        base = env.get("APPDATA") or str(PureWindowsPath(_home(env), "AppData", "Roaming"))
        return PureWindowsPath(base, "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts", "Edit")
    if platform == "darwin":
        root = PurePosixPath("/") if all_users else PurePosixPath(_home(env))
        return root / "Library" / "Application Support" / "Blackmagic Design" / "DaVinci Resolve" / "Fusion" / \
            "Scripts" / "Edit"
    if all_users:
        return PurePosixPath("/opt/resolve/Fusion/Scripts/Edit")
    return PurePosixPath(_home(env), ".local", "share", "DaVinciResolve", "Fusion", "Scripts", "Edit")


def lib_dir(platform=None, env=None, all_users=False):
    """ShotForge's own folder for the script's package (kept out of Resolve's Scripts menu)."""
    env = os.environ if env is None else env
    platform = _platform(platform)
    if all_users:
        if platform == "win32":
            return PureWindowsPath(env.get("PROGRAMDATA") or "C:\\ProgramData", "ShotForge", "resolve")
        if platform == "darwin":
            return PurePosixPath("/Library/Application Support/ShotForge/resolve")
        return PurePosixPath("/usr/local/share/shotforge/resolve")
    if platform == "win32":
        base = env.get("APPDATA") or str(PureWindowsPath(_home(env), "AppData", "Roaming"))
        return PureWindowsPath(base, "ShotForge", "resolve")
    if platform == "darwin":
        return PurePosixPath(_home(env), "Library", "Application Support", "ShotForge", "resolve")
    base = env.get("XDG_DATA_HOME") or str(PurePosixPath(_home(env), ".local", "share"))
    return PurePosixPath(base, "shotforge", "resolve")


def shotforge_command(platform=None):
    """The absolute path of the ``shotforge`` command installed with this code, or None."""
    name = "shotforge.exe" if _platform(platform) == "win32" else "shotforge"
    candidates = []
    if sys.argv and Path(sys.argv[0]).name.lower() in (name, "shotforge"):
        candidates.append(Path(sys.argv[0]))  # run as `shotforge install-resolve`
    candidates.append(Path(sysconfig.get_path("scripts")) / name)  # where pip put this interpreter's scripts
    found = shutil.which("shotforge")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    return None


def _lua_string(text):
    if __package__:
        from .shotforge_resolve.bridge import lua_string
    else:  # imported from its own folder (install.py run as a script)
        from shotforge_resolve.bridge import lua_string
    return lua_string(text)


def _fill(source, name, pattern, value):
    text, count = re.subn(pattern, lambda m: m.group(1) + value, source, count=1, flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError("{} has no {} line to fill in".format(name, pattern))
    return text


def _copy_tree(source, target):
    """Replace ``target`` by a copy of ``source`` (staged beside it, so a failed copy leaves the old one)."""
    staging = target.parent / (target.name + ".new")
    if staging.exists():
        shutil.rmtree(str(staging))
    shutil.copytree(str(source), str(staging), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if target.exists():
        shutil.rmtree(str(target))
    staging.rename(target)


def _write(target, text):
    tmp = target.parent / (target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(str(tmp), str(target))


def install(dest=None, platform=None, lib=None, all_users=False, command=None):
    """Install both entries; returns the Path of the installed ``ShotForge.py`` (``ShotForge.lua``
    lies beside it).

    ``dest``: the Scripts folder for the entries (default: Resolve's per-user ``Scripts/Edit`` for
    ``platform``, default this machine). ``lib``: where their parts go (default: ShotForge's data
    folder). ``command``: the ``shotforge`` command ShotForge.lua runs (default: this one, see
    :func:`shotforge_command`; None found: the Lua entry looks on the PATH).
    """
    target_platform = _platform(platform)
    if target_platform != _platform(None) and (dest is None or lib is None):
        raise ValueError("installing for another platform needs both dest and lib folders")
    dest = Path(dest) if dest is not None else Path(str(scripts_dir(target_platform, all_users=all_users)))
    lib = Path(lib) if lib is not None else Path(str(lib_dir(target_platform, all_users=all_users)))
    command = command if command is not None else (shotforge_command(target_platform) or "")
    dest.mkdir(parents=True, exist_ok=True)
    lib.mkdir(parents=True, exist_ok=True)
    _copy_tree(HERE / PACKAGE, lib / PACKAGE)
    _copy_tree(HERE / LUA_PARTS, lib / LUA_PARTS)

    python = _fill((HERE / SCRIPT_NAME).read_text(encoding="utf-8"), SCRIPT_NAME, r'^(SHOTFORGE_LIB = )""',
                   repr(str(lib)))  # a plain string literal, backslashes escaped
    lua = (HERE / LUA_SCRIPT).read_text(encoding="utf-8")
    lua = _fill(lua, LUA_SCRIPT, r'^(local SHOTFORGE_CMD = )""', _lua_string(str(command)))
    lua = _fill(lua, LUA_SCRIPT, r'^(local SHOTFORGE_LIB = )""', _lua_string(str(lib)))
    _write(dest / SCRIPT_NAME, python)
    _write(dest / LUA_SCRIPT, lua)
    return dest / SCRIPT_NAME


def uninstall(dest=None, platform=None, lib=None, all_users=False):
    """Remove what :func:`install` put in place; returns the paths removed."""
    target_platform = _platform(platform)
    dest = Path(dest) if dest is not None else Path(str(scripts_dir(target_platform, all_users=all_users)))
    lib = Path(lib) if lib is not None else Path(str(lib_dir(target_platform, all_users=all_users)))
    removed = []
    for script in (SCRIPT_NAME, LUA_SCRIPT):
        if (dest / script).is_file():
            (dest / script).unlink()
            removed.append(dest / script)
    for part in (PACKAGE, LUA_PARTS):
        if (lib / part).is_dir():
            shutil.rmtree(str(lib / part))
            removed.append(lib / part)
    return removed


def register(subparsers):
    """Add ``install-resolve`` to the ``shotforge`` command."""
    parser = subparsers.add_parser(
        "install-resolve", help="install the ShotForge scripts into DaVinci Resolve (Workspace > Scripts)",
        description="Copy ShotForge.py and ShotForge.lua into Resolve's Scripts/Edit folder and their parts into "
                    "ShotForge's data folder; the Lua entry (the one Resolve 21.1's free edition lists) runs this "
                    "shotforge command. Restart Resolve (or reopen the Edit page) to see Workspace > Scripts > "
                    "ShotForge.")
    parser.add_argument("--dest", help="Scripts folder to install into (default: Resolve's per-user "
                                       "Fusion/Scripts/Edit, e.g. {})".format(scripts_dir()))
    parser.add_argument("--lib", help="folder for the scripts' parts (default: {})".format(lib_dir()))
    parser.add_argument("--command", help="the shotforge command ShotForge.lua runs (default: this one, {})".format(
        shotforge_command() or "none found: the Lua entry then looks on the PATH"))
    parser.add_argument("--all-users", action="store_true",
                        help="install into the system-wide Scripts folder (needs admin rights)")
    parser.add_argument("--uninstall", action="store_true", help="remove the installed scripts and their parts")
    parser.set_defaults(handler=_cli)
    return parser


def _cli(args):
    if args.uninstall:
        removed = uninstall(args.dest, lib=args.lib, all_users=args.all_users)
        for path in removed:
            print("removed {}".format(path))
        if not removed:
            print("nothing to remove")
        return 0
    if args.command is not None and not os.path.isfile(args.command):
        print("shotforge install-resolve: --command {} is not a file".format(args.command), file=sys.stderr)
        return 1
    command = os.path.abspath(args.command) if args.command else None
    try:
        target = install(args.dest, lib=args.lib, all_users=args.all_users, command=command)
    except OSError as exc:
        print("shotforge install-resolve: {}".format(exc), file=sys.stderr)
        return 1
    print("installed {}".format(target))
    print("installed {} (runs {})".format(target.parent / LUA_SCRIPT, command or shotforge_command() or
                                         "the shotforge command on the PATH: none found now"))
    print("In Resolve: Workspace > Scripts > ShotForge (Edit page); the free edition from 21.1 lists only "
          "ShotForge.lua. Start the server with: shotforge serve")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="install.py")
    register(parser.add_subparsers())
    args = parser.parse_args(["install-resolve"] + list(sys.argv[1:] if argv is None else argv))
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
