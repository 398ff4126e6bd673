"""``spikefab sweep``: the same table from the process pool and from Ray, in grid order;
grids refused before any work; a continued sweep runs only what its table lacks; the
Pareto fronts of a hand-made table."""

import contextlib
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest

import spikefab.cli as cli
import spikefab.sweep
from spikefab.config import preset
from spikefab.golden.datasets import load_dataset
from spikefab.pareto import pareto_front, sweep_fronts
from spikefab.sweep_grid import make_grid, parse_grid_options, read_grid_file
from spikefab.sweep_point import yosys_luts
from spikefab.sweep_table import (SweepError, comparable, read_table, reusable_rows,
                                  TIMING_COLUMNS)
from spikefab.train import make_model, run_training

from test_checkpoint import assert_one_line_error, run_cli

# The module fixture runs the pool's sweep once: one xdist worker runs the whole file.
pytestmark = pytest.mark.xdist_group("test_sweep")

# Four points; the continued sweep below runs its missing second point last, so a table
# in completion order would differ from the grid's order there.
GRID = ["--grid", "hidden=64,8", "--grid", "k_fb=1,4"]
QUICK = ["--limit-train", "120", "--limit-test", "60", "--epochs", "1"]
LABELS = ["hidden=64 k_fb=1 icebreaker", "hidden=64 k_fb=4 icebreaker",
          "hidden=8 k_fb=1 icebreaker", "hidden=8 k_fb=4 icebreaker"]


def sweep(capsys, out, *args):
    return run_cli(capsys, "sweep", *GRID, *QUICK, "--out", out, *args)


@pytest.fixture(scope="module")
def pool_table(tmp_path_factory):
    """A 4-point sweep on a pool of two workers: (folder, printed JSON)."""
    out = tmp_path_factory.mktemp("pool")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["sweep", *GRID, *QUICK, "--out", str(out), "--jobs", "2", "--json"])
    assert code == 0, stderr.getvalue()
    assert stderr.getvalue() == ""          # --json: no progress
    return out, json.loads(stdout.getvalue())


def test_pool_table_in_grid_order_with_golden_figures(pool_table):
    out, printed = pool_table
    table = read_table(out)
    rows = table["rows"]
    assert [(r["hidden"], r["k_fb"], r["board"]) for r in rows] == \
        [([64], 1, "icebreaker"), ([64], 4, "icebreaker"), ([8], 1, "icebreaker"),
         ([8], 4, "icebreaker")]
    assert printed["rows"] == rows and printed["ran"] == 4 and printed["reused"] == 0
    # A point's figures are golden's own: train the third point here and compare.
    config = preset("digits").replace(hidden=(8,), k_fb=1)
    dataset = load_dataset("digits", config).limit(120, 60)
    figures = run_training(make_model("golden", config), dataset, epochs=1, seed=1,
                           progress=False, eval_each_epoch=False)
    assert rows[2]["config_hash"] == config.hash()
    assert rows[2]["test_accuracy"] == figures["test_accuracy"]
    assert rows[2]["weight_writes_per_sample"] == figures["weight_writes_per_sample"]
    # Samples/s at the iCEBreaker's 30 MHz from the modelled cycles.
    assert rows[2]["clock_mhz"] == 30.0
    assert rows[2]["train_samples_per_s"] == pytest.approx(30e6 /
                                                           rows[2]["cycles_per_train_sample"])
    # The wider network needs more cycles per sample.
    assert rows[0]["cycles_per_train_sample"] > rows[2]["cycles_per_train_sample"]


