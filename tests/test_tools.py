"""The progress bar and the benchmark harness (on tiny sizes, so they do not rot)."""

import io

import pytest

from spikefab.progress import Progress


def test_progress_is_silent_for_short_runs():
    stream = io.StringIO()
    with Progress(10, "x", stream=stream, delay=60) as bar:
        for _ in range(10):
            bar.advance()
    assert stream.getvalue() == ""


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
