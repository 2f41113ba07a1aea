"""Media paths: file URLs, path mapping between the editor's machine and this one, media roots.

The server may run on a GPU box on the LAN while the editor names media as its own machine
sees it (``Z:\\Footage\\a.mov``, ``/Volumes/Media/a.mov``). :class:`PathMapper` rewrites such a
path to the server's view (``/mnt/footage/a.mov``) for reading, and rewrites result paths the
other way before they are sent back. Prefixes match whole path components; Windows-looking
prefixes (drive letter or ``\\\\server\\share``) match case-insensitively and either slash.

:class:`MediaPolicy` is the server's ``locate_media`` for the planner: a media reference from
a request becomes a local absolute path, or a :class:`~otio_tools.RequestError` that says why
not. A path with a ``..`` component is refused outright; otherwise the path is resolved with
every symlink followed and must land inside one of the media roots (when roots are set), so
a symlink inside a root that points outside it is refused too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from otio_tools.errors import RequestError
from otio_tools.media import path_from_url

_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")


def is_windows_path(path: str) -> bool:
    return bool(_DRIVE.match(path)) or path.startswith("\\\\")


def _norm(path: str) -> tuple[str, bool]:
    """Forward slashes, no trailing slash; and whether the path compares case-insensitively."""
    windows = is_windows_path(path)
    text = path.replace("\\", "/") if windows or "\\" in path and "/" not in path else path
    if len(text) > 1:
        text = text.rstrip("/") or "/"
    return text, windows


def _strip_prefix(path: str, prefix: str) -> str | None:
    """The rest of ``path`` after ``prefix`` (component-wise), '' for an exact match, else None."""
    p, p_win = _norm(path)
    q, q_win = _norm(prefix)
    fold = p_win or q_win
    pc, qc = (p.lower(), q.lower()) if fold else (p, q)
    if pc == qc:
        return ""
    if q == "/":
        return p[1:] if p.startswith("/") else None
    if pc.startswith(qc + "/"):
        return p[len(q) + 1:]
    return None


def _join(prefix: str, rest: str) -> str:
    if not rest:
        return prefix
    if is_windows_path(prefix):
        return prefix.rstrip("\\/") + "\\" + rest.replace("/", "\\")
    return prefix.rstrip("/") + "/" + rest


def path_to_file_url(path: str) -> str:
    if path.startswith("\\\\") or path.startswith("//"):
        return "file:" + quote(path.replace("\\", "/"))
    if is_windows_path(path):
        return "file:///" + quote(path.replace("\\", "/"), safe="/:")
    return "file://" + quote(path)


class PathMapper:
    """Rewrites path prefixes editor → server and server → editor (longest prefix wins)."""

    def __init__(self, rules: Sequence[tuple[str, str]] = ()):
        self.rules = [(str(e), str(s)) for e, s in rules]

    @classmethod
    def from_settings(cls, settings) -> "PathMapper":
        return cls([(rule.editor, rule.server) for rule in settings.path_map])

    def _map(self, path: str, src: int) -> str:
        best: tuple[int, str] | None = None
        for rule in self.rules:
            rest = _strip_prefix(path, rule[src])
            if rest is not None and (best is None or len(rule[src]) > best[0]):
                best = (len(rule[src]), _join(rule[1 - src], rest))
        return best[1] if best else path

    def to_server(self, path: str) -> str:
        return self._map(path, 0)

    def to_editor(self, path: str) -> str:
        return self._map(path, 1)

    def reference_to_editor(self, ref: str) -> str:
        """Map a path or file URL from this machine's view to the editor's, keeping its form."""
        if ref.lower().startswith("file:"):
            mapped = self.to_editor(path_from_url(ref.strip()))
            return path_to_file_url(mapped)
        return self.to_editor(ref)


def _has_dotdot(path: str) -> bool:
    return any(part == ".." for part in re.split(r"[\\/]", path))


def free_folder(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... when an earlier run into the same output folder made it:
    its result.otio names the media there, which a new run must neither overwrite nor remove."""
    n, free = 1, Path(path)
    while free.exists():
        n += 1
        free = free.with_name(f"{Path(path).name}-{n}")
    return free


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class MediaPolicy:
    """Turns a request's media reference into a readable local path, or refuses it.

    ``roots`` empty means "anywhere this user can read" (allowed on loopback only: the
    settings refuse to start otherwise). ``base_dir`` resolves relative references (a watch
    folder request names media relative to its own file); HTTP requests have none.
    """

    def __init__(self, roots: Sequence[Path] = (), mapper: PathMapper | None = None):
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        self.mapper = mapper or PathMapper()

    def locator(self, base_dir: Path | None = None):
        """A ``locate_media(path, where)`` callable for :func:`server.render.plan_job`."""
        return lambda ref, where=None: self.locate(ref, base_dir, where)

    def locate(self, ref: str, base_dir: Path | None = None, where: str | None = None) -> str:
        try:
            return self._locate(ref, base_dir)
        except RequestError as exc:
            if where:
                raise RequestError(exc.code, f"{where}: {exc.message}") from None
            raise

    def _locate(self, ref: str, base_dir: Path | None) -> str:
        if not isinstance(ref, str) or not ref.strip():
            raise RequestError("media_missing", "a clip in the request has no media path")
        control = next((c for c in ref if ord(c) < 32 or ord(c) == 127), None)
        if control is not None:  # no file name holds one; the OS would refuse a NUL anyway, mid-request
            raise RequestError("media_path_invalid", f"media path {ref!r} contains the control character "
                                                     f"{control!r}; give the file's real path")
        scheme = urlsplit(ref.strip()).scheme.lower()
        if len(scheme) > 1 and scheme != "file":
            raise RequestError("media_not_local", f"media {ref!r} is not a local file (only paths and file: URLs "
                                                  "are read)")
        raw = path_from_url(ref.strip())
        if _has_dotdot(raw):
            raise RequestError("media_path_traversal",
                               f"media path {ref!r} contains '..'; give the full path without parent steps")
        path = self.mapper.to_server(raw)
        if is_windows_path(path) and os.name != "nt":
            raise RequestError("media_not_mapped", f"media path {path!r} is a Windows path this server cannot read; "
                                                   "add a path_map rule for it in the server settings")
        if not os.path.isabs(path):
            if base_dir is None:
                raise RequestError("media_path_relative", f"media path {path!r} is relative; send absolute paths")
            path = os.path.join(base_dir, path)
        real = Path(os.path.realpath(path))
        if self.roots and not any(is_within(real, root) for root in self.roots):
            shown = ", ".join(str(r) for r in self.roots)
            raise RequestError("media_outside_roots", f"media {ref!r} is outside the server's media roots ({shown})")
        if not real.is_file():
            raise RequestError("media_missing", f"media file {path} does not exist or is not a file")
        if not os.access(real, os.R_OK):
            raise RequestError("media_unreadable", f"media file {path} cannot be read by the server")
        return str(real)
