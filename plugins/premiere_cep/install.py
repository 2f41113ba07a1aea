"""Install the ShotForge panel into Premiere Pro (CEP), for the current user.

``shotforge install-premiere`` does three things:

1. copies the extension (``CSXS/manifest.xml``, ``index.html``, ``css/``, ``js/``, ``jsx/``,
   ``.debug``) into the per-user CEP extensions folder as ``com.shotforge.premiere``:
   Windows ``%APPDATA%\\Adobe\\CEP\\extensions``, macOS
   ``~/Library/Application Support/Adobe/CEP/extensions``;
2. turns on ``PlayerDebugMode`` for CSXS.11 and CSXS.12 (Premiere 15.4-24.x and 25+), because
   the panel is not signed: Windows ``HKCU\\Software\\Adobe\\CSXS.<n>`` string value
   ``PlayerDebugMode`` = ``1``; macOS ``defaults write com.adobe.CSXS.<n> PlayerDebugMode 1``
   (the plist is cached: log out, or ``killall cfprefsd``, before starting Premiere). Without it
   Premiere lists the panel but refuses to load it ("Signature verification failed" in the CEP
   log). A signed ZXP (README) needs no debug mode; pass ``--no-debug-mode`` then;
3. lets the panel talk to the server: the panel page is a ``file://`` page, so its requests carry
   ``Origin: null``, which the server refuses unless ``cors_origins`` holds ``"null"``. With
   ``--allow-panel-origin`` the per-user server config gets ``cors_origins = ["null"]``;
   otherwise start the server with ``shotforge serve --cors-origin null``.

Then restart Premiere Pro and open Window > Extensions > ShotForge (Window > Extensions (Legacy) on
25.6 and later). Manual install: copy the same files into the folder above and set PlayerDebugMode
by hand. Stdlib only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLE_ID = "com.shotforge.premiere"
CSXS_VERSIONS = ("11", "12")
#: what the extension needs at run time (tests, node_modules and tooling stay behind)
PAYLOAD = ("CSXS", "index.html", "css", "js", "jsx", ".debug")


def _platform(platform=None):
    platform = platform or sys.platform
    if platform.startswith("win"):
        return "win32"
    if platform == "darwin":
        return "darwin"
    return "linux"


def extensions_dir(platform=None, env=None):
    """The per-user CEP extensions folder on ``platform`` (None on Linux: no Premiere there)."""
    env = os.environ if env is None else env
    platform = _platform(platform)
    home = Path(env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~"))
    if platform == "win32":
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return base / "Adobe" / "CEP" / "extensions"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Adobe" / "CEP" / "extensions"
    return None


def install(dest=None, platform=None, player_debug_mode=True, allow_panel_origin=False, server_config=None,
            run=subprocess.run, log=print):
    """Copy the extension into ``dest`` (a CEP extensions folder; default: the per-user one) and,
    unless told not to, set PlayerDebugMode. Returns the installed extension folder."""
    platform = _platform(platform)
    base = Path(dest) if dest else extensions_dir(platform)
    if base is None:
        raise SystemExit("Premiere Pro runs on Windows and macOS only; pass --dest to copy the panel somewhere else")
    target = base / BUNDLE_ID
    if "#" in str(target):
        raise SystemExit(f"CEP cannot load an extension from a path containing '#': {target}")
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".shotforge-", dir=base))
    try:
        for name in PAYLOAD:
            src = HERE / name
            if src.is_dir():
                shutil.copytree(src, staging / name)
            elif src.is_file():
                shutil.copy2(src, staging / name)
            else:
                raise SystemExit(f"the panel is incomplete: {src} is missing")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log(f"installed the ShotForge panel in {target}")
    if player_debug_mode:
        for line in set_player_debug_mode(platform, run=run):
            log(line)
    else:
        log("PlayerDebugMode left alone: an unsigned panel only loads with it on (see --help)")
    if allow_panel_origin:
        log(allow_origin_in_config(server_config))
    else:
        log("start the server with `shotforge serve --cors-origin null` so the panel (a file:// page) may call it, "
            "or run this again with --allow-panel-origin")
    log("restart Premiere Pro, then open Window > Extensions > ShotForge (Window > Extensions (Legacy) on 25.6 and later)")
    return target


def set_player_debug_mode(platform=None, versions=CSXS_VERSIONS, run=subprocess.run):
    """Turn on PlayerDebugMode for each CSXS version; returns what was done, line by line."""
    platform = _platform(platform)
    done = []
    if platform == "win32":
        import winreg  # noqa: PLC0415 (Windows only)

        for v in versions:
            key = winreg.CreateKey(winreg.HKEY_CURRENT_USER, rf"Software\Adobe\CSXS.{v}")
            try:
                winreg.SetValueEx(key, "PlayerDebugMode", 0, winreg.REG_SZ, "1")
            finally:
                winreg.CloseKey(key)
            done.append(rf"set HKCU\Software\Adobe\CSXS.{v}\PlayerDebugMode = 1")
    elif platform == "darwin":
        for v in versions:
            run(["defaults", "write", f"com.adobe.CSXS.{v}", "PlayerDebugMode", "1"], check=True)
            done.append(f"defaults write com.adobe.CSXS.{v} PlayerDebugMode 1")
        done.append("macOS caches preferences: log out and in (or `killall cfprefsd`) before starting Premiere")
    else:
        done.append("PlayerDebugMode: nothing to set on this platform (Premiere runs on Windows and macOS)")
    return done


def allow_origin_in_config(path=None):
    """Add ``cors_origins = ["null"]`` to the server's per-user config unless it sets cors_origins already."""
    if path is None:
        try:
            from server.settings import default_config_path  # noqa: PLC0415
        except ImportError:
            return "server settings not found: start the server with `shotforge serve --cors-origin null`"
        path = default_config_path()
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip().startswith("cors_origins") for line in text.splitlines()):
        return f"{path} already sets cors_origins: make sure it includes \"null\" for the Premiere panel"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A top-level key must come before any [table]: put it first.
    line = 'cors_origins = ["null"]  # the Premiere CEP panel (a file:// page) sends Origin: null\n'
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line + text, encoding="utf-8")
    os.replace(tmp, path)
    return f"added cors_origins = [\"null\"] to {path} (the panel's requests carry Origin: null); use a --token too if other people can reach this machine's browser"


