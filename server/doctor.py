"""``shotforge doctor``: what can run here, and why not."""

from __future__ import annotations

import platform

from server.engines import engine_names, load_engine
from server.engines.base import EngineUnavailable


def report() -> tuple[list[str], bool]:
    """Lines to print, and whether at least one engine is usable."""
    lines = [f"python     {platform.python_version()} on {platform.system()} {platform.machine()}"]
    lines.extend(_codec_lines())
    any_usable = False
    for name in engine_names():
        try:
            availability = load_engine(name).availability()
        except EngineUnavailable as exc:
            lines.append(f"engine     {name}: not usable — {exc.reason}")
            continue
        any_usable |= availability.usable
        state = "usable" if availability.usable else "not usable"
        lines.append(f"engine     {name}: {state} — {availability.reason}")
        for model, detail in availability.details.get("models", {}).items():
            lines.append(f"  model    {model}: {detail}")
        for note in availability.details.get("notes", []):
            lines.append(f"  note     {note}")
    return lines, any_usable


def _codec_lines() -> list[str]:
    try:
        import av
    except ImportError as exc:
        return [f"media      PyAV missing: {exc}"]
    codecs = av.codecs_available
    wanted = {"prores_ks": "ProRes 422 HQ output", "libx264": "H.264 output"}
    return [f"media      PyAV {av.__version__}"] + [
        f"codec      {name}: {'available' if name in codecs else 'MISSING'} ({what})" for name, what in wanted.items()]
