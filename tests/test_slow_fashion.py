"""Long runs for ``make bench`` / ``make test-slow``: the mnist preset on Fashion-MNIST.

Four epochs of the full set per run (about a minute each). They hold the README's
accuracy claims for the preset, as floors: golden within one point of float for the same
rule (stochastic rounding is what makes that true), and sparse DFA as accurate as dense
DFA with fewer weight writes. ``make bench`` records the longer runs in
``build/bench/accuracy.json``.
"""

import pytest

from spikefab.config import preset
from spikefab.golden.datasets import DatasetError, load_dataset
from spikefab.train import algo_config, make_model, run_training

pytestmark = pytest.mark.slow

EPOCHS = 4


@pytest.fixture(scope="module")
def fashion():
    try:
        return load_dataset("fashion-mnist", preset("mnist"))
    except DatasetError as error:
        pytest.skip(str(error))


def train(fashion, engine, algo, config=None):
    config = algo_config(config or preset("mnist"), algo)
    return run_training(make_model(engine, config), fashion, epochs=EPOCHS, seed=1,
                        progress=False, eval_each_epoch=False)


@pytest.fixture(scope="module")
def sparse_golden(fashion):
    return train(fashion, "golden", "sparse-dfa")


def test_sparse_dfa_golden_is_within_a_point_of_float(fashion, sparse_golden):
    reference = train(fashion, "float", "sparse-dfa")
    assert sparse_golden["test_accuracy"] >= 0.85
    assert sparse_golden["test_accuracy"] >= reference["test_accuracy"] - 0.01


def test_sparse_dfa_writes_fewer_weights_than_dense(fashion, sparse_golden):
    dense = train(fashion, "golden", "dfa")
    assert sparse_golden["weight_writes_per_sample"] < 0.8 * dense["weight_writes_per_sample"]
    assert sparse_golden["test_accuracy"] >= dense["test_accuracy"] - 0.01


def test_round_to_nearest_loses_what_stochastic_rounding_keeps(fashion, sparse_golden):
    nearest = train(fashion, "golden", "sparse-dfa", preset("mnist").replace(rounding="nearest"))
    assert nearest["test_accuracy"] < sparse_golden["test_accuracy"] - 0.03
