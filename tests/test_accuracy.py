"""The accuracy claims of the README's "Accuracy" table on the embedded digits set (a few
seconds each).

Five seeds are averaged: single runs of a 359-image test set move by a point.
"""

import numpy as np
import pytest

from spikefab.config import preset
from spikefab.golden.datasets import load_dataset
from spikefab.train import algo_config, make_model, run_training

SEEDS = (1, 2, 3, 4, 5)


def train(engine, algo, seed):
    config = algo_config(preset("digits"), algo).replace(init_seed=seed)
    model = make_model(engine, config)
    return run_training(model, load_dataset("digits", config), epochs=20, seed=seed,
                        progress=False, eval_each_epoch=False)


@pytest.fixture(scope="module")
def runs():
    return {(engine, algo): [train(engine, algo, seed) for seed in SEEDS]
            for engine in ("golden", "float") for algo in ("sparse-dfa", "dfa")}


def mean(results, key):
    return float(np.mean([r[key] for r in results]))


def test_default_run_reaches_95_percent(runs):
    assert runs["golden", "sparse-dfa"][0]["test_accuracy"] >= 0.95
    assert min(r["test_accuracy"] for r in runs["golden", "sparse-dfa"]) >= 0.95


def test_golden_within_one_point_of_float(runs):
    for algo in ("sparse-dfa", "dfa"):
        gap = mean(runs["float", algo], "test_accuracy") - \
            mean(runs["golden", algo], "test_accuracy")
        assert gap <= 0.01, (algo, gap)


def test_sparse_dfa_beats_dense_with_fewer_writes(runs):
    sparse, dense = runs["golden", "sparse-dfa"], runs["golden", "dfa"]
    assert mean(sparse, "test_accuracy") >= mean(dense, "test_accuracy")
    assert mean(sparse, "weight_writes_per_sample") < mean(dense, "weight_writes_per_sample")
