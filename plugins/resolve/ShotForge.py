# ShotForge for DaVinci Resolve (Workspace > Scripts > ShotForge).
#
# Installed by `shotforge install-resolve`, which copies this file into Resolve's Scripts/Edit
# folder and the `shotforge_resolve` package into ShotForge's own data folder (so Resolve's Scripts
# menu does not list the package's modules), and writes that folder into SHOTFORGE_LIB below.
# Runs in Resolve's Python 3.6+ with the standard library only.
import os
import sys

SHOTFORGE_LIB = ""  # filled in by the installer


def _default_lib_dirs():
    home = os.path.expanduser("~")
    if sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        yield os.path.join(base, "ShotForge", "resolve")
        yield os.path.join(os.environ.get("PROGRAMDATA") or "C:\\ProgramData", "ShotForge", "resolve")
    elif sys.platform == "darwin":
        yield os.path.join(home, "Library", "Application Support", "ShotForge", "resolve")
        yield "/Library/Application Support/ShotForge/resolve"
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
        yield os.path.join(base, "shotforge", "resolve")
        yield "/usr/local/share/shotforge/resolve"


def _find_lib():
    candidates = [SHOTFORGE_LIB, os.environ.get("SHOTFORGE_RESOLVE_LIB", "")]
    try:
        candidates.append(os.path.dirname(os.path.abspath(__file__)))
    except NameError:  # Resolve may run menu scripts without __file__
        pass
    candidates.extend(_default_lib_dirs())
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "shotforge_resolve", "__init__.py")):
            return folder
    return None


def _resolve_objects():
    app = globals().get("resolve")
    if app is None:
        try:
            import DaVinciResolveScript as dvr  # external scripting (Studio)
            app = dvr.scriptapp("Resolve")
        except ImportError:
            app = None
    fusion = globals().get("fusion") or globals().get("fu")
    if fusion is None and app is not None:
        fusion = app.Fusion()
    return app, fusion, globals().get("bmd")


def _main():
    lib = _find_lib()
    if lib is None:
        print("ShotForge: the shotforge_resolve package was not found; run `shotforge install-resolve`.")
        return
    if lib not in sys.path:
        sys.path.insert(0, lib)
    for name in [n for n in sys.modules if n == "shotforge_resolve" or n.startswith("shotforge_resolve.")]:
        del sys.modules[name]  # Resolve keeps its interpreter between runs: load the installed code
    app, fusion, bmd = _resolve_objects()
    if app is None:
        print("ShotForge: run this from DaVinci Resolve's Workspace > Scripts menu.")
        return
    from shotforge_resolve.ui import main
    main(app, fusion, bmd)


_main()
