"""Checkpoints: atomic writes, the save path checked before training, strict loading."""

import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import spikefab.cli as cli
from spikefab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spikefab.config import preset

QUICK = ["--limit-train", "60", "--limit-test", "30", "--epochs", "1", "--json"]


def run_cli(capsys, *argv):
    """``spikefab ARGV`` in this process: (exit status, stdout, stderr).

    An exception escaping :func:`spikefab.cli.main` fails the test: it is what a user
    would see as a traceback."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as leave:
        code = leave.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, message, status=2):
    assert code == status, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikefab: "), err
    assert message in lines[0], lines[0]


def digits_weights(config=None):
    config = config or preset("digits")
    from spikefab.golden.network import init_weights
    return config, init_weights(config)


@pytest.fixture
def saved(tmp_path):
    """A valid checkpoint of the digits preset and its bytes."""
    config, weights = digits_weights()
    path = tmp_path / "model.npz"
    save_checkpoint(path, config, weights, engine="golden", meta={"epochs": 0})
    return path, path.read_bytes()


def rewrite(path, **changes):
    """Write ``path`` again with some members replaced (None drops one)."""
    with zipfile.ZipFile(path) as archive:
        members = {name[:-4]: np.lib.format.read_array(archive.open(name))
                   for name in archive.namelist()}
    for name, value in changes.items():
        if value is None:
            members.pop(name)
        else:
            members[name] = value
    with open(path, "wb") as file:
        np.savez(file, **members)


# -- writing -----------------------------------------------------------------------------

def test_a_failed_write_leaves_the_old_checkpoint(saved, monkeypatch):
    path, before = saved
    real = np.lib.format.write_array
    calls = []

    def failing(file, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(file, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    config, weights = digits_weights()
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(path, config, weights, engine="golden")
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.npz"]


def test_ctrl_c_inside_the_save_leaves_the_old_checkpoint(saved, monkeypatch):
    path, before = saved
    real = np.lib.format.write_array
    calls = []

    def interrupted(file, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(file, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    config, weights = digits_weights()
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, config, weights, engine="golden")
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.npz"]
    load_checkpoint(path)


def test_a_file_size_limit_leaves_the_old_checkpoint(saved):
    """``ulimit -f 8`` while saving: the write fails, the old file is untouched."""
    path, before = saved
    script = ("import resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))\n"
              "from spikefab.checkpoint import save_checkpoint\n"
              "from spikefab.config import preset\n"
              "from spikefab.golden.network import init_weights\n"
              "config = preset('digits').replace(init_seed=5)\n"
              "save_checkpoint(sys.argv[1], config, init_weights(config), engine='golden')\n")
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    assert "File too large" in run.stderr
    assert len(before) > 8192 and path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.npz"]


def test_the_name_given_is_the_name_written(tmp_path, capsys):
    path = tmp_path / "model.ckpt"
    code, out, err = run_cli(capsys, "train", *QUICK, "--save", path)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt"]
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path, "--limit-test", "30",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["test_samples"] == 30


def test_a_new_checkpoint_gets_ordinary_permissions(tmp_path):
    config, weights = digits_weights()
    path = tmp_path / "fresh.npz"
    mask = os.umask(0o022)
    try:
        save_checkpoint(path, config, weights, engine="golden")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


# -- the save path, before training ------------------------------------------------------

@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the save path was checked")
    monkeypatch.setattr(cli, "train_epochs", refuse)


@pytest.mark.parametrize("where, message", [
    ("nodir/x.npz", "does not exist"),
    ("folder", "is a folder"),
    ("afile/x.npz", "is not a folder"),
], ids=["missing-folder", "a-folder", "under-a-file"])
def test_save_path_refused_before_training(tmp_path, capsys, no_training, where, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    code, out, err = run_cli(capsys, "train", *QUICK, "--save", tmp_path / where)
    assert_one_line_error(code, err, message)


def test_unwritable_save_folder_refused_before_training(tmp_path, capsys, no_training,
                                                          monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, out, err = run_cli(capsys, "train", *QUICK, "--save", tmp_path / "x.npz")
    assert_one_line_error(code, err, "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_read_only_folder_refused_before_training(tmp_path, capsys, no_training):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, out, err = run_cli(capsys, "train", *QUICK, "--save", folder / "x.npz")
    finally:
        folder.chmod(0o755)
    assert_one_line_error(code, err, "Permission denied")


def test_a_device_is_not_a_save_path(capsys, no_training):
    code, out, err = run_cli(capsys, "train", *QUICK, "--save", os.devnull)
    assert_one_line_error(code, err, "not a regular file")


# -- loading: every member checked -------------------------------------------------------

def bad_weights(kind):
    shape = preset("digits").weight_shapes[0]
    return {
        "string": np.full(shape, "7"),
        "complex": np.zeros(shape, dtype=np.complex64),
        "bool": np.zeros(shape, dtype=bool),
        "nan": np.full(shape, np.nan, dtype=np.float32),
        "float": np.zeros(shape, dtype=np.float64),
        "out-of-range": np.full(shape, 300, dtype=np.int16),
        "wrong-shape": np.zeros((3, 3), dtype=np.int16),
        "scalar": np.array(5),
    }[kind]


@pytest.mark.parametrize("kind, message", [
    ("string", "w0 holds <U1 values"),
    ("complex", "w0 holds complex64 values"),
    ("bool", "w0 holds bool values"),
    ("nan", "w0 holds float32 values"),
    ("float", "w0 holds float64 values"),
    ("out-of-range", "outside w_bits=8 (-128 … 127)"),
    ("wrong-shape", "w0 has shape (3, 3), the config needs (64, 128)"),
    ("scalar", "w0 has shape (), the config needs (64, 128)"),
])
def test_weights_of_the_wrong_kind_are_refused(saved, capsys, kind, message):
    path, _ = saved
    rewrite(path, w0=bad_weights(kind))
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(path)
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path, "--limit-test", "5")
    assert_one_line_error(code, err, message)


def test_nan_in_a_float_checkpoint_is_refused(saved, capsys):
    path, _ = saved
    weights = np.zeros(preset("digits").weight_shapes[1], dtype=np.float32)
    weights[3, 4] = np.inf
    rewrite(path, engine=np.array("float"), w1=weights)
    with pytest.raises(CheckpointError, match="w1 holds a value that is not finite"):
        load_checkpoint(path)


@pytest.mark.parametrize("member, value, message", [
    ("config", np.array(7), "member config must be text"),
    ("meta", np.array("[1, 2]"), "member meta must be a JSON object"),
    ("meta", np.array("{"), "member meta is not valid JSON"),
    ("engine", np.array("quantum"), "unknown engine 'quantum'"),
    ("w1", None, "has no member w1"),
    ("extra", np.zeros(3), "unexpected member extra.npy"),
    ("state", np.array('{"epoch": "one"}'), "training state"),
])
def test_members_of_the_wrong_kind_are_refused(saved, member, value, message):
    path, _ = saved
    rewrite(path, **{member: value})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_member_that_is_not_npy_is_refused(saved, capsys):
    path, _ = saved
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path)
    assert_one_line_error(code, err, "notes.txt is not a .npy member")


def test_an_empty_weight_member_is_refused(saved, capsys):
    """What a Ctrl-C inside ``np.savez`` used to leave: a zip with an empty w0.npy."""
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["w0.npy"] = b""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path)
    assert_one_line_error(code, err, "member w0.npy")


def test_an_object_member_is_refused_without_running_it(saved, capsys):
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    members["meta.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path)
    assert_one_line_error(code, err, "member meta.npy")


def test_a_header_promising_more_than_the_member_holds_is_refused(saved):
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = members["w0.npy"]
    members["w0.npy"] = data.replace(b"(64, 128)", b"(64, 999)")
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    with pytest.raises(CheckpointError, match="member w0.npy"):
        load_checkpoint(path)


def rewrite_member_bytes(path, name, change):
    """Write ``path`` again with member ``name``'s raw ``.npy`` bytes passed through
    ``change``, every other member's bytes as they were."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, payload in members.items():
            archive.writestr(n, payload)


