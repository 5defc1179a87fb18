"""Ctrl+C while a ``skae`` command runs: stop before writing, never while writing.

skorch's ``fit`` catches KeyboardInterrupt and returns as if training had ended, so the
SIGINT handler also remembers it: :meth:`Interrupts.check` then stops the command before
anything is written; :meth:`Interrupts.deferred` holds Ctrl+C back while the finished
outputs are moved into place.
"""

import contextlib
import signal


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl+C came while the finished outputs were being moved into place."""


class Interrupts:
    """The state of Ctrl+C for one command; use the module's :data:`INTERRUPTS`."""

    def __init__(self):
        self.received = False
        self._deferring = False

    def _handle(self, signum, frame):
        self.received = True
        if not self._deferring:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        """Catch SIGINT while the block runs (in the main thread, unless it is ignored)."""
        self.received, self._deferring = False, False
        try:
            previous = signal.getsignal(signal.SIGINT)
            if previous in (signal.SIG_IGN, None):  # ignored (a background job) or not
                previous = None                     # set from Python: leave it so
            else:
                signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: only KeyboardInterrupt is seen
            previous = None
        try:
            yield self
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def check(self):
        """Raise KeyboardInterrupt if Ctrl+C came (e.g. during training, which swallowed
        it)."""
        if self.received:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        """Let the block finish despite Ctrl+C; then raise :class:`InterruptedAfterWriting`
        if one came."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.received:
            raise InterruptedAfterWriting


INTERRUPTS = Interrupts()
