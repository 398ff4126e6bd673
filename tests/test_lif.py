"""Hand-computed cases for the integer LIF, and fast kernel == plain statement."""

import numpy as np
from hypothesis import given, settings, strategies as st

from spikefab.golden.lif import LIFParams, lif_step, run_layer

from conftest import random_configs, small_config


def step(v, current, **overrides):
    params = LIFParams(small_config(**overrides))
    spikes, v_new = lif_step(params, v, current)
    return int(spikes), int(v_new)


def test_leak_of_positive_membrane():
    # 100 - (100 >> 2) = 75
    assert step(100 // 1, 0, threshold=2000) == (0, 75)


def test_small_positive_membrane_does_not_leak():
    assert step(3, 0, leak_shift=2) == (0, 3)


def test_leak_of_negative_membranes_rounds_toward_minus_infinity():
    assert step(-1, 0, leak_shift=2) == (0, 0)        # -1 - (-1) = 0
    assert step(-5, 0, leak_shift=2) == (0, -3)       # -5 - (-2) = -3
    assert step(-17, 0, leak_shift=4) == (0, -15)     # -17 - (-2) = -15


def test_threshold_equality_fires():
    # 40 - 10 + 10 = 40 = threshold
    assert step(40, 10, threshold=40, leak_shift=2) == (1, 0)
    assert step(40, 9, threshold=40, leak_shift=2) == (0, 39)


def test_reset_by_subtraction_keeps_the_excess():
    assert step(0, 55, threshold=40) == (1, 15)


def test_reset_to_zero():
    assert step(0, 55, threshold=40, reset="zero") == (1, 0)


def test_saturation_at_the_top_then_fire():
    # v_bits = 12: v_max = 2047; 2047 - 511 + 768 = 2304 → 2047, fires, 2047 - 40
    assert step(2047, 768) == (1, 2007)


def test_saturation_at_the_bottom():
    # -2048 - (-512) - 768 = -2304 → -2048
    assert step(-2048, -768) == (0, -2048)


def test_impulse_response_decays_geometrically():
    params = LIFParams(small_config(threshold=2000, leak_shift=2))
    v, trace = np.int64(1000), []
    for current in [0] * 6:
        _, v = lif_step(params, v, current)
        trace.append(int(v))
    assert trace == [750, 563, 423, 318, 239, 180]


def test_spike_period_with_constant_input():
    # leak_shift = v_bits - 1 makes the leak vanish below 2**11: an integrate-and-fire
    # neuron with input threshold/4 fires exactly every 4th step.
    config = small_config(threshold=400, leak_shift=11, timesteps=16, n_in=1, hidden=(1,))
    raster = np.ones((16, 1), dtype=np.uint8)
    out, v, sops = run_layer(LIFParams(config), raster, np.array([[100]], dtype=np.int16))
    assert list(out[:, 0]) == [0, 0, 0, 1] * 4
    assert int(v[0]) == 0 and sops == 16


def test_empty_input_never_fires():
    config = small_config()
    out, v, sops = run_layer(LIFParams(config), np.zeros((6, 6), np.uint8),
                             np.full((6, 5), 127, np.int16))
    assert not out.any() and not v.any() and sops == 0


@settings(max_examples=60, deadline=None)
@given(config=random_configs(), seed=st.integers(0, 2**32 - 1))
def test_run_layer_equals_stepwise_statement(config, seed):
    rng = np.random.default_rng(seed)
    n_post = config.hidden[0]
    raster = (rng.random((config.timesteps, config.n_in)) < 0.6).astype(np.uint8)
    weights = rng.integers(config.w_min, config.w_max + 1, (config.n_in, n_post))
    params = LIFParams(config)
    out, v_fast, sops = run_layer(params, raster, weights.astype(np.int16))
    v = np.zeros(n_post, dtype=np.int64)
    for t in range(config.timesteps):
        spikes, v = lif_step(params, v, raster[t].astype(np.int64) @ weights)
        assert np.array_equal(out[t], spikes)
        assert config.v_min <= v.min() and v.max() <= config.v_max
    assert np.array_equal(v, v_fast)
    assert sops == int(raster.sum()) * n_post