def uninstall(dest=None, platform=None):
    base = Path(dest) if dest else extensions_dir(platform)
    target = base / BUNDLE_ID if base else None
    if target and target.exists():
        shutil.rmtree(target)
        return [target]
    return []


def register(subparsers):
    """Add ``install-premiere`` to the ``shotforge`` command."""
    parser = subparsers.add_parser(
        "install-premiere", help="install the ShotForge panel into Premiere Pro (Window > Extensions > ShotForge)",
        description="Copy the ShotForge CEP panel into the per-user CEP extensions folder and turn on "
                    "PlayerDebugMode (CSXS.11 and CSXS.12) so Premiere loads the unsigned panel. Restart Premiere "
                    "afterwards. A signed ZXP (see plugins/premiere_cep/README.md) needs no debug mode.")
    parser.add_argument("--dest", help="CEP extensions folder to install into (default: {})".format(
        extensions_dir() or "the per-user folder on Windows/macOS"))
    parser.add_argument("--no-debug-mode", action="store_true",
                        help="do not set PlayerDebugMode (for a signed install)")
    parser.add_argument("--allow-panel-origin", action="store_true",
                        help="add cors_origins = [\"null\"] to the server's per-user config so the panel may call it")
    parser.add_argument("--uninstall", action="store_true", help="remove the installed panel")
    parser.set_defaults(handler=_cli)
    return parser


def _cli(args):
    if args.uninstall:
        removed = uninstall(args.dest)
        print("\n".join(f"removed {p}" for p in removed) or "nothing to remove")
        return 0
    install(args.dest, player_debug_mode=not args.no_debug_mode, allow_panel_origin=args.allow_panel_origin)
    return 0
