"""How the diffusers engine's failures reach the editor: one line, naming the model and the window."""

from __future__ import annotations

from otio_tools.errors import ShotForgeError


class EngineFailed(ShotForgeError):
    """The model failed while making frames; the message is one line, for the editor."""


def one_line(exc: BaseException) -> str:
    """An error as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
