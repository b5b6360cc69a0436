"""Ctrl-C and SIGTERM ask training to stop at the end of the current step."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# Set by torchrun (torch.distributed.elastic) in its workers; LOCAL_RANK by most launchers.
LAUNCHER_ENV = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK")


class StopRequest:
    """Set by a signal handler; the training loop checks it between steps."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def request(self, name: str) -> None:
        if self.signal_name is None:  # the first signal names the stop; repeats change nothing
            self.signal_name = name


def under_launcher(environ: Mapping[str, str] | None = None) -> bool:
    """True in a worker started by torchrun (or another launcher that sets LOCAL_RANK).

    A launcher forwards the user's Ctrl-C to its workers, which have already received it
    from the terminal: the second SIGINT a worker sees is then not a user's second Ctrl-C."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in LAUNCHER_ENV)


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM to `stop`.

    In a single process a second Ctrl-C interrupts at once (KeyboardInterrupt; the checkpoint
    being written, if any, is abandoned and the previous one kept). Under a launcher every
    repeated SIGINT/SIGTERM only keeps the stop request, so that the final checkpoint is
    always written; the launcher's own grace period and SIGKILL bound the wait."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interruptible = not under_launcher()

    def handler(signum, frame):
        if stop.requested and signum == signal.SIGINT and interruptible:
            raise KeyboardInterrupt
        stop.request(signal.Signals(signum).name)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
