"""``spikefab compare``: the table of every rule (digits, tiny limits), its files, a rerun
that skips finished rows, Ctrl-C keeping them, the host-bytes count against frames
sized by hand, the RTL cache, and bad input refused in one line before any work."""

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import spikefab.cli as cli
import spikefab.compare as compare
import spikefab.golden.datasets as datasets
from spikefab import train
from spikefab.config import preset
from spikefab.golden.datasets import Dataset
from spikefab.host_bytes import (NotOnChip, host_bytes_breakdown,
                                 host_bytes_per_train_sample, sample_payload_sizes)
from spikefab.protocol import (SAMPLE_REPLY, SAMPLE_REQUEST, Op, encode_frame,
                               event_payload, pixel_payload, request_frame)

from test_checkpoint import assert_one_line_error, run_cli

# The module fixture trains once: one xdist worker runs the whole file.
pytestmark = pytest.mark.xdist_group("test_compare")

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--datasets", "digits", "--algos", "sparse-dfa,eggroll,es", "--limit-train", "60",
         "--limit-test", "40", "--epochs", "1", "--rtl-samples", "0"]
# Frames by hand: SOF (1) + LEN (2) + body + CRC (2). A TRAIN request's body: op, seq
# (2), mode (1), label (2), the n_in pixels. Its reply: status, op, seq (3), prediction
# (2), n_out counts (10), cycles, sops, writes (3 × 4).
DFA_DIGITS_BYTES = (5 + 2 + 3 + 64) + (5 + 3 + 2 + 10 + 12)           # 74 + 32 = 106
DFA_MNIST_BYTES = (5 + 2 + 3 + 784) + (5 + 3 + 2 + 10 + 12)           # 794 + 32 = 826
# EGGROLL on digits, population 64 (K = 32 pairs), batch 16, per generation:
# ES_FACTORS: 5 + 2 + 32 × 4 = 135, its OK reply 5 + 3 = 8;
# 64 × 16 EVALUATE: 5 + 2 + 6 + 64 = 77 each, replies 5 + 27 + 4 = 36 each;
# ES_UPDATE: 5 + 2 + 32 = 39, its reply 5 + 3 + 4 + 4 = 16.
EGGROLL_DIGITS_BYTES = (135 + 8 + 64 * 16 * (77 + 36) + 39 + 16) / 16   # 7244.375


