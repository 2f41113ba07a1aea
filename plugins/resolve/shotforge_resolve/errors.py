"""What can go wrong, each with a message an editor can act on."""


class ShotForgeError(Exception):
    """Base error: ``code`` is a stable word, ``message`` is what the dialog shows."""

    code = "error"

    def __init__(self, message, code=None):
        Exception.__init__(self, message)
        self.message = message
        if code:
            self.code = code

    def __str__(self):
        return self.message


class ContextError(ShotForgeError):
    """The timeline does not fit the operation (no clip under the playhead, not in a gap, …)."""

    code = "context"


class ServerDownError(ShotForgeError):
    """The ShotForge server cannot be reached."""

    code = "server_down"


class ServerError(ShotForgeError):
    """The server answered with an error (a refused request or a failed job)."""

    code = "server_error"


class JobFailed(ServerError):
    code = "job_failed"


class JobCanceled(ShotForgeError):
    code = "canceled"


class PlacementError(ShotForgeError):
    """The result could not be put on the timeline (the timeline is left as it was, or the message
    says what differs). ``restored``: old id -> new id of each clip the undo put back from its media."""

    code = "placement"
    restored = {}


class OverwriteNeedsConfirmation(PlacementError):
    """An overwrite would remove or shorten the editor's clips: the dialog lists them and asks.

    ``clips``: one line per clip (name, track, timecodes, removed or shortened); ``media``: the
    render's files, kept whatever the answer; ``question``: what exactly is asked about (per clip
    ``{id, track, start, end, left_offset, kept}``, ``kept`` the ranges re-placed), which the
    answer hands back as ``confirm_overwrite``."""

    code = "overwrite_needs_confirmation"

    def __init__(self, message, clips=None, media=None, question=None):
        PlacementError.__init__(self, message)
        self.clips = list(clips or [])
        self.media = list(media or [])
        self.question = list(question or [])
