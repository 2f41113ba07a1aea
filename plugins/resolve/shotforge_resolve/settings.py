"""The dialog's last values, kept in a small JSON file in the user's config folder."""

import json
import os
import sys

from .atomic import write_json

DEFAULTS = {
    "operation": "extend",          # extend | fill_gap | outpaint | generate | inpaint
    "side": "tail",                 # extend: head | tail
    "length": 48,                   # extend, and generate 'from playhead'
    "length_unit": "frames",        # frames | seconds
    "canvas_preset": "9:16",        # 9:16 | 1:1 | 16:9 | 4:3 | custom
    "canvas_width": 1080,
    "canvas_height": 1920,
    "inpaint_with": "region",       # inpaint: region (numbers in the clip's source pixels) | matte (a file)
    "inpaint_region": "",           # inpaint: "x, y, width, height" in the clip's source pixels
    "inpaint_region_end": "",       # inpaint: the region at the clip's last frame (blank: it stays put)
    "inpaint_mask": "",             # inpaint: a matte file (still or video, white = replace)
    "prompt": "",
    "negative_prompt": "",
    "seed": 0,
    "engine": "auto",               # auto | classical | diffusers
    "placement": "auto",            # auto | above | overwrite (overwrite asks first)
    "track": "auto",                # auto | V1, V2 …
    "generate_range": "marker",     # marker (In/Out marks, else a duration marker) | length (from the playhead)
    "reference": "none",            # none | playhead | still
    "reference_image": "",
    "new_take_seed": "",            # New take: blank = a fresh random seed
    "new_take_prompt": "",          # New take: blank = the take's own prompt
    "conform_engine": "diffusers",  # Conform placeholders: diffusers | classical | auto (the take's own engine)
    "conform_model": "",            # Conform: a model folder name (diffusers); blank = the server's default
    "conform_classical": False,     # Conform: classical results too, not only placeholders
    "conform_mode": "beside",       # Conform: beside (new take on a free track above) | swap (replace in the slot)
    "conform_new_seed": False,      # Conform: a fresh seed per take instead of the recipe's own
    "server_url": "http://127.0.0.1:8765",
    "token": "",
    "shotforge_path": "",           # set: start `shotforge serve` when the server is not running
}


def placement_value(value):
    """The placement a saved or given value means: "default" (settings saved before placement
    auto existed) and blank are "auto"."""
    return "auto" if value in (None, "", "default") else value


def config_dir(platform=None, env=None):
    """ShotForge's per-user config folder on this platform."""
    env = os.environ if env is None else env
    if env.get("SHOTFORGE_RESOLVE_HOME"):
        return env["SHOTFORGE_RESOLVE_HOME"]
    platform = platform or sys.platform
    home = env.get("HOME") or os.path.expanduser("~")
    if platform.startswith("win"):
        base = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return os.path.join(base, "ShotForge")
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "ShotForge")
    return os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "shotforge")


def settings_path():
    override = os.environ.get("SHOTFORGE_RESOLVE_SETTINGS")  # tests, or a shared settings file
    return override or os.path.join(config_dir(), "resolve.json")


def load(path=None):
    """The saved values over the defaults; a missing or damaged file gives the defaults."""
    values = dict(DEFAULTS)
    path = path or settings_path()
    try:
        with open(path, "r", encoding="utf-8") as handle:
            saved = json.load(handle)
        if isinstance(saved, dict):
            for key, value in saved.items():
                if key in DEFAULTS:
                    values[key] = value
            values["placement"] = placement_value(values["placement"])
    except (OSError, ValueError):
        pass
    return values


def save(values, path=None):
    path = path or settings_path()
    data = dict((key, values.get(key, default)) for key, default in DEFAULTS.items())
    return write_json(path, data, indent=2, sort_keys=True)
