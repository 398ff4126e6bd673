"""The learning core in Amaranth's simulator against golden: every count, prediction,
counter and weight, sample after sample."""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.config import PRESETS
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.protocol import event_payload, pixel_payload

from conftest import random_configs, small_config
from hw_support import (LearningCore, golden_expectation, peek_weights, reported,
                        run_sample, set_registers, simulate)


def check_pixel_run(config, pixels, labels, train, registers=None, watch_collisions=True,
                    weight_latency=2):
    """Run pixel samples through core and golden; assert equality after each, and that
    no memory is read where it is written in the same cycle."""
    core, golden = LearningCore(config, weight_latency=weight_latency), GoldenNet(config)
    registers = registers or {}
    rasters = encode(pixels, config)
    seen = {"spikes": 0, "writes": 0}

    async def testbench(ctx):
        for n, (px, raster, label, learn) in enumerate(zip(pixels, rasters, labels, train)):
            if n in registers:
                golden.lr_shifts, golden.margin = registers[n]
            await set_registers(ctx, core, golden.lr_shifts, golden.margin)
            hw = await run_sample(ctx, core, pixel_payload(px, config), label=label,
                                  train=learn)
            ref = golden.train(raster, label) if learn else golden.forward(raster)
            assert reported(hw) == golden_expectation(ref), f"sample {n}"
            for layer, (a, b) in enumerate(zip(peek_weights(ctx, core), golden.weights)):
                assert np.array_equal(a, b), f"sample {n}: weight layer {layer} differs"
            seen["spikes"] += sum(hw["counts"])
            seen["writes"] += hw["writes"]

    simulate(core, testbench, watch_collisions=watch_collisions)
    return seen


CONFIGS = {
    "one-hidden": dict(n_in=10, hidden=(7,), n_out=3, timesteps=6),
    "two-hidden-3-lanes": dict(n_in=9, hidden=(7, 5), n_out=4, timesteps=5, lanes=3, k_fb=2),
    "sigma-delta-reset-zero-dense": dict(n_in=8, hidden=(6,), n_out=3, encoding="sigma-delta",
                                         reset="zero", k_fb=3, lanes=2, error_clip=3),
    "narrow-weights-4-bit-pixels": dict(n_in=7, hidden=(5,), n_out=3, w_bits=4,
                                        init_range=(7, 7), pixel_bits=4, lanes=2,
                                        threshold=10, lr_shift_hidden=0, lr_shift_out=1),
    "stochastic-rounding-two-hidden-3-lanes": dict(n_in=9, hidden=(7, 5), n_out=4,
                                                   timesteps=5, lanes=3, rounding="stochastic",
                                                   lr_shift_hidden=4, lr_shift_out=3),
    # Wide lanes: rows overlapped in the update, 2 and 4 pixels a cycle from a banked
    # buffer (Layout.pixels_per_cycle), groups of inputs with a partial last one.
    "wide-8-lanes-sigma-delta": dict(n_in=21, hidden=(12,), n_out=3, lanes=8,
                                     encoding="sigma-delta", k_fb=2, v_bits=16),
    "wide-16-lanes-stochastic-two-hidden": dict(n_in=38, hidden=(20, 9), n_out=4,
                                                timesteps=5, lanes=16, rounding="stochastic",
                                                lr_shift_hidden=4, lr_shift_out=3, v_bits=16),
    # Weights wider than a byte (9 bits: two bytes a weight on the wire), at 16 lanes
    # with stochastic rounding, as the ULX3S presets would take them; weights start
    # beyond 8 bits and the large steps reach the rails.
    "nine-bit-weights-16-lanes-stochastic": dict(n_in=21, hidden=(12,), n_out=3, lanes=16,
                                                 w_bits=9, v_bits=16, init_range=(200, 200),
                                                 threshold=600, rounding="stochastic",
                                                 lr_shift_hidden=1, lr_shift_out=1),
}


# Each block that reads the weight memory follows its latency (3 on the ECP5).
@pytest.mark.parametrize("weight_latency", [2, 3])
@pytest.mark.parametrize("name", CONFIGS)
def test_core_matches_golden(name, weight_latency):
    config = small_config(**{"threshold": 30, **CONFIGS[name]})
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, config.pixel_max + 1, (5, config.n_in))
    labels = rng.integers(0, config.n_out, 5)
    train = [True, True, True, False, True]
    # Sample 2 runs with other run-time shifts and a margin, as the host may set them.
    registers = {2: (tuple(s + 1 for s in config.lr_shifts), 1)}
    seen = check_pixel_run(config, pixels, labels, train, registers,
                           weight_latency=weight_latency)
    assert seen["spikes"] > 0 and seen["writes"] > 0, "the stimulus exercised nothing"


@pytest.mark.parametrize("name", ["two-hidden-3-lanes", "wide-16-lanes-stochastic-two-hidden"])
def test_core_matches_golden_at_the_long_latency(name):
    """Weight latency 4 (an ECP5 chip with ES units, which learns with DFA too, or with
    wide lanes: ``Board.weight_latency``)."""
    test_core_matches_golden(name, 4)


