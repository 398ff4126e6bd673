"""A live progress bar for a simulation that runs in another process.

cocotb runs the testbench inside the simulator, a subprocess whose stdout and stderr go
to ``sim.log`` (:func:`spikefab.sim.runner.run`), so the testbench cannot draw on the
user's terminal. It writes its progress instead to a small JSON file, replaced
atomically at most every :data:`WRITE_INTERVAL_S` (:class:`FeedWriter`); the host
process polls that file from a thread and draws it with tqdm on its own stderr
(:class:`FeedWatcher`): samples done of all, the online accuracy of the current epoch
(training) or the accuracy so far (test), simulated cycles per second and tqdm's
estimate of the time left.
"""

import json
import os
import threading
import time
from pathlib import Path


__all__ = ["FeedWriter", "FeedWatcher", "read_feed", "WRITE_INTERVAL_S"]

#: How often the testbench replaces the feed, and how often the host reads it.
WRITE_INTERVAL_S = 0.5
POLL_INTERVAL_S = 0.25


class FeedWriter:
    """The testbench's side: :meth:`update` after every sample, :meth:`close` at the
    end (which writes the last state whatever the interval)."""

    def __init__(self, path, total, *, interval=WRITE_INTERVAL_S):
        self.path = Path(path)
        self.total = total
        self.interval = interval
        self.start = time.perf_counter()
        self.last_write = None
        self.state = {"done": 0, "total": total}

    def update(self, *, done, phase, correct, seen, cycles):
        """Samples ``done`` of all; ``correct`` of ``seen`` in this ``phase`` (e.g.
        ``"epoch 2/3"`` or ``"test"``); ``cycles`` simulated so far."""
        self.state = {"done": done, "total": self.total, "phase": phase,
                      "correct": correct, "seen": seen, "cycles": cycles,
                      "wall_s": time.perf_counter() - self.start}
        now = time.perf_counter()
        if self.last_write is None or now - self.last_write >= self.interval:
            self._write()
            self.last_write = now

    def close(self):
        self._write()

    def _write(self):
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(json.dumps(self.state))
        os.replace(temporary, self.path)   # the reader never sees half a state


def read_feed(path):
    """The last state written to ``path``, or None before the first one."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class FeedWatcher:
    """The host's side: ``with FeedWatcher(path, stream): <run the simulation>`` draws
    the feed at ``path`` with tqdm on ``stream`` until the block ends."""

    def __init__(self, path, stream, *, poll=POLL_INTERVAL_S):
        self.path = Path(path)
        self.stream = stream
        self.poll = poll
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.bar = None

    def __enter__(self):
        self.path.unlink(missing_ok=True)     # a feed left by an earlier run
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False

    def _watch(self):
        while not self.stop.wait(self.poll):
            self._draw(read_feed(self.path))
        self._draw(read_feed(self.path))      # the final state, written at close
        if self.bar is not None:
            self.bar.close()

    def _draw(self, state):
        if state is None:
            return
        if self.bar is None:
            from tqdm import tqdm
            # Starting at the first state read keeps the first rate (and the estimate
            # of the time left) sane.
            self.bar = tqdm(total=state["total"], initial=state["done"], file=self.stream,
                            unit="sample", desc="on chip", mininterval=0,
                            postfix=_postfix(state), **_width(self.stream))
        self.bar.set_postfix_str(_postfix(state), refresh=False)
        self.bar.update(state["done"] - self.bar.n)


def _width(stream):
    """tqdm's size options: follow the terminal's size, or 100 × 24 where the terminal
    reports none (a pseudo-terminal without a size reports 0 × 0, and tqdm then hides
    its bar as if it were below the screen's last line)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return {}                          # not a terminal: tqdm's own default
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": 100, "nrows": 24}


def _postfix(state):
    if "phase" not in state:
        return ""
    accuracy = state["correct"] / max(state["seen"], 1)
    rate = state["cycles"] / max(state["wall_s"], 1e-9)
    return f"{state['phase']}, accuracy {accuracy:.1%}, {rate / 1e3:,.0f}k cycles/s"
