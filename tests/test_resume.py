"""``spikefab train --resume``: a run saved after some epochs and continued ends exactly
where the uninterrupted run ends; Ctrl-C keeps the last finished epoch."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from spikefab.config import preset
from spikefab.golden.network import GoldenNet

from test_checkpoint import assert_one_line_error, run_cli

# Its module fixture trains once: one xdist worker runs the whole file.
pytestmark = pytest.mark.xdist_group("test_resume")

# Figures that depend on the wall clock, not on the run.
CLOCK_KEYS = {"wall_s", "train_samples_per_s"}


def train(capsys, *argv):
    code, out, err = run_cli(capsys, "train", "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def checkpoint(path):
    from spikefab.checkpoint import read_checkpoint
    return read_checkpoint(path)


def assert_same_run(a_path, a_result, b_path, b_result):
    """Every weight, the training state and every figure but the clock's are equal."""
    a, b = checkpoint(a_path), checkpoint(b_path)
    assert len(a.weights) == len(b.weights)
    for layer, (wa, wb) in enumerate(zip(a.weights, b.weights)):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb), f"layer {layer} differs"
    state_a = {k: v for k, v in a.state.items() if k != "train_wall"}
    state_b = {k: v for k, v in b.state.items() if k != "train_wall"}
    assert state_a == state_b
    assert ({k: v for k, v in a_result.items() if k not in CLOCK_KEYS}
            == {k: v for k, v in b_result.items() if k not in CLOCK_KEYS})


def straight_and_resumed(capsys, tmp_path, options, epochs, split):
    straight = tmp_path / "straight.npz"
    part = tmp_path / "part.npz"
    resumed = tmp_path / "resumed.npz"
    straight_result = train(capsys, *options, "--epochs", str(epochs), "--save", straight)
    train(capsys, *options, "--epochs", str(split), "--save", part)
    assert checkpoint(part).state["epoch"] == split
    resumed_result = train(capsys, "--resume", part, "--epochs", str(epochs),
                           "--save", resumed)
    return straight, straight_result, resumed, resumed_result


def test_resumed_digits_run_equals_the_uninterrupted_one(capsys, tmp_path):
    """Golden engine, full digits: 2 epochs straight against 1 saved + 1 resumed."""
    runs = straight_and_resumed(capsys, tmp_path, [], epochs=2, split=1)
    assert_same_run(*runs)
    weights = checkpoint(runs[0]).weights
    assert sum(w.size for w in weights) == 64 * 128 + 128 * 10


def test_resume_keeps_the_rounding_generator_and_the_schedule(capsys, tmp_path):
    """Stochastic rounding (the chip's generator) and an annealing schedule."""
    config = preset("digits").replace(name="digits-sr", rounding="stochastic",
                                      lr_anneal_epochs=1, lr_anneal_max=2)
    path = tmp_path / "sr.json"
    path.write_text(config.to_json())
    options = ["--config", path, "--limit-train", "300", "--limit-test", "100"]
    runs = straight_and_resumed(capsys, tmp_path, options, epochs=3, split=1)
    assert_same_run(*runs)
    assert checkpoint(runs[0]).state["rounding_state"] != config.rounding_seed


@pytest.mark.parametrize("options", [
    ["--engine", "float", "--limit-train", "300", "--limit-test", "100"],
    ["--algo", "dfa", "--seed", "4", "--limit-train", "300", "--limit-test", "100"],
], ids=["float", "dfa-seed-4"])
def test_resume_other_engines_and_options(capsys, tmp_path, options):
    assert_same_run(*straight_and_resumed(capsys, tmp_path, options, epochs=3, split=2))


def interrupt_after(monkeypatch, samples):
    """Raise KeyboardInterrupt when GoldenNet has trained ``samples`` samples."""
    real = GoldenNet.train
    seen = []

    def train(self, raster, label):
        seen.append(1)
        if len(seen) > samples:
            raise KeyboardInterrupt
        return real(self, raster, label)

    monkeypatch.setattr(GoldenNet, "train", train)


def test_ctrl_c_saves_the_last_finished_epoch_and_resumes_exactly(capsys, tmp_path,
                                                                   monkeypatch):
    options = ["--limit-train", "200", "--limit-test", "50"]
    straight = tmp_path / "straight.npz"
    straight_result = train(capsys, *options, "--epochs", "3", "--save", straight)
    saved = tmp_path / "saved.npz"
    interrupt_after(monkeypatch, 200 + 17)          # 17 samples into epoch 2
    code, out, err = run_cli(capsys, "train", "--json", *options, "--epochs", "3",
                             "--save", saved)
    assert_one_line_error(code, err, "interrupted during epoch 2/3", status=130)
    assert f"saved the run after epoch 1 to {saved}" in err
    assert out == ""
    assert checkpoint(saved).state["epoch"] == 1
    monkeypatch.undo()
    resumed = tmp_path / "resumed.npz"
    resumed_result = train(capsys, "--resume", saved, "--epochs", "3", "--save", resumed)
    assert_same_run(straight, straight_result, resumed, resumed_result)


def test_ctrl_c_without_save_says_nothing_was_saved(capsys, tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 5)
    code, out, err = run_cli(capsys, "train", "--json", "--limit-train", "50",
                             "--epochs", "2")
    assert_one_line_error(code, err, "nothing saved (no --save)", status=130)


