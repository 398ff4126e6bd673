"""Long runs for ``make bench`` / ``make test-slow``: the mnist preset on Fashion-MNIST.

These pin today's figures as floors (see the issue notes for the gap to SPEC §7's 88 %).
"""

import pytest

from spikefab.config import preset
from spikefab.golden.datasets import DatasetError, load_dataset
from spikefab.train import algo_config, make_model, run_training

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion():
    try:
        return load_dataset("fashion-mnist", preset("mnist"))
    except DatasetError as error:
        pytest.skip(str(error))


def train(fashion, engine, algo, epochs=3):
    config = algo_config(preset("mnist"), algo)
    return run_training(make_model(engine, config), fashion, epochs=epochs, seed=1,
                        progress=False, eval_each_epoch=False)


def test_sparse_dfa_golden_learns_fashion_mnist(fashion):
    result = train(fashion, "golden", "sparse-dfa")
    assert result["test_accuracy"] >= 0.75
    dense = train(fashion, "golden", "dfa")
    assert result["weight_writes_per_sample"] * 3 < dense["weight_writes_per_sample"]


def test_float_reference_learns_fashion_mnist(fashion):
    assert train(fashion, "float", "sparse-dfa")["test_accuracy"] >= 0.80
