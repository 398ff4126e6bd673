"""The update lanes alone against their golden twin ``apply_update`` on one row: the words
of a row go in with random gaps (the sequencer leaves a cycle free for each write), each
weight word a cycle after its signals, and every word that comes out must hold golden's
new weights and flag exactly the lanes golden changed; and, with ``per_word`` tags,
several rows back to back, each word updated with its own row's activity and dither.
Both with the products in DSP blocks (``*``) and in logic cells (``lut_products``), the
step's add and shift in one stage or two (``registered_sum``)."""

import numpy as np
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import DITHER_STEP, RoundingGenerator, apply_update
from spikefab.golden.rng import xorshift32
from spikefab.hw.ports import Shapes
from spikefab.hw.update_lanes import UpdateLanes
from spikefab.layout import Layout

from conftest import random_configs
from hw_support import simulate


#: The lanes' build options (wide configs take both).
OPTIONS = st.fixed_dictionaries({"lut_products": st.booleans(),
                                 "registered_sum": st.booleans()})


def lanes_rtl(config, signals, weights, activity, shift, row_dither, gaps, options):
    """Run one row; ``{index: (new_word, changed_lanes)}`` of the words that came out."""
    shapes = Shapes(config, Layout(config))
    lanes = config.lanes
    n_words = len(signals) // lanes
    dut = UpdateLanes(config, shapes, lanes, range(n_words + 1), **options)
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
@given(cases(), OPTIONS)
def test_update_lanes_match_apply_update(case, options):
    config, signals, weights, activity, shift, seed, gaps = case
    row_dither = int(xorshift32(seed)) >> 16       # what the generator draws for the row
    rtl = lanes_rtl(config, signals, weights, activity, shift, row_dither, gaps, options)
    assert rtl == lanes_golden(config, signals, weights, activity, shift, seed), \
        f"UpdateLanes differs from apply_update for p={signals} w={weights} a={activity} " \
        f"s={shift} ({config.rounding}, seed {seed}, gaps {gaps}, {options})"


# -- rows back to back (per_word: the update unit of wide configs) -------------------------

def rows_rtl(config, signals, rows, activities, shift, dithers, gaps, options):
    """Words of several rows back to back, each tag carrying its row's activity, its own
    dither and its address; ``{addr: (new_word, changed_lanes)}`` of the words out."""
    shapes = Shapes(config, Layout(config))
    lanes = config.lanes
    n_words = len(signals) // lanes
    n_addr = len(rows) * n_words
    dut = UpdateLanes(config, shapes, lanes, range(n_words + 1), per_word=True,
                      addr_shape=range(n_addr + 1), **options)
    words = [(r, k) for r in range(len(rows)) for k in range(n_words)]
    out = {}

    async def testbench(ctx):
        ctx.set(dut.shift, shift)
        # Held inputs of the row-by-row mode: junk, which per_word must not read.
        ctx.set(dut.activity, (1 << config.count_bits) - 1)
        ctx.set(dut.row_dither, 0x5A5A)
        queue = list(words)
        weight_next = None
        cycle = drain = 0
        while drain < 10:                   # every word in, then the pipeline drains
            item = queue.pop(0) if queue and not gaps[cycle % len(gaps)] else None
            cycle += 1
            drain = 0 if queue else drain + 1
            if item is None:
                ctx.set(dut.arriving, {"valid": 0, "index": 0, "addr": 0, "activity": 0,
                                       "dither": 0})
            else:
                r, k = item
                ctx.set(dut.arriving, {
                    "valid": 1, "index": k, "addr": r * n_words + k,
                    "activity": activities[r],
                    "dither": (dithers[r] + k * lanes * DITHER_STEP) & 0xFFFF})
                ctx.set(dut.signal_data, signals[k * lanes:(k + 1) * lanes])
            ctx.set(dut.weight_data, rows[weight_next[0]][weight_next[1] * lanes:
                                                          (weight_next[1] + 1) * lanes]
                    if weight_next is not None else [config.w_min] * lanes)
            weight_next = item
            # ``write``: exactly the pending words with a lane changed.
            assert ctx.get(dut.write) == (ctx.get(dut.pending.valid) and
                                          ctx.get(dut.changed) != 0), \
                f"UpdateLanes write flag at cycle {cycle}"
            if ctx.get(dut.pending.valid):
                addr = ctx.get(dut.pending.addr)
                changed = ctx.get(dut.changed)
                out[addr] = ([int(w) for w in ctx.get(dut.new_word)],
                             [q for q in range(lanes) if changed >> q & 1])
            await ctx.tick()

    simulate(dut, testbench)
    return out


def rows_golden(config, signals, rows, activities, shift, seed):
    lanes = config.lanes
    matrix = np.array(rows, dtype=np.int64)
    old = matrix.copy()
    rounding = None
    if config.rounding == "stochastic":
        rounding = RoundingGenerator(config.replace(rounding_seed=seed))
    apply_update(matrix, activities, signals, shift, config.w_min, config.w_max, rounding)
    n_words = len(signals) // lanes
    out = {}
    for r in range(len(rows)):
        for k in range(n_words):
            lane_slice = slice(k * lanes, (k + 1) * lanes)
            out[r * n_words + k] = (
                [int(w) for w in matrix[r, lane_slice]],
                [q for q in range(lanes) if matrix[r, k * lanes + q] != old[r, k * lanes + q]])
    return out


@st.composite
def row_cases(draw):
    config, signals, _, _, shift, seed, gaps = draw(cases())
    n = len(signals)
    n_rows = draw(st.integers(2, 4))
    near_rails = st.sampled_from([config.w_min, config.w_min + 1, config.w_max - 1,
                                  config.w_max])
    rows = [draw(st.lists(near_rails | st.integers(config.w_min, config.w_max),
                          min_size=n, max_size=n)) for _ in range(n_rows)]
    activities = draw(st.lists(st.integers(1, (1 << config.count_bits) - 1),
                               min_size=n_rows, max_size=n_rows))
    return config, signals, rows, activities, shift, seed, gaps


@settings(max_examples=60, deadline=None)
@given(row_cases(), OPTIONS)
def test_update_lanes_rows_back_to_back_match_apply_update(case, options):
    # Rows of different activities and dithers follow each other with no gap between
    # them: each word must be updated with its own row's activity and its own dither.
    config, signals, rows, activities, shift, seed, gaps = case
    dithers, state = [], seed
    for _ in rows:                          # the generator draws once per row (a ≠ 0)
        state = int(xorshift32(state))
        dithers.append(state >> 16)
    rtl = rows_rtl(config, signals, rows, activities, shift, dithers, gaps, options)
    assert rtl == rows_golden(config, signals, rows, activities, shift, seed), \
        f"UpdateLanes (per_word) differs from apply_update for p={signals} rows={rows} " \
        f"a={activities} s={shift} ({config.rounding}, seed {seed}, gaps {gaps}, {options})"
