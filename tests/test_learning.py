"""Hand-computed learning steps, then golden == slow reference on random configs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import (RoundingGenerator, apply_update, feedback_table,
                                      hidden_signal, learning_signals, output_error,
                                      round_shift)
from spikefab.golden.network import GoldenNet, decide

from conftest import random_configs, small_config
from reference import reference_train


def test_round_shift_is_half_away_from_zero():
    assert [round_shift(x, 2) for x in (-6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6)] == \
        [-2, -1, -1, -1, 0, 0, 0, 1, 1, 1, 2]
    assert round_shift(-7, 0) == -7


def test_output_error_and_clip():
    config = small_config(target_count=6)
    assert list(output_error(config, [2, 5, 0], 1)) == [2, -1, 0]
    clipped = small_config(target_count=6, error_clip=1)
    assert list(output_error(clipped, [3, 0, 0], 1)) == [1, -1, 0]


def test_margin_skips_the_update():
    config = small_config(target_count=6, margin=2)
    net = GoldenNet(config)
    error, signals = learning_signals(config, net.feedback, [None, None, np.array([1, 5, 2])], 1)
    assert list(error) == [1, -1, 2] and signals is None
    error, signals = learning_signals(config, net.feedback, [None, np.zeros(5, int),
                                                             np.array([3, 5, 2])], 1)
    assert signals is not None


def test_feedback_table_sparse_is_balanced_and_signed():
    config = small_config(hidden=(12,), n_out=3, k_fb=2)
    (index, sign), = feedback_table(config)
    assert index.shape == sign.shape == (12, 2)
    assert list(index[:, 0]) == [j % 3 for j in range(12)]
    assert all(index[j, 0] != index[j, 1] for j in range(12))
    assert set(np.unique(sign)) <= {-1, 1} and len(np.unique(sign)) == 2


def test_feedback_table_dense_sees_every_output():
    config = small_config(hidden=(4, 3), k_fb=3)
    tables = feedback_table(config)
    assert [t[0].shape for t in tables] == [(4, 3), (3, 3)]
    for index, _ in tables:
        assert all(sorted(row) == [0, 1, 2] for row in index)


def test_hidden_signal_gate_and_feedback():
    config = small_config(k_fb=2, gate_lo=1, gate_hi=5)
    index = np.array([[0, 1], [2, 0], [1, 2]])
    sign = np.array([[1, -1], [-1, -1], [1, 1]])
    error = np.array([3, -6, 2])
    counts = np.array([2, 0, 6])   # neuron 1 silent, neuron 2 saturated: gated off
    assert list(hidden_signal(config, (index, sign), error, counts)) == [9, 0, 0]


def test_apply_update_hand_computed():
    weights = np.array([[10, 127], [-128, 0]], dtype=np.int16)
    pre = np.array([3, 2])
    post = np.array([5, -2])
    # Δ = -sign(p)·((|p|·a + 2) >> 2):  (i0,j0) -((15 + 2) >> 2) = -4;
    #   (i0,j1) +((6 + 2) >> 2) = +2, but 127 is the rail: no write;
    #   (i1,j0) -((10 + 2) >> 2) = -3 → -131 saturates at -128: no write;
    #   (i1,j1) +((4 + 2) >> 2) = +1
    writes = apply_update(weights, pre, post, 2, -128, 127)
    assert weights.tolist() == [[6, 127], [-128, 1]]
    assert writes == 2


def test_apply_update_skips_zero_changes():
    weights = np.zeros((2, 2), dtype=np.int16)
    # |p|·a = 1: (1 + 4) >> 3 = 0, nothing written
    assert apply_update(weights, np.array([1, 0]), np.array([1, 0]), 3, -128, 127) == 0
    assert not weights.any()


def test_stochastic_rounding_hand_computed():
    rounding = RoundingGenerator(small_config(rounding="stochastic", rounding_seed=1))
    weights = np.array([[10, 20], [30, 40]], dtype=np.int16)
    # Row 0 is silent: no draw. Row 1 draws xorshift32(1) = 270369, R = 270369 >> 16 = 4;
    # dither u_j = R + j·0x9E37: 4 and 40507; offsets u >> (16 - 2): 0 and 2.
    #   (i1,j0) -((5·3 + 0) >> 2) = -3;   (i1,j1) +((2·3 + 2) >> 2) = +2
    writes = apply_update(weights, np.array([0, 3]), np.array([5, -2]), 2, -128, 127, rounding)
    assert weights.tolist() == [[10, 20], [27, 42]]
    assert writes == 2 and rounding.state[0] == 270369
    rounding.reseed()
    assert rounding.state[0] == 1


def test_stochastic_rounding_is_unbiased():
    # A change of 3/16 per sample is never made by round-to-nearest; stochastic rounding
    # makes it in 3 samples of 16 on average.
    rounding = RoundingGenerator(small_config(rounding="stochastic"))
    made = 0
    for _ in range(4096):
        weights = np.zeros((1, 1), dtype=np.int16)
        made += apply_update(weights, np.array([3]), np.array([-1]), 4, -128, 127, rounding)
        assert weights[0, 0] in (0, 1)
    assert abs(made / 4096 - 3 / 16) < 0.01
    weights = np.zeros((1, 1), dtype=np.int16)
    assert apply_update(weights, np.array([3]), np.array([-1]), 4, -128, 127) == 0


def test_decision_tie_goes_to_lowest_index():
    assert decide(np.array([3, 5, 5, 1])) == 1
    assert decide(np.zeros(4)) == 0


def test_train_rejects_bad_label_and_raster(tiny):
    net = GoldenNet(tiny)
    with pytest.raises(ValueError, match="label must lie in 0 … 2"):
        net.train(np.zeros((6, 6)), 3)
    with pytest.raises(ValueError, match=r"raster must have shape \(6, 6\)"):
        net.forward(np.zeros((5, 6)))


def test_weights_of_wrong_shape_or_range_are_refused(tiny):
    with pytest.raises(ValueError, match="shape"):
        GoldenNet(tiny, [np.zeros((6, 4)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="outside w_bits=8"):
        GoldenNet(tiny, [np.full((6, 5), 200), np.zeros((5, 3))])


def test_all_ones_input_saturates_without_overflow():
    config = small_config(init_range=(127, 127), threshold=2047, leak_shift=11)
    net = GoldenNet(config, [np.full((6, 5), 127), np.full((5, 3), -128)])
    result = net.forward(np.ones((6, 6), np.uint8))
    # 762, 1524, 2286 → saturates at 2047 and fires (→ 0); again at step 6: 2 spikes
    assert list(result.counts[1]) == [2] * 5
    assert list(result.counts[2]) == [0, 0, 0]


@settings(max_examples=80, deadline=None)
@given(config=random_configs(), seed=st.integers(0, 2**32 - 1),
       density=st.floats(0.0, 1.0))
def test_golden_training_equals_reference(config, seed, density):
    rng = np.random.default_rng(seed)
    net = GoldenNet(config)
    weights = [w.astype(int).tolist() for w in net.weights]
    rounding = [config.rounding_seed]
    for _ in range(3):
        raster = (rng.random((config.timesteps, config.n_in)) < density).astype(np.uint8)
        label = int(rng.integers(config.n_out))
        result = net.train(raster, label)
        counts, prediction, sops, writes = reference_train(config, weights, net.feedback,
                                                           raster, label, rounding)
        assert [list(c) for c in result.counts] == counts
        assert (result.prediction, result.sops, result.weight_writes) == \
            (prediction, sops, writes)
        assert [w.tolist() for w in net.weights] == weights
        assert net.rounding is None or net.rounding.state[0] == rounding[0]
