"""The ``spikefab`` command: JSON output, checkpoints, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from spikefab.config import PRESETS, preset

# Its module fixture trains once: one xdist worker runs the whole file.
pytestmark = pytest.mark.xdist_group("test_cli")

TRAIN_JSON_KEYS = {"dataset", "algo", "engine", "config", "epochs", "train_accuracy",
                   "test_accuracy", "train_samples_per_s", "weight_writes_per_sample",
                   "wall_s"}


def spikefab(*args):
    return subprocess.run([sys.executable, "-m", "spikefab.cli", *args],
                          capture_output=True, text=True, timeout=300)


def assert_user_error(run, message):
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikefab: error: "), run.stderr
    assert message in lines[0]


QUICK = ["--limit-train", "200", "--limit-test", "100", "--epochs", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "digits.npz"
    run = spikefab("train", "--json", *QUICK, "--save", str(path))
    assert run.returncode == 0, run.stderr
    return path, json.loads(run.stdout)


def test_train_json_has_the_documented_keys_and_no_progress(trained):
    path, result = trained
    assert TRAIN_JSON_KEYS <= set(result)
    assert result["epochs"] == 2 and result["train_samples"] == 200
    assert 0.3 < result["test_accuracy"] <= 1.0


def test_eval_reproduces_the_trained_accuracy(trained):
    path, result = trained
    run = spikefab("eval", "--checkpoint", str(path), "--limit-test", "100", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["test_accuracy"] == result["test_accuracy"]


def test_human_output(trained):
    """One line that says what was evaluated and the accuracy --json gives (the same
    100 test samples the training run measured), as a percentage."""
    path, result = trained
    run = spikefab("eval", "--checkpoint", str(path), "--limit-test", "100")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"{path} on digits (golden): test {result['test_accuracy']:.2%} over 100 samples"]


def test_eval_refuses_a_checkpoint_of_another_config(trained):
    path, _ = trained
    run = spikefab("eval", "--checkpoint", str(path), "--config", "mnist")
    assert_user_error(run, "was made for config digits")


def test_eval_accepts_the_preset_whatever_the_training_seed(tmp_path):
    path = tmp_path / "seed3.npz"
    run = spikefab("train", "--json", *QUICK, "--seed", "3", "--save", str(path))
    assert run.returncode == 0, run.stderr
    run = spikefab("eval", "--checkpoint", str(path), "--config", "digits",
                   "--limit-test", "50", "--json")
    assert run.returncode == 0, run.stderr


def test_eval_refuses_a_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert_user_error(spikefab("eval", "--checkpoint", str(bad)), "not a readable .npz")
    assert_user_error(spikefab("eval", "--checkpoint", str(tmp_path / "none.npz")),
                      "does not exist")


def test_eval_refuses_a_tampered_config(trained, tmp_path):
    path, _ = trained
    with np.load(path) as data:
        fields = {k: data[k] for k in data.files}
    config = json.loads(str(fields["config"]))
    config["threshold"] += 1
    fields["config"] = json.dumps(config)
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **fields)
    assert_user_error(spikefab("eval", "--checkpoint", str(tampered)), "is corrupt")


def test_eval_refuses_float_weights_on_the_integer_engine(tmp_path):
    path = tmp_path / "float.npz"
    run = spikefab("train", "--json", "--engine", "float", *QUICK, "--save", str(path))
    assert run.returncode == 0, run.stderr
    assert_user_error(spikefab("eval", "--checkpoint", str(path), "--engine", "golden"),
                      "holds float weights")
    run = spikefab("eval", "--checkpoint", str(path), "--limit-test", "50", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["engine"] == "float"


def test_missing_dataset_folder(tmp_path):
    run = spikefab("train", "--dataset", f"idx:{tmp_path / 'absent'}", "--config", "mnist")
    assert_user_error(run, "does not exist")


def test_corrupt_idx_dataset(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00")
    run = spikefab("train", "--dataset", f"idx:{tmp_path}", "--config", "mnist")
    assert_user_error(run, "truncated IDX header")


def test_dataset_that_does_not_fit_the_config():
    assert_user_error(spikefab("train", "--config", "mnist"), "expects n_in=784")


def test_invalid_config_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(preset("digits").replace(k_fb=1).to_json().replace('"k_fb": 1', '"k_fb": 11'))
    assert_user_error(spikefab("train", "--config", str(path)), "k_fb must be at most 10")
    path.write_text("{")
    assert_user_error(spikefab("train", "--config", str(path)), "not valid JSON")


def test_unknown_preset():
    assert_user_error(spikefab("train", "--config", "huge"),
                      "valid presets: " + ", ".join(sorted(PRESETS)))


def test_negative_epochs():
    assert_user_error(spikefab("train", "--epochs", "-1"), "--epochs must be at least 0")


def test_rtl_engine_refuses_a_missing_dataset_before_building():
    assert_user_error(spikefab("train", "--engine", "rtl", "--dataset", "idx:/nonexistent"),
                      "dataset folder /nonexistent does not exist")
    assert_user_error(spikefab("sim", "--dataset", "idx:/nonexistent"),
                      "dataset folder /nonexistent does not exist")


def test_unknown_algorithm_is_refused_by_argparse():
    run = spikefab("train", "--algo", "backprop")
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_sim_refuses_an_event_sample_larger_than_the_chip_buffer(tmp_path):
    # 578 events at distinct places of a 17 × 17 × 2 pooled sensor: 2 · (578 + 4) + 3 =
    # 1,167 bytes on the wire, over the 1 KiB input buffer of a 578-input chip. Refused
    # in one line before the chip is built (nothing under --out).
    pytest.importorskip("tonic")
    from test_datasets import write_nmnist

    crowded = [(x, y, 0, p) for x in range(0, 34, 2) for y in range(0, 34, 2) for p in (0, 1)]
    write_nmnist(tmp_path / "nmnist", [("Train", 1, "00001.bin", crowded),
                                       ("Test", 2, "00002.bin", crowded[:10])])
    config = tmp_path / "events.json"
    config.write_text(preset("saccade").replace(
        name="events578", n_in=578, timesteps=4, target_count=4, error_clip=4, margin=1,
        gate_hi=4, v_bits=18).to_json())
    out = tmp_path / "out"
    assert_user_error(
        spikefab("sim", "--dataset", f"nmnist:{tmp_path / 'nmnist'}", "--config",
                 str(config), "--out", str(out)),
        "training sample 0 of nmnist:")
    run = spikefab("sim", "--dataset", f"nmnist:{tmp_path / 'nmnist'}", "--config",
                   str(config), "--out", str(out))
    assert "needs 1167 bytes on the wire (578 events over 4 timesteps); the chip's input " \
           "buffer holds 1024" in run.stderr
    assert not out.exists()
