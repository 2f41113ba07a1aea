"""The errors ShotForge reports to an editor: a stable code and a message that names the problem."""


class ShotForgeError(Exception):
    """``code`` is a stable machine-readable word (the server returns it as ``error.code``);
    the message names the problem in an editor's words: which track, which frame, which file."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class RequestError(ShotForgeError, ValueError):
    """A request names something that is not there or cannot be done."""