def compare_run(*argv):
    """``spikefab compare ARGV`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["compare", *map(str, argv)])
        except SystemExit as leave:
            code = leave.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    code, stdout, stderr = compare_run(*QUICK, "--out", out, "--json")
    assert code == 0, stderr
    assert stderr == ""                          # --json: no progress
    return out, json.loads(stdout)


def copy_of(table, tmp_path):
    out, _ = table
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out"


def test_the_table_holds_every_rule_with_its_engine_and_figures(table):
    out, result = table
    rows = result["rows"]
    assert [(r["dataset"], r["algo"], r["engine"]) for r in rows] == [
        ("digits", "sparse-dfa", "golden"), ("digits", "eggroll", "golden"),
        ("digits", "es", "float")]
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert row["train_samples"] == 60 and row["test_samples"] == 40
        assert row["weight_writes_per_sample"] > 0 and row["wall_s"] > 0
        assert row["rtl_cycles_per_train_sample"] is None
    dfa, eggroll, es = rows
    assert dfa["host_bytes_per_train_sample"] == DFA_DIGITS_BYTES
    assert eggroll["host_bytes_per_train_sample"] == EGGROLL_DIGITS_BYTES
    assert es["host_bytes_per_train_sample"] is None
    assert es["n/a"]["host_bytes_per_train_sample"].startswith("no chip rule")
    assert es["n/a"]["rtl_cycles_per_train_sample"].startswith("no chip rule")
    assert "float" in es["notes"]["weight_writes_per_sample"]
    # Both chip rules have an rtl engine, left unmeasured here.
    for row in (dfa, eggroll):
        assert row["n/a"] == {"rtl_cycles_per_train_sample": "not measured (--rtl-samples 0)"}
    assert result["options"] == {"epochs": 1, "seed": 1, "limit_train": 60,
                                 "limit_test": 40, "rtl_samples": 0}


def test_a_row_is_the_run_spikefab_train_makes(tmp_path, capsys):
    """Same functions, same figures: train --json with the same options (a seed other
    than the config's default initialisation seed)."""
    code, stdout, stderr = compare_run(*QUICK, "--seed", 2, "--out", tmp_path, "--json")
    assert code == 0, stderr
    for algo, row in zip(("sparse-dfa", "eggroll", "es"), json.loads(stdout)["rows"]):
        code, stdout, stderr = run_cli(capsys, "train", "--algo", algo, "--dataset", "digits",
                                       "--limit-train", 60, "--limit-test", 40, "--epochs",
                                       1, "--seed", 2, "--json")
        assert code == 0, stderr
        trained = json.loads(stdout)
        for key in ("engine", "test_accuracy", "train_accuracy",
                    "weight_writes_per_sample", "config_hash"):
            assert row[key] == trained[key], (algo, key)


def test_the_files_are_written(table):
    out, result = table
    assert json.loads((out / "compare.json").read_text()) == result
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "compare.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| digits |")]
    assert len(lines) == 3
    assert lines[0].startswith("| digits | sparse-dfa | golden |")
    assert "| 106.0 |" in lines[0] and "| 7,244.4 |" in lines[1]
    cells = [cell.strip() for cell in lines[2].split("|")]
    assert cells[6].startswith("n/a [") and cells[7].startswith("n/a [")
    assert "no chip rule: full-rank ES is a float reference only" in text
    assert f"{result['rows'][0]['test_accuracy']:.2%}" in lines[0]


def test_a_rerun_skips_finished_rows(table, tmp_path):
    out = copy_of(table, tmp_path)
    _, before = table
    code, stdout, stderr = compare_run(*QUICK, "--out", out)
    assert code == 0, stderr
    assert "3 already in" in stderr and "0 to run" in stderr and "training" not in stderr
    assert "| digits | eggroll | golden |" in stdout
    assert json.loads((out / "compare.json").read_text())["rows"] == before["rows"]
    # A row missing from the table is the only one run again.
    saved = json.loads((out / "compare.json").read_text())
    saved["rows"] = [row for row in saved["rows"] if row["algo"] != "eggroll"]
    (out / "compare.json").write_text(json.dumps(saved))
    code, _, stderr = compare_run(*QUICK, "--out", out)
    assert code == 0, stderr
    assert "1 to run" in stderr and stderr.count("training") == 1
    rows = json.loads((out / "compare.json").read_text())["rows"]
    assert [r["algo"] for r in rows] == ["sparse-dfa", "eggroll", "es"]
    assert rows[0]["wall_s"] == before["rows"][0]["wall_s"]     # not run again
    assert rows[1]["wall_s"] != before["rows"][1]["wall_s"]
    assert rows[1]["test_accuracy"] == before["rows"][1]["test_accuracy"]


def test_ctrl_c_keeps_the_finished_rows(tmp_path, monkeypatch):
    real = compare.train_row

    def stop_at_eggroll(dataset, algo, *args):
        if algo == "eggroll":
            raise KeyboardInterrupt
        return real(dataset, algo, *args)

    monkeypatch.setattr(compare, "train_row", stop_at_eggroll)
    code, _, stderr = compare_run(*QUICK, "--out", tmp_path)
    assert code == 130
    assert stderr.strip().splitlines()[-1] == (
        f"spikefab: interrupted; 1 of 3 rows are in {tmp_path / 'compare.json'} (the same "
        f"command continues)")
    rows = json.loads((tmp_path / "compare.json").read_text())["rows"]
    assert [row["algo"] for row in rows] == ["sparse-dfa"]
    assert "| digits | sparse-dfa |" in (tmp_path / "compare.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--algos", "sparse-dfa,nosuch"], "--algos: unknown 'nosuch'; valid: sparse-dfa, dfa"),
    (["--datasets", "mnist"], "--datasets: unknown 'mnist'; valid: digits, fashion-mnist"),
    (["--datasets", ""], "--datasets takes comma-separated names"),
    (["--algos", "dfa,,es"], "--algos takes comma-separated names"),
    (["--epochs", "0"], "--epochs must be at least 1, not 0"),
    (["--rtl-samples", "-1"], "--rtl-samples must be at least 0, not -1"),
    (["--jobs", "0"], "--jobs must be at least 1, not 0"),
    (["--limit-train", "0"], "--limit-train must be a positive integer, not 0"),
    (["--limit-test", "-3"], "--limit-test must be a positive integer, not -3"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, argv, message):
    out = tmp_path / "out"
    code, stdout, stderr = compare_run(*QUICK, *argv, "--out", out)
    assert_one_line_error(code, stderr, message)
    assert stdout == "" and not out.exists()


