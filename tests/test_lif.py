"""Hand-computed cases for the integer LIF, and fast kernel == plain statement."""

import numpy as np
from hypothesis import given, settings, strategies as st

from spikefab.golden.lif import LIFParams, lif_step, run_layer

import reference
from conftest import random_configs, small_config, with_rails


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


@st.composite
def layer_cases(draw):
    """A random config's first layer, run from drawn membranes: each initial membrane
    and each weight is at a rail or next to it a third of the time (``with_rails``), the
    raster's density is 0, 1 or between."""
    config = draw(random_configs())
    n_post = config.hidden[0]
    v0 = [draw(with_rails(config.v_min, config.v_max)) for _ in range(n_post)]
    weights = [[draw(with_rails(config.w_min, config.w_max)) for _ in range(n_post)]
               for _ in range(config.n_in)]
    density = draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    return config, v0, weights, density, draw(st.integers(0, 2**32 - 1))


def plain_layer(config, weights, raster, v0):
    """The reference's layer over all timesteps: ``(out raster, final membranes)``."""
    v, out = list(v0), []
    for t in range(config.timesteps):
        out.append(reference.layer_step(config, weights, [int(s) for s in raster[t]], v))
    return out, v


@settings(max_examples=60, deadline=None)
@given(case=layer_cases())
def test_run_layer_equals_stepwise_statement(case):
    config, v0, weights, density, seed = case
    rng = np.random.default_rng(seed)
    raster = (rng.random((config.timesteps, config.n_in)) < density).astype(np.uint8)
    w = np.array(weights, dtype=np.int16)
    params = LIFParams(config)
    v_fast = np.array(v0, dtype=np.int64)
    out, v_fast, sops = run_layer(params, raster, w, v_fast)
    v = np.array(v0, dtype=np.int64)
    for t in range(config.timesteps):
        spikes, v = lif_step(params, v, raster[t].astype(np.int64) @ w.astype(np.int64))
        assert np.array_equal(out[t], spikes)
        assert config.v_min <= v.min() and v.max() <= config.v_max
    assert np.array_equal(v, v_fast)
    assert sops == int(raster.sum()) * w.shape[1]
    plain_out, plain_v = plain_layer(config, weights, raster, v0)
    assert out.tolist() == plain_out and v_fast.tolist() == plain_v


@st.composite
def rail_cases(draw):
    """A layer made to cross both membrane rails at its first timestep, every draw.

    Neuron 0 starts at ``v_max`` with every weight ``w_max``, neuron 1 at ``v_min`` with
    every weight ``w_min``, and input 0 spikes at t = 0. ``leak_shift ≥ v_bits - w_bits
    + 1`` keeps the leak of a rail below one weight (``v_max >> s ≤ 2**(w_bits-2) - 1 <
    w_max``, ``-(v_min >> s) ≤ 2**(w_bits-2) < -w_min``), so neuron 0's input sum
    exceeds ``v_max`` and neuron 1's falls below ``v_min``. ``v_bits`` is the least the
    config allows or up to 3 bits more; the threshold is drawn with its rails (1 and
    ``v_max``), the reset either way; other neurons and weights are drawn with rails."""
    w_bits = draw(st.integers(2, 8))
    n_in = draw(st.integers(1, 6))
    n_post = draw(st.integers(2, 5))
    least = ((max(n_in, n_post) << (w_bits - 1)) - 1).bit_length() + 1
    v_bits = draw(st.integers(max(least, 4), max(least, 4) + 3))
    leak_shift = draw(st.integers(max(1, v_bits - w_bits + 1), v_bits - 1))
    v_max = (1 << (v_bits - 1)) - 1
    config = small_config(n_in=n_in, hidden=(n_post,), w_bits=w_bits, v_bits=v_bits,
                          leak_shift=leak_shift, init_range=(0, 0),
                          timesteps=draw(st.integers(1, 6)),
                          threshold=draw(with_rails(1, v_max)),
                          reset=draw(st.sampled_from(["subtract", "zero"])))
    v0 = [config.v_max, config.v_min] + [draw(with_rails(config.v_min, config.v_max))
                                         for _ in range(n_post - 2)]
    weights = [[config.w_max, config.w_min] + [draw(with_rails(config.w_min, config.w_max))
                                               for _ in range(n_post - 2)]
               for _ in range(n_in)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    raster = (rng.random((config.timesteps, n_in)) < 0.5).astype(np.uint8)
    raster[0, 0] = 1
    return config, v0, weights, raster


@settings(max_examples=60, deadline=None)
@given(case=rail_cases())
def test_run_layer_saturates_at_both_rails(case):
    config, v0, weights, raster = case
    current = [sum(weights[i][j] for i in range(config.n_in) if raster[0, i])
               for j in (0, 1)]
    leak = config.leak_shift
    assert v0[0] - (v0[0] >> leak) + current[0] > config.v_max        # the top rail
    assert v0[1] - (v0[1] >> leak) + current[1] < config.v_min        # the bottom rail
    out, v, _ = run_layer(LIFParams(config), raster, np.array(weights, dtype=np.int16),
                          np.array(v0, dtype=np.int64))
    plain_out, plain_v = plain_layer(config, weights, raster, v0)
    assert out.tolist() == plain_out and v.tolist() == plain_v
    # At t = 0 the top rail fires (threshold ≤ v_max) and resets from v_max; the bottom
    # rail holds v_min. The plain statement, lif_step and the kernel all say so.
    rails = [0 if config.reset == "zero" else config.v_max - config.threshold, config.v_min]
    assert [reference.lif_neuron(config, v0[j], current[j]) for j in (0, 1)] == \
        [(1, rails[0]), (0, rails[1])]
    spikes, v1 = lif_step(LIFParams(config), np.array(v0[:2]), np.array(current))
    assert spikes.tolist() == [1, 0] and v1.tolist() == rails
    assert out[0, :2].tolist() == [1, 0]
