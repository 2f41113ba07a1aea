"""Files written whole or not at all: a temporary file beside the target, then ``os.replace``,
so a crash or a second reader never sees half a settings, takes or job file."""

import json
import os


def write_text(path, text, encoding="utf-8", errors=None):
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        os.makedirs(folder)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding=encoding, errors=errors) as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def write_json(path, data, indent=1, sort_keys=False, errors=None):
    """``data`` as JSON at ``path`` (``errors="surrogateescape"`` keeps undecodable file names)."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys), errors=errors)