def test_an_unwritable_out_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, stderr = compare_run(*QUICK, "--out", blocker)
    assert_one_line_error(code, stderr, f"cannot write to --out {blocker}")
    code, _, stderr = compare_run(*QUICK, "--out", blocker / "below")
    assert_one_line_error(code, stderr, f"cannot write to --out {blocker / 'below'}")


def test_a_table_of_other_options_or_no_table_is_refused(table, tmp_path):
    out = copy_of(table, tmp_path)
    code, _, stderr = compare_run(*QUICK, "--epochs", "2", "--out", out)
    assert_one_line_error(code, stderr, "was made with epochs 1, not 2")
    assert "--fresh" in stderr
    (out / "compare.json").write_text("{")
    code, _, stderr = compare_run(*QUICK, "--out", out)
    assert_one_line_error(code, stderr, "cannot read")
    (out / "compare.json").write_text('{"rows": []}')
    code, _, stderr = compare_run(*QUICK, "--out", out)
    assert_one_line_error(code, stderr, "is not a spikefab compare table")


def test_missing_fashion_mnist_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", str(tmp_path / "none"))
    code, _, stderr = compare_run("--datasets", "digits,fashion-mnist", "--out",
                                  tmp_path / "out")
    assert_one_line_error(code, stderr, "apt-get install dataset-fashion-mnist")
    assert not (tmp_path / "out").exists()


# -- the bytes on the wire --------------------------------------------------------------

def test_dfa_bytes_are_a_train_frame_and_its_reply():
    for name, expected in (("digits", DFA_DIGITS_BYTES), ("mnist", DFA_MNIST_BYTES)):
        config = preset(name)
        for algo in ("sparse-dfa", "dfa"):
            assert host_bytes_per_train_sample(algo, config, config.n_in) == expected
        # The same count from real frames.
        request = request_frame(Op.TRAIN, 7, SAMPLE_REQUEST.pack(mode=0, label=3)
                                + pixel_payload(np.zeros(config.n_in), config))
        reply = encode_frame(SAMPLE_REPLY.pack(status=0, op=Op.TRAIN, seq=7, prediction=1,
                                               counts=[0] * config.n_out, cycles=0, sops=0,
                                               weight_writes=0))
        assert len(request) + len(reply) == expected


def test_event_samples_are_counted_as_their_payload():
    config = preset("saccade")
    rng = np.random.default_rng(1)
    rasters = (rng.random((3, config.timesteps, config.n_in)) < 0.05).astype(np.uint8)
    dataset = Dataset("events", "events", rasters, np.zeros(3, int), rasters[:1],
                      np.zeros(1, int))
    sizes = sample_payload_sizes(dataset)
    assert list(sizes) == [len(event_payload(r)) for r in rasters]
    counted = host_bytes_per_train_sample("sparse-dfa", config, sizes)
    assert counted == np.mean(sizes) + 5 + 2 + 3 + 32