def test_ctrl_c_on_a_resumed_run_keeps_its_epochs(capsys, tmp_path, monkeypatch):
    options = ["--limit-train", "100", "--limit-test", "20"]
    first = tmp_path / "first.npz"
    train(capsys, *options, "--epochs", "2", "--save", first)
    interrupt_after(monkeypatch, 3)
    code, out, err = run_cli(capsys, "train", "--json", "--resume", first, "--epochs", "4",
                             "--save", first)
    assert_one_line_error(code, err, "interrupted during epoch 3/4", status=130)
    assert checkpoint(first).state["epoch"] == 2


def test_sigint_exits_130_without_a_traceback(tmp_path):
    """A real Ctrl-C (SIGINT) to the command line, in the middle of a long run: sent once
    the progress bar shows an epoch under way (a fixed sleep raced the imports on a busy
    machine)."""
    path = tmp_path / "run.npz"
    # Ctrl-C as at a terminal, whatever the runner does: a background job of a shell
    # without job control (nohup, `make test &`) starts with SIGINT ignored, and a child
    # inherits that, so Python would never see the signal.
    process = subprocess.Popen(
        [sys.executable, "-m", "spikefab.cli", "train", "--epochs", "500", "--save", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = wait_for(process.stderr, b"epoch ", timeout=120)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    err = (err + rest).decode()
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    # The progress bar redraws with carriage returns; the message is the one line after it.
    message = err.rsplit("\r", 1)[-1].split("\x1b[K")[-1].strip()
    assert len(message.splitlines()) == 1, err
    assert message.startswith("spikefab: interrupted during epoch "), err
    state = checkpoint(path).state
    assert f"saved the run after epoch {state['epoch']} to {path}" in message


def wait_for(stream, marker, *, timeout):
    """Read ``stream`` until ``marker`` appears; return what was read."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout} s: {seen!r}"
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, f"the process ended before {marker!r}: {seen!r}"
        seen += chunk
    return seen


# -- what --resume refuses -----------------------------------------------------------------

@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "one.npz"
    code = __import__("spikefab.cli", fromlist=["main"]).main(
        ["train", "--json", "--limit-train", "80", "--limit-test", "20", "--epochs", "1",
         "--save", str(path)])
    assert code == 0
    return path


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "idx:/tmp"], "--dataset idx:/tmp differs from the checkpoint's digits"),
    (["--seed", "2"], "--seed 2 differs from the checkpoint's 1"),
    (["--algo", "dfa"], "--algo dfa differs from the checkpoint's sparse-dfa"),
    (["--engine", "float"], "--engine float differs from the checkpoint's golden"),
    (["--limit-train", "81"], "--limit-train 81 differs from the checkpoint's 80"),
    (["--config", "mnist"], "was made for config digits"),
    (["--engine", "rtl"], "--resume is not supported by the rtl engine"),
    (["--epochs", "0"], "already holds 1 epoch"),
])
def test_resume_refuses_a_different_run(capsys, one_epoch, extra, message):
    code, out, err = run_cli(capsys, "train", "--resume", one_epoch, *extra)
    assert_one_line_error(code, err, message)


def test_resume_refuses_a_checkpoint_without_training_state(capsys, tmp_path):
    from spikefab.checkpoint import save_checkpoint
    from spikefab.golden.network import init_weights
    path = tmp_path / "plain.npz"
    save_checkpoint(path, preset("digits"), init_weights(preset("digits")), engine="golden")
    code, out, err = run_cli(capsys, "train", "--resume", path)
    assert_one_line_error(code, err, "holds no training state")


def test_resume_refuses_a_missing_checkpoint(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--resume", tmp_path / "none.npz")
    assert_one_line_error(code, err, "does not exist")


def test_resume_refuses_changed_training_data(capsys, tmp_path, monkeypatch, one_epoch):
    import spikefab.golden.datasets as datasets
    real = datasets.load_digits_dataset

    def shifted():
        dataset = real()
        dataset.y_train = (dataset.y_train + 1) % 10
        return dataset

    monkeypatch.setattr(datasets, "load_digits_dataset", shifted)
    code, out, err = run_cli(capsys, "train", "--resume", one_epoch, "--epochs", "2")
    assert_one_line_error(code, err, "training samples differ from those the run began with")


def test_ctrl_c_while_evaluating_keeps_the_trained_epoch(capsys, tmp_path, monkeypatch):
    """Interrupted while evaluating epoch 1: epoch 1's training is kept, and the resumed
    run evaluates it before going on, so its figures equal the uninterrupted run's."""
    import spikefab.train as train_module
    options = ["--limit-train", "120", "--limit-test", "40"]
    straight = tmp_path / "straight.npz"
    straight_result = train(capsys, *options, "--epochs", "2", "--save", straight)
    saved = tmp_path / "saved.npz"
    monkeypatch.setattr(train_module, "evaluate",
                        lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
    code, out, err = run_cli(capsys, "train", "--json", *options, "--epochs", "2",
                             "--save", saved)
    assert_one_line_error(code, err, "saved the run after epoch 1", status=130)
    assert "test_accuracy" not in checkpoint(saved).state["history"][0]
    monkeypatch.undo()
    resumed = tmp_path / "resumed.npz"
    resumed_result = train(capsys, "--resume", saved, "--save", resumed)
    assert_same_run(straight, straight_result, resumed, resumed_result)