def test_csv_holds_the_json_rows_and_no_temporary_file_is_left(pool_table):
    out, _ = pool_table
    rows = read_table(out)["rows"]
    with open(out / "sweep.csv") as file:
        lines = list(csv.DictReader(file))
    assert [line["hidden"] for line in lines] == ["64", "64", "8", "8"]
    assert [float(line["test_accuracy"]) for line in lines] == \
        [row["test_accuracy"] for row in rows]
    assert sorted(p.name for p in out.iterdir()) == ["pareto.png", "sweep.csv", "sweep.json"]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ray_gives_the_pool_table(pool_table, tmp_path, capsys):
    out, printed = pool_table
    code, stdout, err = sweep(capsys, tmp_path, "--ray", "local", "--jobs", "2", "--json")
    assert code == 0, err
    ray_run = json.loads(stdout)
    assert ray_run["executor"] == "local Ray, 2 CPUs"
    assert printed["executor"] == "pool of 2 workers"
    assert comparable(read_table(tmp_path)["rows"]) == comparable(read_table(out)["rows"])
    assert ray_run["pareto"] == printed["pareto"]
    assert all(row["wall_s"] > 0 for row in ray_run["rows"])


def test_continued_sweep_runs_only_missing_points(pool_table, tmp_path, capsys):
    out, _ = pool_table
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    table = json.loads((tmp_path / "sweep.json").read_text())
    lost = table["rows"].pop(1)             # as if interrupted before its point finished
    (tmp_path / "sweep.json").write_text(json.dumps(table))
    code, stdout, err = sweep(capsys, tmp_path, "--jobs", "1")
    assert code == 0, err
    assert "sweep: 4 points, 3 already in the table, 1 to run (pool of 1 worker)" in err
    assert "sweep: 4/4 points done (3 from the table)" in err
    assert "4 points (3 from the table)" in stdout
    rows = read_table(tmp_path)["rows"]
    assert [r["config_hash"] for r in rows] == [r["config_hash"] for r in read_table(out)["rows"]]
    kept = [r for i, r in enumerate(read_table(out)["rows"]) if i != 1]
    assert [r for i, r in enumerate(rows) if i != 1] == kept      # timings too: not rerun
    assert comparable([rows[1]]) == comparable([lost])
    assert rows[1]["wall_s"] != lost["wall_s"]


def test_continued_sweep_refuses_other_options_or_a_smaller_grid(pool_table, capsys):
    out, _ = pool_table
    before = (out / "sweep.json").read_bytes()
    code, _, err = run_cli(capsys, "sweep", *GRID, "--limit-train", "120", "--limit-test",
                           "60", "--epochs", "2", "--out", out)
    assert_one_line_error(code, err, "made with epochs=1, not 2")
    code, _, err = run_cli(capsys, "sweep", "--grid", "hidden=64", "--grid", "k_fb=1,4",
                           *QUICK, "--out", out)
    assert_one_line_error(code, err, "holds 2 point(s) outside this grid (the first: "
                                     "hidden=8 k_fb=1 icebreaker")
    assert (out / "sweep.json").read_bytes() == before


def test_a_row_lacking_a_stage_is_run_again():
    grid = make_grid(preset("digits"), parse_grid_options(["k_fb=1,2"]), ("icebreaker",))
    options = {"dataset": "digits", "epochs": 1}
    rows = [{"board": "icebreaker", "config_hash": p.config.hash(), "test_accuracy": 0.5}
            for p in grid.points]
    rows[1]["synth_luts"] = 4000
    table = {"options": options, "rows": rows}
    assert len(reusable_rows(table, options, grid, ["train"])) == 2
    assert list(reusable_rows(table, options, grid, ["train", "synth"])) == \
        [grid.points[1].key]