def test_stochastic_rounding_run_differs_from_nearest():
    # The stochastic case above proves the chip's dither only if it changed something.
    config = small_config(**{"threshold": 30,
                             **CONFIGS["stochastic-rounding-two-hidden-3-lanes"]})
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, config.pixel_max + 1, (5, config.n_in))
    labels = rng.integers(0, config.n_out, 5)
    final = []
    for rounding in ("stochastic", "nearest"):
        golden = GoldenNet(config.replace(rounding=rounding))
        for px, raster, label in zip(pixels, encode(pixels, config), labels):
            golden.train(raster, label)
        final.append(golden.weights)
    assert any((a != b).any() for a, b in zip(*final))


def test_core_digits_preset_trains_like_golden():
    config = PRESETS["digits"].replace(lanes=4)
    data = load_dataset("digits", config)
    seen = check_pixel_run(config, data.x_train[:2], data.y_train[:2], [True, False])
    assert seen["writes"] > 100


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=random_configs(), lanes=st.integers(1, 3) | st.sampled_from([4, 8, 16]),
       seed=st.integers(0, 2**16))
def test_core_matches_golden_on_random_configs(config, lanes, seed):
    config = config.replace(lanes=lanes)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, config.pixel_max + 1, (3, config.n_in))
    labels = rng.integers(0, config.n_out, 3)
    check_pixel_run(config, pixels, labels, [True, True, False])


# -- event mode and malformed samples -------------------------------------------------

EVENT_CONFIG = dict(n_in=9, hidden=(6, 4), n_out=3, timesteps=4, lanes=2, threshold=30)


def event_run(config, steps):
    """Run ``(payload, label, expected_error)`` steps; the good ones must match golden."""
    core, golden = LearningCore(config), GoldenNet(config)

    async def testbench(ctx):
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        for n, (payload, raster, label, bad) in enumerate(steps):
            hw = await run_sample(ctx, core, payload, label=label, events=True)
            if bad:
                assert hw["error"] == 1, f"step {n}: malformed sample accepted"
                assert hw["writes"] == 0
            else:
                assert reported(hw) == golden_expectation(golden.train(raster, label))
            for a, b in zip(peek_weights(ctx, core), golden.weights):
                assert np.array_equal(a, b), f"step {n}: weights differ"

    simulate(core, testbench, watch_collisions=True)


def test_core_event_mode_matches_golden():
    config = small_config(**EVENT_CONFIG)
    rng = np.random.default_rng(3)
    rasters = (rng.random((3, config.timesteps, config.n_in)) < 0.5).astype(np.uint8)
    rasters[1, 2] = 0                                       # an empty timestep
    event_run(config, [(event_payload(r), r, n % 3, False) for n, r in enumerate(rasters)])


def _words(*values):
    return np.asarray(values, dtype="<u2").tobytes()


MALFORMED = {
    "address-out-of-range": _words(1, 9, 0xFFFF) + _words(0xFFFF) * 3,
    "not-increasing": _words(3, 2, 0xFFFF) + _words(0xFFFF) * 3,
    "repeated-address": _words(4, 4, 0xFFFF) + _words(0xFFFF) * 3,
    "too-few-timesteps": _words(1, 0xFFFF, 2, 0xFFFF),
    "trailing-data": _words(0xFFFF) * 4 + _words(5),
    "odd-length": _words(1, 0xFFFF) * 4 + b"\x01",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_core_refuses_malformed_events_and_keeps_learning(case):
    config = small_config(**EVENT_CONFIG)
    rng = np.random.default_rng(4)
    good = (rng.random((2, config.timesteps, config.n_in)) < 0.5).astype(np.uint8)
    event_run(config, [(event_payload(good[0]), good[0], 1, False),
                       (MALFORMED[case], None, 2, True),
                       (event_payload(good[1]), good[1], 0, False)])


def test_core_refuses_pixels_above_pixel_bits():
    config = small_config(n_in=6, pixel_bits=4, threshold=20, lanes=2)
    core, golden = LearningCore(config), GoldenNet(config)
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 16, (2, config.n_in))
    bad = pixels[0].copy()
    bad[3] = 16

    async def testbench(ctx):
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        hw = await run_sample(ctx, core, bytes(bad.astype(np.uint8)), label=1)
        assert hw["error"] == 1 and hw["writes"] == 0
        for px, label in zip(pixels, (1, 2)):
            hw = await run_sample(ctx, core, pixel_payload(px, config), label=label)
            ref = golden.train(encode(px[None], config)[0], label)
            assert reported(hw) == golden_expectation(ref)
        for a, b in zip(peek_weights(ctx, core), golden.weights):
            assert np.array_equal(a, b)

    simulate(core, testbench, watch_collisions=True)


def test_collision_watch_catches_a_read_of_the_word_being_written():
    # The FPGA builds declare such reads undefined; the watch must see one when it happens.
    from amaranth.hdl import Module, Signal
    from amaranth.lib.memory import Memory

    class Colliding(Elaboratable):
        def __init__(self):
            self.addr = Signal(3)
            self.memory_ports = []

        def elaborate(self, platform):
            m = Module()
            m.submodules.mem = mem = Memory(shape=8, depth=8, init=[])
            read, write = mem.read_port(), mem.write_port()
            m.d.comb += [read.addr.eq(self.addr), write.addr.eq(self.addr), write.en.eq(1)]
            self.memory_ports = [("mem", read, write)]
            return m

    async def testbench(ctx):
        await ctx.tick().repeat(3)

    with pytest.raises(AssertionError, match="read-during-write"):
        simulate(Colliding(), testbench, watch_collisions=True)