@pytest.mark.parametrize("member, extra", [
    ("w0.npy", b"\x00"),        # one byte past 64 × 128 weights: not a whole weight
    ("w0.npy", bytes(2)),        # one int16 weight more than the header's shape holds
    ("w1.npy", b"\x00"),
    ("meta.npy", b"\x00"),
], ids=["w0-byte", "w0-weight", "w1-byte", "meta-byte"])
def test_a_member_padded_past_its_header_is_refused(saved, member, extra):
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        size = len(archive.read(member))
    rewrite_member_bytes(path, member, lambda data: data + extra)
    with zipfile.ZipFile(path) as archive:
        assert len(archive.read(member)) == size + len(extra)
    with pytest.raises(CheckpointError, match=f"member {member} is truncated or padded: "
                       "its header promises") as refused:
        load_checkpoint(path)
    message = str(refused.value)
    promised, held = map(int, re.search(r"promises (\d+) bytes, it holds (\d+)$",
                                        message).groups())
    assert held == promised + len(extra) and "\n" not in message


@pytest.mark.parametrize("tamper", ["hash", "config"])
def test_a_stored_hash_that_does_not_match_the_config_is_refused(saved, tamper):
    """Corruption or a hand edit: the stored config_hash is not the stored config's
    hash. Either member edited (the config changed under its old hash, or the hash
    replaced) is refused by load_checkpoint itself, in one line."""
    path, _ = saved
    config = preset("digits")
    if tamper == "hash":
        rewrite(path, config_hash=np.array("0123456789abcdef"))
    else:
        edited = config.replace(threshold=config.threshold + 1)   # still a valid config
        rewrite(path, config=np.array(edited.to_json()))
    with pytest.raises(CheckpointError, match="is corrupt: its config hash") as refused:
        load_checkpoint(path)
    assert "\n" not in str(refused.value)
    # Not refused for the other reason a config can be: it is the config expected.
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_checkpoint(path, expect_config=config if tamper == "hash" else edited)


def test_a_truncated_checkpoint_is_refused(saved, capsys):
    path, before = saved
    path.write_bytes(before[:8192])
    code, out, err = run_cli(capsys, "eval", "--checkpoint", path)
    assert_one_line_error(code, err, "not a readable .npz")


def test_a_folder_is_not_a_checkpoint(tmp_path, capsys):
    code, out, err = run_cli(capsys, "eval", "--checkpoint", tmp_path)
    assert_one_line_error(code, err, "is a folder")


def test_a_valid_checkpoint_round_trips(saved):
    path, _ = saved
    config, weights, engine, meta = load_checkpoint(path)
    assert config == preset("digits") and engine == "golden" and meta == {"epochs": 0}
    for loaded, original in zip(weights, digits_weights()[1]):
        assert np.array_equal(loaded, original)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_not_a_checkpoint(capsys, device):
    code, out, err = run_cli(capsys, "eval", "--checkpoint", device)
    assert_one_line_error(code, err, "is not a regular file")