# -- refused before any work ---------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the sweep started before the error was found")
    monkeypatch.setattr(spikefab.sweep, "run_sweep", refuse)


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("args, message", [
    (["--grid", "kfb=1,2"], "'kfb' is not a config field a sweep can vary (did you mean k_fb?)"),
    (["--grid", "name=a,b"], "a config's name is informative only"),
    (["--grid", "k_fb"], "--grid k_fb: write FIELD=VALUE"),
    (["--grid", "k_fb=1,two"], "k_fb value 'two' is not an integer"),
    (["--grid", "hidden=64x3y"], "hidden value '64x3y' is not integers joined by 'x'"),
    (["--grid", "k_fb=1,1"], "k_fb value 1 given twice"),
    (["--grid", "k_fb=1", "--grid", "k_fb=2"], "k_fb given twice"),
    (["--grid", "k_fb=1,11"], "grid point k_fb=11: k_fb must be at most 10, not 11"),
    (["--grid", "hidden=64,32x32"], "grid point hidden=32x32: init_range must have one "
                                    "entry per weight layer (3), not 2"),
    (["--grid", "rounding=nearest,up"], "grid point rounding=up: rounding must be one of"),
    (["--board", "icebreaker,de10"], "unknown board 'de10'; valid boards: icebreaker, ulx3s"),
    (["--board", ""], "unknown board ''; valid boards: icebreaker, ulx3s"),
    (["--config", "mnist"], "dataset digits has 64 inputs but config mnist expects "
                            "n_in=784"),
    (["--grid", "n_in=64,100"], "dataset digits has 64 inputs but config digits expects "
                                "n_in=100"),
    (["--jobs", "0"], "--jobs must be at least 1, not 0"),
    (["--limit-train", "0"], "--limit-train must be a positive integer, not 0"),
])
def test_bad_command_lines_are_refused(capsys, tmp_path, no_work, args, message):
    code, _, err = run_cli(capsys, "sweep", *args, "--out", tmp_path / "out")
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, text, message", [
    ("g.json", "{\"k_fb\": [1, 2", "is not valid JSON"),
    ("g.toml", "k_fb = [1, 2", "is not valid TOML"),
    ("g.json", "[1, 2]", "must hold one object of field: [values]"),
    ("g.json", "{\"k_fb\": [1, \"2\"]}", "k_fb value '2' is not an integer"),
    ("g.json", "{\"reset\": [\"zero\", 1]}", "reset value 1 is not a string"),
    ("g.toml", "hidden = [[64, 32], \"x\"]", "hidden value 'x' is not a list of integers"),
    ("g.json", "{\"timesteps\": [8]}", "grid point k_fb=1 timesteps=8: target_count "
                                        "must be at most 8, not 12"),
    ("g.json", "{\"k_fb\": [2]}", "k_fb is given by both --grid and"),
    ("g.json", "{\"board\": [\"ulx3s\"]}", "the boards are given by both --board and"),
])
def test_bad_grid_files_are_refused(capsys, tmp_path, no_work, name, text, message):
    grid = write(tmp_path / name, text)
    code, _, err = run_cli(capsys, "sweep", "--grid-file", grid, "--grid", "k_fb=1",
                           "--board", "icebreaker", "--out", tmp_path / "out")
    assert_one_line_error(code, err, message)


def test_an_unreachable_ray_address_is_refused_at_once(capsys, tmp_path):
    # Port 1 on this machine answers nothing: one line, not minutes of Ray's retries.
    code, _, err = run_cli(capsys, "sweep", "--grid", "k_fb=1", *QUICK, "--ray",
                           "127.0.0.1:1", "--out", tmp_path / "out")
    assert_one_line_error(code, err, "cannot reach Ray at '127.0.0.1:1'")


def test_missing_grid_file_and_unwritable_out(capsys, tmp_path, no_work):
    code, _, err = run_cli(capsys, "sweep", "--grid-file", tmp_path / "none.toml")
    assert_one_line_error(code, err, "cannot read grid file")
    blocker = write(tmp_path / "file", "")
    code, _, err = run_cli(capsys, "sweep", "--out", blocker / "sub")
    assert_one_line_error(code, err, "cannot write to --out")


