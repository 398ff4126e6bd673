"""make sim's live bar: the testbench's progress feed drawn by tqdm on the host's terminal,
and nothing of it with --json (spikefab.sim.progress_feed)."""

import io
import json
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spikefab.config import PRESETS
from spikefab.sim import runner
from spikefab.sim.progress_feed import FeedWatcher, FeedWriter, read_feed
from spikefab.sim.simulate import build_folder

ROOT = Path(__file__).resolve().parents[1]
SIM_BUILD = ROOT / "build" / "sim"          # where `make sim` builds the digits chip
DIGITS = PRESETS["digits"]


def test_the_watcher_draws_what_the_writer_feeds(tmp_path):
    feed, screen = tmp_path / "progress.json", io.StringIO()
    with FeedWatcher(feed, screen, poll=0.01):
        writer = FeedWriter(feed, 8, interval=0)
        for done in range(1, 9):
            writer.update(done=done, phase="epoch 1/1", correct=done // 2, seen=done,
                          cycles=25_000 * done)
            time.sleep(0.03)
        writer.close()
    text = screen.getvalue()
    last = text.split("\r")[-1]
    assert "on chip" in text and "8/8" in last and "100%" in last
    assert "epoch 1/1, accuracy 50.0%" in last and "cycles/s" in last
    assert read_feed(feed)["done"] == 8


def test_the_writer_waits_its_interval_but_always_writes_the_end(tmp_path):
    feed = tmp_path / "progress.json"
    writer = FeedWriter(feed, 3, interval=60)
    writer.update(done=1, phase="test", correct=1, seen=1, cycles=10)
    writer.update(done=2, phase="test", correct=1, seen=2, cycles=20)
    assert read_feed(feed)["done"] == 1             # the second came within the interval
    writer.close()
    assert read_feed(feed) == {**writer.state, "done": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # no temporary left


def run_on_a_terminal(args):
    """``spikefab sim ARGS`` with its stderr on a pseudo-terminal: (status, stdout,
    what the terminal received)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "spikefab.cli", "sim", *args],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    received = []

    def read():
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:                  # the terminal's last user closed it
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(controller)
    return process.returncode, stdout, b"".join(received).decode(errors="replace")


def test_the_bar_is_drawn_on_a_terminal_only_and_never_with_json(monkeypatch):
    from spikefab.cli import _live_bar, build_parser

    controller, terminal = pty.openpty()
    with open(terminal, "w") as tty, open(os.devnull, "w") as pipe:
        for stream, flags, drawn in ((tty, [], True), (tty, ["--json"], False),
                                     (pipe, [], False)):
            monkeypatch.setattr(sys, "stderr", stream)
            args = build_parser().parse_args(["sim", *flags])
            assert (_live_bar(args) is stream) is drawn, (stream, flags)
            assert _live_bar(args) in (stream, None)
    os.close(controller)


@pytest.mark.slow     # two short simulations: ~55 s of CPU, mostly start-up
@pytest.mark.xdist_group(DIGITS.name)
def test_make_sim_shows_a_live_bar_on_a_terminal_and_none_with_json(tmp_path):
    """The digits chip as `make sim` builds it (tests/test_sim.py shares the build): a
    few samples with the bar on a terminal, then the same with --json."""
    built = runner.build(DIGITS, "verilator", directory=build_folder(DIGITS, SIM_BUILD))
    quick = ["--limit-train", "4", "--limit-test", "2", "--epochs", "1"]
    for name in ("bar", "json"):
        (tmp_path / name).mkdir()
        (build_folder(DIGITS, tmp_path / name)).symlink_to(built.directory)
    status, stdout, terminal = run_on_a_terminal([*quick, "--out", str(tmp_path / "bar")])
    assert status == 0, terminal
    bar = terminal.replace("\r\n", "\n").split("\r")
    assert any("on chip" in line and "6/6" in line and "test, accuracy" in line
               and "cycles/s" in line for line in bar), terminal
    assert "bit-exact" in stdout

    status, stdout, terminal = run_on_a_terminal([*quick, "--json",
                                                  "--out", str(tmp_path / "json")])
    assert status == 0, terminal
    assert "on chip" not in terminal and "sample/s" not in terminal, terminal
    assert json.loads(stdout)["bit_exact"] is True
