"""What the CLI prints while it works: wrapped paragraphs and one status line per stage.

Every long step (training, scoring, mapping, clustering, writing) says what it starts
and, when it ends, how long it took, so a run is never silent for long and a log shows
where the time went. Text is wrapped at word boundaries to the terminal's width (or to
``$COLUMNS``, or 80 columns when the output is not a terminal), never inside a word.
"""

import shutil
import sys
import textwrap
import time
from contextlib import contextmanager

MAX_WIDTH = 100  # wider paragraphs are hard to read, even on a wide terminal


def output_width(stream=None):
    """The width to wrap printed text to.

    Parameters
    ----------
    stream : file-like, default=None
        Where the text goes (``sys.stdout`` by default).

    Returns
    -------
    width : int
        The terminal's columns less one (``$COLUMNS`` when set; 80 when ``stream`` is
        not a terminal), at most :data:`MAX_WIDTH` and at least 40.

    Examples
    --------
    >>> import io
    >>> from skae.cli._status import output_width
    >>> 40 <= output_width(io.StringIO()) <= 100
    True
    """
    columns = shutil.get_terminal_size(fallback=(80, 24)).columns
    return max(40, min(MAX_WIDTH, columns - 1))


def wrap(text, width, indent=""):
    """``text`` wrapped at word boundaries; its own line breaks are kept.

    Parameters
    ----------
    text : str
    width : int
    indent : str, default=""
        Put before every line after the first of a paragraph.

    Returns
    -------
    wrapped : str

    Examples
    --------
    >>> from skae.cli._status import wrap
    >>> print(wrap("Known classes: accuracy on the core set 0.912", 20, "  "))
    Known classes:
      accuracy on the
      core set 0.912
    """
    return "\n".join(
        textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=False,
                      break_on_hyphens=False) if line.strip() else line
        for line in text.split("\n")
    )


class Status:
    """Prints wrapped messages and timed stages, or nothing at all when ``quiet``.

    Parameters
    ----------
    quiet : bool, default=False
        Print nothing (``--quiet``).
    stream : file-like, default=None
        Where to print; ``sys.stdout`` at the time of each message by default.

    Examples
    --------
    >>> import io
    >>> from skae.cli._status import Status
    >>> out = io.StringIO()
    >>> status = Status(stream=out)
    >>> with status.stage("Clustering 120 items"):
    ...     pass
    >>> print(out.getvalue().splitlines()[0])
    Clustering 120 items ...
    """

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = stream

    def say(self, message, indent=""):
        """Print ``message`` wrapped to the output width.

        Parameters
        ----------
        message : str
        indent : str, default=""
            Put before every continuation line.
        """
        if self.quiet:
            return
        stream = self.stream or sys.stdout
        print(wrap(message, output_width(stream), indent), file=stream, flush=True)

    @contextmanager
    def stage(self, message):
        """Say ``message ...`` now, and ``... done in T s`` when the block ends.

        Parameters
        ----------
        message : str
            What the stage does, e.g. ``"Scoring 1,200 items"``.

        Yields
        ------
        None
        """
        lead = message[: len(message) - len(message.lstrip())]  # a sub-stage's indent
        self.say(f"{message} ...", indent=lead + "  ")
        started = time.perf_counter()
        yield
        self.say(f"{lead}  ... done in {format_seconds(time.perf_counter() - started)}")


def format_seconds(seconds):
    """``0.4 s``, ``12 s`` or ``3 min 05 s``.

    Parameters
    ----------
    seconds : float

    Returns
    -------
    text : str

    Examples
    --------
    >>> from skae.cli._status import format_seconds
    >>> format_seconds(0.42), format_seconds(12.3), format_seconds(185)
    ('0.4 s', '12 s', '3 min 05 s')
    """
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
