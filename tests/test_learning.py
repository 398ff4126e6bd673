"""Hand-computed learning steps, then golden == slow reference on random configs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import (RoundingGenerator, apply_update, feedback_table,
                                      hidden_signal, learning_signals, output_error,
                                      round_shift)
from spikefab.golden.network import GoldenNet, decide

import reference
from conftest import random_configs, small_config


def test_round_shift_is_half_away_from_zero():
    assert [round_shift(x, 2) for x in (-6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6)] == \
        [-2, -1, -1, -1, 0, 0, 0, 1, 1, 1, 2]
    assert round_shift(-7, 0) == -7


@st.composite
def shifted_values(draw):
    """``(x, shift)`` where half the draws are exact ties ``±(2k + 1) · 2**(shift-1)``
    (both signs, k from 0: ±0.5, ±1.5, …), the rest any value of up to 40 bits."""
    shift = draw(st.integers(0, 24))
    if shift and draw(st.booleans()):
        x = (2 * draw(st.integers(0, 1 << 12)) + 1) << (shift - 1)
        return (x if draw(st.booleans()) else -x), shift
    return draw(st.integers(-(1 << 40), 1 << 40)), shift


@settings(max_examples=150)
@given(case=shifted_values())
def test_round_shift_equals_exact_rounding(case):
    x, shift = case
    assert round_shift(x, shift) == reference.round_half_away(x, shift)


def test_nearest_rounding_ties_on_both_signs():
    # shift 2: every product p·a below is an odd multiple of 2 (a tie): 2/4 = 0.5,
    # 6/4 = 1.5, 10/4 = 2.5, each rounded away from zero, on both signs of p.
    weights = np.zeros((2, 4), dtype=np.int16)
    pre = np.array([1, 5])
    post = np.array([2, -2, 6, -6])
    #   row 0 (a = 1): Δ = -(±0.5, ±1.5) → -1, +1, -2, +2
    #   row 1 (a = 5): Δ = -(±2.5, ±7.5) → -3, +3, -8, +8
    assert apply_update(weights, pre, post, 2, -128, 127) == 8
    assert weights.tolist() == [[-1, 1, -2, 2], [-3, 3, -8, 8]]


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


def test_margin_argument_is_the_run_time_register_not_the_config():
    # The chip's margin register is loaded at run time and may differ from
    # config.margin: learning_signals must compare against the argument when one is
    # given. Error [1, -1, 2] (counts [1, 5, 2], label 1, target 6): max |e| = 2.
    counts = [None, np.zeros(5, int), np.array([1, 5, 2])]
    config = small_config(target_count=6, margin=0)
    net = GoldenNet(config)
    assert learning_signals(config, net.feedback, counts, 1)[1] is not None
    assert learning_signals(config, net.feedback, counts, 1, margin=2)[1] is None
    assert learning_signals(config, net.feedback, counts, 1, margin=1)[1] is not None
    config = small_config(target_count=6, margin=2)
    assert learning_signals(config, net.feedback, counts, 1)[1] is None
    assert learning_signals(config, net.feedback, counts, 1, margin=1)[1] is not None
    assert learning_signals(config, net.feedback, counts, 1, margin=0)[1] is not None


def test_net_margin_register_of_T_skips_every_sample():
    # |e[k]| <= T for counts in 0 … T and target_count <= T, so a margin register of T
    # skips every sample: a training step reads and writes no weight. config.margin
    # stays 0, which would update on every one of these samples.
    config = small_config(init_range=(40, 40), threshold=20, margin=0)
    net = GoldenNet(config)
    net.margin = config.timesteps
    before = [w.copy() for w in net.weights]
    rng = np.random.default_rng(3)
    for n in range(4):
        raster = rng.integers(0, 2, (config.timesteps, config.n_in), dtype=np.uint8)
        result = net.train(raster, n % config.n_out)
        assert result.skipped and result.weight_writes == 0
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, before))
    # The same samples do update under the config's own margin (the test's premise).
    fresh = GoldenNet(config)
    rng = np.random.default_rng(3)
    writes = 0
    for n in range(4):
        raster = rng.integers(0, 2, (config.timesteps, config.n_in), dtype=np.uint8)
        writes += fresh.train(raster, n % config.n_out).weight_writes
    assert writes > 0


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


@st.composite
def training_cases(draw):
    """A random config, its starting weights and 3 samples.

    The weights start either as the plain reference makes them (``init_weights``) or at
    the rails: each weight ``w_min`` or ``w_max`` with probability 1/4 each, the rest
    uniform, so the updates run into both rails of ``w_bits`` (held, no write). The
    rasters' densities include 0 (silent: input counts 0, a skipped layer) and 1 (every
    input spikes T times), which drive spike counts to both ends (0 and ``T``) and the
    gate's and error clip's edges with them."""
    config = draw(random_configs())
    weights = reference.init_weights(config)
    if draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        weights = []
        for fan_in, fan_out in config.weight_shapes:
            values = rng.integers(config.w_min, config.w_max + 1, (fan_in, fan_out))
            pick = rng.integers(0, 4, (fan_in, fan_out))
            values[pick == 0] = config.w_min
            values[pick == 1] = config.w_max
            weights.append(values.tolist())
    densities = [draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)) for _ in range(3)]
    return config, weights, densities, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=80, deadline=None)
@given(case=training_cases())
def test_golden_training_equals_reference(case):
    """Golden against the plain reference, which makes its own feedback table and dither
    (and, for a net started from ``init_weights``, its own initial weights)."""
    config, weights, densities, seed = case
    rng = np.random.default_rng(seed)
    net = GoldenNet(config) if weights == reference.init_weights(config) else \
        GoldenNet(config, [np.array(w) for w in weights])
    assert [w.tolist() for w in net.weights] == weights
    rounding = [config.rounding_seed]
    for density in densities:
        raster = (rng.random((config.timesteps, config.n_in)) < density).astype(np.uint8)
        label = int(rng.integers(config.n_out))
        result = net.train(raster, label)
        counts, prediction, sops, writes, skipped = reference.reference_train(
            config, weights, raster, label, rounding)
        assert [list(c) for c in result.counts] == counts
        assert (result.prediction, result.sops, result.weight_writes, result.skipped) == \
            (prediction, sops, writes, skipped)
        assert [w.tolist() for w in net.weights] == weights
        assert net.rounding is None or net.rounding.state[0] == rounding[0]
