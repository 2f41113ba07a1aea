"""The one error type for a request that cannot be carried out as written."""


class RequestError(ValueError):
    """A request names something that is not there or cannot be done.

    ``code`` is a stable machine-readable word (the server returns it as ``error.code``);
    the message names the problem in an editor's words: which track, which frame, which file.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}
