"""The one exception type that the CLI turns into a short message instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix: bad input, a missing file, an unsupported device.

    The message is one paragraph that names the thing (file, key, value) and says what
    to do. The CLI prints it and exits with ``exit_code``; ``--debug`` shows the traceback.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