def test_eggroll_bytes_per_generation_over_its_samples():
    config = preset("digits")
    counted = host_bytes_breakdown("eggroll", config, 64)
    assert counted["total"] == EGGROLL_DIGITS_BYTES
    assert counted["to_chip"] == (135 + 64 * 16 * 77 + 39) / 16
    small = config.replace(es_population=4, es_batch=2)     # K = 2
    assert host_bytes_per_train_sample("eggroll", small, 10) == (
        (5 + 2 + 8) + (5 + 3) + 4 * 2 * ((5 + 2 + 6 + 10) + (5 + 27 + 4))
        + (5 + 2 + 2) + (5 + 11)) / 2


@pytest.mark.parametrize("algo", ["es", "bptt"])
def test_float_rules_have_no_chip_bytes(algo):
    with pytest.raises(NotOnChip, match="no chip rule"):
        host_bytes_per_train_sample(algo, preset("digits"), 64)


# -- RTL cycles -------------------------------------------------------------------------

def test_rtl_cycles_follow_algo_engines_and_are_cached(tmp_path, monkeypatch):
    """A rule is measured by simulate() once it has rtl in ALGO_ENGINES, and once."""
    import spikefab.sim.simulate as sim

    calls = []

    def fake_simulate(config, dataset, **options):
        calls.append(options)
        return {"bit_exact": True, "cycles_per_train_sample": 1234.5, "train_samples": 4}

    monkeypatch.setattr(sim, "simulate", fake_simulate)
    config = preset("digits")
    options = {"rtl_samples": 4, "seed": 1}
    args = ("eggroll", config, "digits", options, tmp_path)
    monkeypatch.setitem(train.ALGO_ENGINES, "eggroll", ("golden", "float"))
    assert compare.rtl_cycles(*args)["rtl_cycles_per_train_sample"] is None
    monkeypatch.setitem(train.ALGO_ENGINES, "eggroll", ("golden", "float", "rtl"))
    first = compare.rtl_cycles(*args)
    assert first["rtl_cycles_per_train_sample"] == 1234.5 and len(calls) == 1
    assert calls[0]["limit_train"] == 4 and calls[0]["epochs"] == 1
    assert compare.rtl_cycles(*args)["rtl_cycles_per_train_sample"] == 1234.5
    assert len(calls) == 1                                      # from the cache
    compare.rtl_cycles("eggroll", config, "digits", {"rtl_samples": 5, "seed": 1}, tmp_path)
    assert len(calls) == 2                                      # another run: measured


@pytest.mark.slow
def test_rtl_cycles_of_sparse_dfa_on_digits(tmp_path):
    config = compare.row_config("digits", "sparse-dfa", 1)
    measured = compare.rtl_cycles("sparse-dfa", config, "digits",
                                  {"rtl_samples": 4, "seed": 1}, tmp_path,
                                  build_root=ROOT / "build" / "sim")
    cycles = measured["rtl_cycles_per_train_sample"]
    assert measured["n/a"] == {} and measured["rtl_samples"] == 4
    # A digits training sample takes some 25,000 cycles at P = 2.
    assert 15_000 < cycles < 40_000
    assert len(list((tmp_path / "rtl").glob("digits-sparse-dfa-*.json"))) == 1


def test_rows_trained_in_parallel_equal_the_rows_trained_in_turn(table, tmp_path):
    """--jobs 3: every row from its own process, the same figures as one at a time."""
    _, serial = table
    code, stdout, stderr = compare_run(*QUICK, "--jobs", 3, "--out", tmp_path, "--json")
    assert code == 0, stderr
    parallel = json.loads(stdout)
    drop = ("wall_s",)
    assert [{k: v for k, v in row.items() if k not in drop} for row in parallel["rows"]] \
        == [{k: v for k, v in row.items() if k not in drop} for row in serial["rows"]]


def test_the_evolution_strategies_train_fashion_mnist_with_their_preset():
    assert compare.row_config("fashion-mnist", "eggroll", 1).name == "mnist-es"
    assert compare.row_config("fashion-mnist", "es", 1).name == "mnist-es"
    assert compare.row_config("fashion-mnist", "sparse-dfa", 1).name == "mnist"
    assert compare.row_config("digits", "eggroll", 1).name == "digits"
