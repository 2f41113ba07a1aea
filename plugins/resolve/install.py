"""Install the ShotForge script into DaVinci Resolve's Scripts menu.

``shotforge install-resolve`` copies ``ShotForge.py`` into Resolve's per-user
``Fusion/Scripts/Edit`` folder (Workspace > Scripts on the Edit page) and the
``shotforge_resolve`` package into ShotForge's data folder, and writes that folder into the
installed script. Manual install: copy the same two things by hand and set ``SHOTFORGE_LIB`` at
the top of the copied ``ShotForge.py`` (or the ``SHOTFORGE_RESOLVE_LIB`` environment variable).
Stdlib only; nothing here imports Resolve.
"""

import argparse
import os
import re
import shutil
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

HERE = Path(__file__).resolve().parent
SCRIPT_NAME = "ShotForge.py"
PACKAGE = "shotforge_resolve"


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


def install(dest=None, platform=None, lib=None, all_users=False):
    """Install the script; returns the Path of the installed ``ShotForge.py``.

    ``dest``: the Scripts folder to put ``ShotForge.py`` in (default: Resolve's per-user
    ``Scripts/Edit`` for ``platform``, default this machine). ``lib``: where the package goes
    (default: ShotForge's data folder).
    """
    target_platform = _platform(platform)
    if target_platform != _platform(None) and (dest is None or lib is None):
        raise ValueError("installing for another platform needs both dest and lib folders")
    dest = Path(dest) if dest is not None else Path(str(scripts_dir(target_platform, all_users=all_users)))
    lib = Path(lib) if lib is not None else Path(str(lib_dir(target_platform, all_users=all_users)))
    dest.mkdir(parents=True, exist_ok=True)
    lib.mkdir(parents=True, exist_ok=True)

    package_target = lib / PACKAGE
    staging = lib / (PACKAGE + ".new")
    if staging.exists():
        shutil.rmtree(str(staging))
    shutil.copytree(str(HERE / PACKAGE), str(staging),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if package_target.exists():
        shutil.rmtree(str(package_target))
    staging.rename(package_target)

    source = (HERE / SCRIPT_NAME).read_text(encoding="utf-8")
    literal = repr(str(lib))  # a plain string literal, backslashes escaped
    script, count = re.subn(r'^SHOTFORGE_LIB = ""', lambda m: "SHOTFORGE_LIB = " + literal, source, count=1,
                            flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError("ShotForge.py has no SHOTFORGE_LIB line to fill in")
    target = dest / SCRIPT_NAME
    tmp = dest / (SCRIPT_NAME + ".tmp")
    tmp.write_text(script, encoding="utf-8")
    os.replace(str(tmp), str(target))
    return target


def uninstall(dest=None, platform=None, lib=None, all_users=False):
    """Remove what :func:`install` put in place; returns the paths removed."""
    target_platform = _platform(platform)
    dest = Path(dest) if dest is not None else Path(str(scripts_dir(target_platform, all_users=all_users)))
    lib = Path(lib) if lib is not None else Path(str(lib_dir(target_platform, all_users=all_users)))
    removed = []
    if (dest / SCRIPT_NAME).is_file():
        (dest / SCRIPT_NAME).unlink()
        removed.append(dest / SCRIPT_NAME)
    if (lib / PACKAGE).is_dir():
        shutil.rmtree(str(lib / PACKAGE))
        removed.append(lib / PACKAGE)
    return removed


def register(subparsers):
    """Add ``install-resolve`` to the ``shotforge`` command."""
    parser = subparsers.add_parser(
        "install-resolve", help="install the ShotForge script into DaVinci Resolve (Workspace > Scripts)",
        description="Copy ShotForge.py into Resolve's Scripts/Edit folder and its package into ShotForge's "
                    "data folder. Restart Resolve (or reopen the Edit page) to see Workspace > Scripts > ShotForge.")
    parser.add_argument("--dest", help="Scripts folder to install into (default: Resolve's per-user "
                                       "Fusion/Scripts/Edit, e.g. {})".format(scripts_dir()))
    parser.add_argument("--lib", help="folder for the script's package (default: {})".format(lib_dir()))
    parser.add_argument("--all-users", action="store_true",
                        help="install into the system-wide Scripts folder (needs admin rights)")
    parser.add_argument("--uninstall", action="store_true", help="remove the installed script and package")
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
    try:
        target = install(args.dest, lib=args.lib, all_users=args.all_users)
    except OSError as exc:
        print("shotforge install-resolve: {}".format(exc), file=sys.stderr)
        return 1
    print("installed {}".format(target))
    print("In Resolve: Workspace > Scripts > ShotForge (Edit page). Start the server with: shotforge serve")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="install.py")
    register(parser.add_subparsers())
    args = parser.parse_args(["install-resolve"] + list(sys.argv[1:] if argv is None else argv))
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
