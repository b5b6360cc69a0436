"""The one exception type that the CLI turns into a short message instead of a traceback."""

from __future__ import annotations

import re

# C0 controls (ESC, newline, BEL...), DEL and C1 controls: a file name, YAML key or path holding
# them would move the cursor, retitle the terminal or forge lines when printed raw
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``), never raw."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


class UserError(Exception):
    """A problem the user can fix: bad input, a missing file, an unsupported device.

    The message is one paragraph that names the thing (file, key, value) and says what
    to do. The CLI prints it and exits with ``exit_code``; ``--debug`` shows the traceback.
    Control characters in it (from names the user's files carry) are escaped.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(printable(message))
        self.exit_code = exit_code
