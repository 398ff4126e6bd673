"""The progress bar and the benchmark harness (on tiny sizes, so they do not rot)."""

import io
import time

import pytest

from spikefab.progress import Progress


def test_progress_is_silent_for_short_runs():
    stream = io.StringIO()
    with Progress(10, "x", stream=stream, delay=60, since=time.monotonic()) as bar:
        for _ in range(10):
            bar.advance()
    assert stream.getvalue() == ""


def test_short_bars_of_a_long_run_draw_once_the_run_has_lasted_the_delay():
    """Epochs of a fraction of a second: the delay counts from the run's start."""
    stream = io.StringIO()
    with Progress(3, "epoch 7/9", stream=stream, delay=1, interval=0,
                  since=time.monotonic() - 5) as bar:
        bar.advance(3)
    assert "epoch 7/9" in stream.getvalue()


def test_progress_draws_after_the_delay():
    stream = io.StringIO()
    with Progress(4, "epoch 1/1", stream=stream, delay=0, interval=0) as bar:
        for _ in range(4):
            bar.advance()
    text = stream.getvalue()
    assert "epoch 1/1" in text and "4/4" in text and text.endswith("\n")


def test_progress_disabled_draws_nothing():
    stream = io.StringIO()
    with Progress(4, "x", stream=stream, delay=0, enabled=False) as bar:
        bar.advance(4)
    assert stream.getvalue() == ""


def test_bench_golden_reports_both_engines():
    from spikefab.bench import bench_golden
    result = bench_golden("digits", 40)
    assert result["samples"] == 40
    for engine in ("golden", "float"):
        assert result[engine]["train_samples_per_s"] > 0
        assert result[engine]["infer_samples_per_s"] > 0


def test_bench_torch_loop_runs():
    pytest.importorskip("torch")
    import numpy as np
    from spikefab.bench import bench_torch
    from spikefab.config import preset
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (128, 784))
    labels = rng.integers(0, 10, 128)
    result = bench_torch(preset("mnist"), images, labels, batch=32, batches=4)
    assert result["train_samples_per_s"] > 0 and result["batch"] == 32


def test_bench_accuracy_runs_every_seed_and_reports_their_mean():
    import numpy as np
    from spikefab.bench import bench_accuracy
    from spikefab.golden.datasets import Dataset
    rng = np.random.default_rng(0)
    tiny = Dataset("fashion-mnist", "pixels", rng.integers(0, 256, (12, 784), dtype=np.uint8),
                   rng.integers(0, 10, 12), rng.integers(0, 256, (6, 784), dtype=np.uint8),
                   rng.integers(0, 10, 6))
    result = bench_accuracy(1, (tiny, "fashion-mnist"), seeds=(1, 2))
    golden = [r for r in result["runs"] if r["engine"] == "golden"]
    assert sorted((r["algo"], r["seed"]) for r in golden) == \
        [("dfa", 1), ("dfa", 2), ("sparse-dfa", 1), ("sparse-dfa", 2)]
    assert [r["seed"] for r in result["runs"] if r["engine"] == "float"] == [1, 1]
    sparse = [r["test_accuracy"] for r in golden if r["algo"] == "sparse-dfa"]
    assert result["golden_mean"]["sparse-dfa"]["test_accuracy"] == pytest.approx(np.mean(sparse))


def test_bench_refuses_seeds_that_are_not_integers(capsys):
    from spikefab.bench import main
    with pytest.raises(SystemExit) as exit_:
        main(["--accuracy-seeds", "1,two"])
    assert exit_.value.code == 2
    assert "seeds are integers separated by commas, not '1,two'" in capsys.readouterr().err
