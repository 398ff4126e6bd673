"""The update lanes alone against their golden twin ``apply_update`` on one row: the words
of a row go in with random gaps (the sequencer leaves a cycle free for each write), each
weight word a cycle after its signals, and every word that comes out must hold golden's
new weights and flag exactly the lanes golden changed."""

import numpy as np
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import RoundingGenerator, apply_update
from spikefab.golden.rng import xorshift32
from spikefab.hw.ports import Shapes
from spikefab.hw.update_lanes import UpdateLanes
from spikefab.layout import Layout

from conftest import random_configs
from hw_support import simulate


def lanes_rtl(config, signals, weights, activity, shift, row_dither, gaps):
    """Run one row; ``{index: (new_word, changed_lanes)}`` of the words that came out."""
    shapes = Shapes(config, Layout(config))
    lanes = config.lanes
    n_words = len(signals) // lanes
    dut = UpdateLanes(config, shapes, lanes, range(n_words + 1))
    out = {}

    async def testbench(ctx):
        ctx.set(dut.activity, activity)
        ctx.set(dut.shift, shift)
        ctx.set(dut.row_dither, row_dither)
        ctx.set(dut.load_dither, 1)
        await ctx.tick()
        ctx.set(dut.load_dither, 0)
        queue = list(range(n_words))
        weight_next = None          # the word whose weights follow a cycle after its signals
        for cycle in range(3 * n_words + 20):
            k = queue.pop(0) if queue and not gaps[cycle % len(gaps)] else None
            ctx.set(dut.arriving, {"valid": k is not None, "index": k or 0})
            if k is not None:
                ctx.set(dut.signal_data, signals[k * lanes:(k + 1) * lanes])
            # Data on a port that nothing reads is arbitrary: make it visibly so.
            ctx.set(dut.weight_data, weights[weight_next * lanes:(weight_next + 1) * lanes]
                    if weight_next is not None else [config.w_min] * lanes)
            weight_next = k
            if ctx.get(dut.pending.valid):
                index = ctx.get(dut.pending.index)
                word = [int(w) for w in ctx.get(dut.new_word)]
                changed = ctx.get(dut.changed)
                out[index] = (word, [q for q in range(lanes) if changed >> q & 1])
            await ctx.tick()

    simulate(dut, testbench)
    return out


def lanes_golden(config, signals, weights, activity, shift, seed):
    lanes = config.lanes
    row = np.array(weights, dtype=np.int64).reshape(1, -1)
    old = row.copy()
    rounding = None
    if config.rounding == "stochastic":
        rounding = RoundingGenerator(config.replace(rounding_seed=seed))
    apply_update(row, [activity], signals, shift, config.w_min, config.w_max, rounding)
    out = {}
    for k in range(len(signals) // lanes):
        lane_slice = slice(k * lanes, (k + 1) * lanes)
        out[k] = ([int(w) for w in row[0, lane_slice]],
                  [q for q in range(lanes) if row[0, k * lanes + q] != old[0, k * lanes + q]])
    return out


@st.composite
def cases(draw):
    config = draw(random_configs()).replace(lanes=draw(st.integers(1, 4)))
    shapes = Shapes(config, Layout(config))
    n = config.lanes * draw(st.integers(1, 4))
    p_max = (1 << (shapes.signal.width - 1)) - 1
    signals = draw(st.lists(st.integers(-p_max, p_max), min_size=n, max_size=n))
    # Weights near the rails and small shifts often: saturation is where lanes go wrong.
    near_rails = st.sampled_from([config.w_min, config.w_min + 1, config.w_max - 1,
                                  config.w_max])
    weights = draw(st.lists(near_rails | st.integers(config.w_min, config.w_max),
                            min_size=n, max_size=n))
    activity = draw(st.integers(1, (1 << config.count_bits) - 1))
    shift = draw(st.integers(0, 2) | st.integers(0, config.max_lr_shift))
    seed = draw(st.integers(1, 2**32 - 1))
    gaps = draw(st.lists(st.booleans(), max_size=7)) + [False]     # a word now and then
    return config, signals, weights, activity, shift, seed, gaps


@settings(max_examples=100, deadline=None)
@given(cases())
def test_update_lanes_match_apply_update(case):
    config, signals, weights, activity, shift, seed, gaps = case
    row_dither = int(xorshift32(seed)) >> 16       # what the generator draws for the row
    rtl = lanes_rtl(config, signals, weights, activity, shift, row_dither, gaps)
    assert rtl == lanes_golden(config, signals, weights, activity, shift, seed), \
        f"UpdateLanes differs from apply_update for p={signals} w={weights} a={activity} " \
        f"s={shift} ({config.rounding}, seed {seed}, gaps {gaps})"