def test_a_toml_grid_file_with_tuples_and_boards():
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "g.toml", "hidden = [[64, 32], 128]\nboard = "
                                              "[\"ulx3s\", \"icebreaker\"]\n")
        axes, boards = read_grid_file(path)
    grid = make_grid(preset("digits").replace(hidden=(8, 8), init_range=(32, 48, 48)),
                     {"hidden": axes["hidden"][:1]}, boards)
    assert axes == {"hidden": ((64, 32), (128,))} and boards == ("ulx3s", "icebreaker")
    assert [p.label() for p in grid.points] == ["hidden=64x32 ulx3s",
                                                "hidden=64x32 icebreaker"]
    assert len({p.key for p in grid.points}) == 2 and len(grid.configs()) == 1


# -- Pareto fronts -------------------------------------------------------------------------

def test_pareto_front_of_a_hand_made_table():
    rows = [
        {"test_accuracy": 0.90, "luts": 5000},   # 0: dominated by 2
        {"test_accuracy": 0.95, "luts": 6000},   # 1: most accurate
        {"test_accuracy": 0.92, "luts": 4000},   # 2: front
        {"test_accuracy": 0.80, "luts": 2000},   # 3: smallest
        {"test_accuracy": 0.92, "luts": 4000},   # 4: equal to 2: both on the front
        {"test_accuracy": 0.80, "luts": 2500},   # 5: dominated by 3 (equal accuracy)
        {"test_accuracy": 0.99},                 # 6: no LUTs: left out
    ]
    assert pareto_front(rows, {"test_accuracy": "max", "luts": "min"}) == [1, 2, 3, 4]
    # More LUTs better (a throughput-like axis): the front turns over.
    assert pareto_front(rows, {"test_accuracy": "max", "luts": "max"}) == [1]
    with pytest.raises(ValueError):
        pareto_front(rows, {"luts": "less"})


def test_sweep_fronts_pick_the_placed_figures_when_every_row_has_them():
    rows = [{"test_accuracy": 0.9, "synth_luts": 100, "pnr_luts": 300,
             "train_samples_per_s": 10.0, "train_samples_per_s_fmax": 30.0},
            {"test_accuracy": 0.8, "synth_luts": 90, "pnr_luts": 310,
             "train_samples_per_s": 20.0, "train_samples_per_s_fmax": 25.0}]
    fronts = sweep_fronts(rows)
    assert fronts["luts"] == {"x": "pnr_luts", "goal": "min", "front": [0]}
    assert fronts["speed"] == {"x": "train_samples_per_s_fmax", "goal": "max", "front": [0]}
    del rows[1]["pnr_luts"], rows[1]["train_samples_per_s_fmax"]
    fronts = sweep_fronts(rows)
    assert fronts["luts"]["x"] == "synth_luts" and fronts["luts"]["front"] == [0, 1]
    assert fronts["speed"]["front"] == [0, 1]
    assert "luts" not in sweep_fronts([{"test_accuracy": 1.0, "train_samples_per_s": 1.0}])


def test_yosys_luts_counts_the_lut_cells_of_both_families():
    assert yosys_luts({"SB_LUT4": 3000, "SB_DFFE": 900, "SB_CARRY": 200}) == 3000
    assert yosys_luts({"LUT4": 2500, "CCU2C": 300, "TRELLIS_FF": 800}) == 2500


def test_timing_columns_are_the_only_ones_left_out():
    row = {"test_accuracy": 0.5, **{c: 1.0 for c in TIMING_COLUMNS}}
    assert comparable([row]) == [{"test_accuracy": 0.5}]


@pytest.mark.slow
def test_synth_sweep_reports_yosys_luts(tmp_path, capsys):
    """One digits point through Yosys on the iCEBreaker (~30 s)."""
    code, stdout, err = run_cli(capsys, "sweep", *QUICK, "--synth", "--out", tmp_path,
                                "--json")
    assert code == 0, err
    row = json.loads(stdout)["rows"][0]
    assert 2000 < row["synth_luts"] < 5280 and row["synth_ffs"] > 1000
    assert json.loads(stdout)["pareto"]["luts"]["x"] == "synth_luts"
