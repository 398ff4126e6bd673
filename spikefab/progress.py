"""A minimal progress bar on stderr that stays silent for runs shorter than a moment."""

import sys
import time

# When the process's first bar began: a run of many short bars (epochs of a fraction of
# a second) shows them once the run, not each bar, has lasted the delay.
_first_start = None


class Progress:
    """``with Progress(total, label) as bar: bar.advance(n)``.

    Draws nothing until ``delay`` seconds have passed, then redraws at most every
    ``interval`` seconds; the delay counts from ``since`` (default: when the process's
    first bar began). ``enabled=False`` (e.g. with ``--json``) silences it. ``unit``
    names what is counted (``"gen"`` for ES generations) after the rate; ``note`` in
    :meth:`advance` is shown after it (ES: the generation and its fitness).
    """

    def __init__(self, total, label, *, enabled=True, stream=None, delay=1.0, interval=0.2,
                 unit="", since=None):
        global _first_start
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.delay = delay
        self.interval = interval
        self.done = 0
        self.start = time.monotonic()
        if _first_start is None:
            _first_start = self.start
        self.since = _first_start if since is None else since
        self.last_draw = None
        self.unit = f" {unit}" if unit else ""

    def __enter__(self):
        return self

    def advance(self, n=1, note=""):
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.since < self.delay:
            return
        if self.last_draw is not None and now - self.last_draw < self.interval \
                and self.done < self.total:
            return
        self.last_draw = now
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * 30)
        rate = self.done / max(now - self.start, 1e-9)
        places = 1 if self.unit and rate < 10 else 0    # a few generations a second
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{self.done}/{self.total}{self.unit} {rate:,.{places}f}"
                          f"{self.unit}/s {note}\x1b[K")
        self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled and self.last_draw is not None:
            self.stream.write("\n")
            self.stream.flush()
