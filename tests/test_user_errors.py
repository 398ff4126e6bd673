"""Issue 15's list of careless and hostile inputs, walked bullet by bullet: each one ends
in one line on stderr and a non-zero status, before any training starts, never a
traceback. (The host link's bullet belongs to the protocol tests; the fresh-machine
bullet to tests/test_system_deps.py.)"""

import json
import os
import zipfile

import numpy as np
import pytest

import spikefab.cli as cli
from spikefab.checkpoint import save_checkpoint
from spikefab.config import ConfigError, preset
from spikefab.golden.network import init_weights

from test_checkpoint import assert_one_line_error, rewrite, run_cli
from test_datasets import NMNIST_SAMPLES, deny, write_nmnist, write_split


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: every error here must come before it."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the error was found")
    monkeypatch.setattr(cli, "train_epochs", refuse)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "old.npz"
    config = preset("digits")
    save_checkpoint(path, config, init_weights(config), engine="golden")
    return path


# -- bullet 1: a failed or interrupted --save destroys the previous checkpoint -------------

def test_failed_save_keeps_the_previous_checkpoint(tmp_path, capsys, checkpoint,
                                                   monkeypatch):
    before = checkpoint.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", full)
    code, out, err = run_cli(capsys, "train", "--json", "--limit-train", "20",
                             "--limit-test", "10", "--epochs", "1", "--save", checkpoint)
    assert_one_line_error(code, err, "No space left on device; the previous one is left")
    assert checkpoint.read_bytes() == before
    assert os.listdir(tmp_path) == ["old.npz"]


def test_eval_of_a_zip_with_an_empty_member(capsys, checkpoint):
    with zipfile.ZipFile(checkpoint) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["w0.npy"] = b""
    with zipfile.ZipFile(checkpoint, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    code, out, err = run_cli(capsys, "eval", "--checkpoint", checkpoint)
    assert_one_line_error(code, err, "member w0.npy is unreadable")


# -- bullet 2: the save path is checked only after training --------------------------------

def test_save_into_a_missing_folder(tmp_path, capsys, no_training):
    code, out, err = run_cli(capsys, "train", "--save", tmp_path / "nodir" / "x.npz")
    assert_one_line_error(code, err, "does not exist")


def test_save_name_is_kept(tmp_path, capsys):
    path = tmp_path / "model.ckpt"
    code, out, err = run_cli(capsys, "train", "--json", "--limit-train", "20",
                             "--limit-test", "10", "--epochs", "1", "--save", path)
    assert code == 0, err
    assert os.listdir(tmp_path) == ["model.ckpt"]
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path, "--limit-test", "10")
    assert code == 0, err


# -- bullet 3: no way to resume; Ctrl-C prints a traceback and keeps nothing ---------------

def test_ctrl_c_is_one_line_and_130(capsys, monkeypatch, tmp_path):
    from spikefab.golden.network import GoldenNet

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GoldenNet, "train", interrupted)
    code, out, err = run_cli(capsys, "train", "--json", "--save", tmp_path / "x.npz")
    assert_one_line_error(code, err, "interrupted during epoch 1/20", status=130)
    assert (tmp_path / "x.npz").exists()


def test_ctrl_c_outside_training_is_one_line_and_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_dataset", interrupted)
    code, out, err = run_cli(capsys, "train", "--json")
    assert_one_line_error(code, err, "spikefab: interrupted", status=130)


# -- bullet 5: errors that come late or as tracebacks --------------------------------------

def test_idx_splits_with_different_image_shapes(tmp_path, capsys, no_training):
    write_split(tmp_path, "train", 5, 8)
    write_split(tmp_path, "t10k", 3, 7)
    code, out, err = run_cli(capsys, "train", "--dataset", f"idx:{tmp_path}")
    assert_one_line_error(code, err, "train images are 8×8 but its t10k images are 7×7")


def nmnist_config(tmp_path):
    config = preset("digits").replace(name="nmnist-small", n_in=578, timesteps=8,
                                      target_count=6, gate_hi=7, v_bits=18)
    path = tmp_path / "nmnist.json"
    path.write_text(config.to_json())
    return path


def test_unreadable_nmnist_folder(tmp_path, capsys, monkeypatch, no_training):
    pytest.importorskip("tonic")
    data = tmp_path / "data"
    write_nmnist(data, NMNIST_SAMPLES)
    deny(monkeypatch, "listdir", data / "Train" / "3")
    code, out, err = run_cli(capsys, "train", "--dataset", f"nmnist:{data}",
                             "--config", nmnist_config(tmp_path))
    assert_one_line_error(code, err, f"cannot read N-MNIST folder {data / 'Train' / '3'}: "
                                     f"Permission denied")


