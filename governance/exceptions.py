"""Domain errors that services raise besides ValidationError and PermissionDenied."""


class Conflict(Exception):
    """The request is valid but conflicts with the current state (HTTP 409)."""

    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class FrozenError(Conflict):
    """The object's content is frozen (a submitted model version)."""

    code = "frozen"
