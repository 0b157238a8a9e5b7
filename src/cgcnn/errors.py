"""Errors a user can act on: the CLI prints them in one line, without a traceback."""


class CgcnnError(Exception):
    """Base class for errors caused by input or usage rather than by a bug."""


class InputError(CgcnnError):
    """A file (or one entry inside it) cannot be used; the message names it."""

    def __init__(self, source, message: str):
        self.source = str(source)
        self.reason = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self):  # so that worker processes can send it back
        return type(self), (self.source, self.reason)
