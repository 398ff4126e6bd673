"""Plots (spikefab.plots) drawn from small real reports: `train --plots`, `spikefab plot`,
make bench's accuracy report; the report's confusion counts and raster checked against
golden; bad input refused in one line."""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from spikefab.checkpoint import load_checkpoint
from spikefab.cli import main
from spikefab.config import preset
from spikefab.golden.datasets import DatasetError, load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.plots import PLOT_FILES, training_runs, write_plots

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN = ["train", "--limit-train", "80", "--limit-test", "45", "--epochs", "2", "--json"]


def png_size(path):
    """(width, height) from a PNG's IHDR, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(path):
    """A valid PNG of a real figure: a reasonable size, and not blank (many shades)."""
    import matplotlib.image

    width, height = png_size(path)
    assert width >= 500 and height >= 400, (path, width, height)
    assert path.stat().st_size > 15_000, path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    shades = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(shades) > 50, f"{path} is nearly blank ({len(shades)} colours)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small golden run with --plots and --save: (plots folder, checkpoint)."""
    folder = tmp_path_factory.mktemp("plots")
    checkpoint = folder / "run.npz"
    assert main([*RUN, "--plots", str(folder / "out"), "--save", str(checkpoint)]) == 0
    return folder / "out", checkpoint


def test_train_plots_writes_the_report_and_every_png(trained):
    out, _ = trained
    report = json.loads((out / "report.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(["report.json",
                                                             *PLOT_FILES.values()])
    for name in PLOT_FILES.values():
        check_png(out / name)
    assert [entry["epoch"] for entry in report["history"]] == [1, 2]


def test_the_confusion_counts_are_the_test_splits_decisions(trained):
    out, _ = trained
    report = json.loads((out / "report.json").read_text())
    matrix = np.array(report["confusion"])
    assert matrix.shape == (10, 10)
    assert matrix.sum() == report["test_samples"] == 45
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["test_accuracy"])
    labels = load_dataset("digits", preset("digits")).limit(80, 45).y_test
    assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=10).tolist()


def test_the_raster_is_goldens_run_of_the_first_test_sample(trained):
    out, checkpoint = trained
    raster = json.loads((out / "report.json").read_text())["raster"]
    config, weights, _, _ = load_checkpoint(checkpoint)
    dataset = load_dataset("digits", config).limit(80, 45)
    net = GoldenNet(config, weights)
    result = net.forward(encode(dataset.x_test[:1], config)[0])
    assert raster["sizes"] == [64, 128, 10]
    assert raster["label"] == int(dataset.y_test[0])
    assert raster["prediction"] == result.prediction
    for layer, counts in zip(raster["layers"], result.counts):
        assert len(layer) == config.timesteps
        fired = np.bincount([n for step in layer for n in step], minlength=len(counts))
        assert fired.tolist() == counts.tolist()


def test_plot_redraws_the_same_pngs_from_the_report(trained, tmp_path, capsys):
    out, _ = trained
    assert main(["plot", str(out / "report.json"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / name) for name in PLOT_FILES.values()]
    for name in PLOT_FILES.values():
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_bench_accuracy_report_is_drawn_with_every_run(tmp_path):
    from spikefab.bench import bench_accuracy

    try:
        dataset = load_dataset("fashion-mnist", preset("mnist")).limit(60, 30)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not installed")
    report = bench_accuracy(1, (dataset, "fashion-mnist"), seeds=(1,))
    assert len(training_runs(report)) == 4           # sparse and dense, golden and float
    assert np.sum(report["confusion"]) == 30
    written = write_plots(report, tmp_path, prefix="accuracy-")
    assert [p.name for p in written] == [f"accuracy-{n}" for n in PLOT_FILES.values()]
    for path in written:
        check_png(path)


def run_cli(capsys, *args):
    """``spikefab ARGS`` in this process: (status, stdout, stderr)."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_error(stderr, *words):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikefab: error: "), stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_plot_refuses_bad_reports_in_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"dataset": "digits"}))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"confusion": [[1, 2], [3]]}))
    outside = tmp_path / "outside.json"         # a spike of neuron 5 in a layer of 2
    outside.write_text(json.dumps({"raster": {"test_index": 0, "label": 0, "prediction": 0,
                                              "sizes": [2, 2], "layers": [[[5]], [[0]]]}}))
    for path, word in ((missing, "cannot read"), (garbage, "not JSON"),
                       (empty, "nothing to plot"), (broken, "confusion must be"),
                       (outside, "raster: every layer")):
        status, out, err = run_cli(capsys, "plot", str(path))
        assert status == 2 and out == ""
        one_error(err, str(path), word)      # every message names the report
    assert not list(tmp_path.glob("*.png"))


def test_train_plots_into_a_file_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, out, err = run_cli(capsys, *RUN, "--plots", str(blocker / "plots"))
    assert status == 2 and out == ""
    one_error(err, "not a folder")


def test_train_plots_with_an_empty_folder_name_is_refused(capsys):
    status, out, err = run_cli(capsys, *RUN, "--plots", "")
    assert status == 2 and out == ""
    one_error(err, "--plots needs a folder name")


def test_without_matplotlib_plots_are_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # how Python marks it missing
    status, out, err = run_cli(capsys, *RUN, "--plots", str(tmp_path / "p"))
    assert status == 2 and out == "" and not (tmp_path / "p").exists()
    one_error(err, "matplotlib", "pip install")
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"confusion": [[1]]}))
    status, _, err = run_cli(capsys, "plot", str(report))
    assert status == 2
    one_error(err, "matplotlib")