def test_unreadable_nmnist_file(tmp_path, capsys, monkeypatch, no_training):
    pytest.importorskip("tonic")
    import builtins
    data = tmp_path / "data"
    write_nmnist(data, NMNIST_SAMPLES)
    path = data / "Test" / "0" / "00003.bin"
    real = builtins.open

    def denied(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    code, out, err = run_cli(capsys, "train", "--dataset", f"nmnist:{data}",
                             "--config", nmnist_config(tmp_path))
    assert_one_line_error(code, err, f"cannot read {path}: Permission denied")


def test_nmnist_digit_entry_that_is_a_file(tmp_path, capsys, no_training):
    pytest.importorskip("tonic")
    data = tmp_path / "data"
    write_nmnist(data, NMNIST_SAMPLES)
    (data / "Test" / "4").write_bytes(b"")
    code, out, err = run_cli(capsys, "train", "--dataset", f"nmnist:{data}",
                             "--config", nmnist_config(tmp_path))
    assert_one_line_error(code, err, f"{data / 'Test' / '4'} is a file")


def test_unreadable_idx_folder(tmp_path, capsys, monkeypatch, no_training):
    deny(monkeypatch, "listdir", tmp_path)
    code, out, err = run_cli(capsys, "train", "--dataset", f"idx:{tmp_path}")
    assert_one_line_error(code, err, f"cannot read dataset folder {tmp_path}: "
                                     f"Permission denied")


@pytest.mark.parametrize("weights, message", [
    (np.full((64, 128), "1"), "holds <U1 values"),
    (np.zeros((64, 128), dtype=np.complex128), "holds complex128 values"),
    (np.ones((64, 128), dtype=bool), "holds bool values"),
    (np.full((64, 128), np.nan), "holds float64 values"),
], ids=["string", "complex", "bool", "nan"])
def test_checkpoint_with_weights_of_the_wrong_kind(capsys, checkpoint, weights, message):
    rewrite(checkpoint, w0=weights)
    for command in (["eval", "--checkpoint", checkpoint],
                    ["train", "--resume", checkpoint]):
        code, out, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, message)


def test_checkpoint_member_that_is_not_npy(capsys, checkpoint):
    with zipfile.ZipFile(checkpoint, "a") as archive:
        archive.writestr("w0", b"raw")
    code, out, err = run_cli(capsys, "eval", "--checkpoint", checkpoint)
    assert_one_line_error(code, err, "w0 is not a .npy member")


@pytest.mark.parametrize("option, value", [
    ("--limit-train", "0"), ("--limit-train", "-5"), ("--limit-test", "0"),
])
def test_limits_that_are_not_positive(capsys, no_training, option, value):
    code, out, err = run_cli(capsys, "train", option, value)
    assert_one_line_error(code, err, f"{option} must be a positive integer, not {value}")


@pytest.mark.parametrize("command", [["eval", "--checkpoint"], ["train", "--resume"]])
def test_limit_test_zero_on_eval_and_resume(capsys, checkpoint, command):
    code, out, err = run_cli(capsys, *command, checkpoint, "--limit-test", "0")
    if command[0] == "train":   # a plain checkpoint cannot be resumed: refused first
        assert_one_line_error(code, err, "holds no training state")
    else:
        assert_one_line_error(code, err, "--limit-test must be a positive integer, not 0")


@pytest.mark.parametrize("name", ["/some/where", "../outside", "a/b", "..", ".", "",
                                  "back\\slash", "new\nline"])
def test_config_name_that_is_not_a_plain_name(tmp_path, capsys, no_training, name):
    data = preset("digits").to_dict()
    data["name"] = name
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    code, out, err = run_cli(capsys, "train", "--config", path)
    assert_one_line_error(code, err, "name must be a plain name")
    code, out, err = run_cli(capsys, "bitstream", "--config", path, "--synth-only")
    assert_one_line_error(code, err, "name must be a plain name")
    with pytest.raises(ConfigError, match="plain name"):
        preset("digits").replace(name=name)


def test_plain_config_names_are_accepted():
    for name in ("digits", "my-net_2", "v1.2", "A"):
        assert preset("digits").replace(name=name).name == name


@pytest.mark.parametrize("option, message", [("--save", "--save needs a file name"),
                                             ("--resume", "checkpoint  does not exist")])
def test_empty_path_options(capsys, no_training, option, message):
    code, out, err = run_cli(capsys, "train", option, "")
    assert_one_line_error(code, err, message)
