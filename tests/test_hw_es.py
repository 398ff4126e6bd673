"""The ES blocks alone against their golden twins (golden/es.py): member weights
(PerturbLanes), the factor rows of a pair seed (FactorStream, with random stalls) and
a member's fitness over a mini-batch (FitnessAccumulator)."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from spikefab.golden import es as golden_es
from spikefab.golden.learning import DITHER_STEP, RoundingGenerator, output_error
from spikefab.golden.rng import xorshift32
from spikefab.hw.es_factors import FactorStream
from spikefab.hw.es_fitness import FitnessAccumulator, fitness_bits
from spikefab.hw.es_perturb import PerturbLanes
from spikefab.hw.es_update import ACCUMULATE_LATENCY, STEP_LATENCY, ESUpdateLanes

from conftest import small_config, with_rails
from hw_support import simulate


# -- PerturbLanes: rules 3 and 4 ---------------------------------------------------------

@st.composite
def perturb_cases(draw):
    w_bits = draw(st.sampled_from([4, 6, 8, 10]))
    rank = draw(st.integers(1, 8))
    init = min(20, (1 << (w_bits - 1)) - 1)
    config = small_config(w_bits=w_bits, es_rank=rank, init_range=(init, init), v_bits=20,
                          es_sigma_shift=draw(st.integers(0, w_bits - 1)))
    lanes = draw(st.integers(1, 4))
    weights = draw(st.lists(with_rails(config.w_min, config.w_max),
                            min_size=lanes, max_size=lanes))
    a = draw(st.lists(st.integers(0, (1 << rank) - 1), min_size=lanes, max_size=lanes))
    b = draw(st.integers(0, (1 << rank) - 1))
    return config, weights, a, b, draw(st.booleans()), draw(st.booleans())


def perturb_rtl(config, weights, a, b, negative, enable):
    dut = PerturbLanes(config, len(weights))
    out = []

    async def testbench(ctx):
        ctx.set(dut.weights, weights)
        ctx.set(dut.a, a)
        ctx.set(dut.b, b)
        ctx.set(dut.negative, negative)
        ctx.set(dut.enable, enable)
        out.extend(ctx.get(dut.member[lane]) for lane in range(len(weights)))

    sim = Simulator(dut)      # combinational: no clock
    sim.add_testbench(testbench)
    sim.run()
    return out


def perturb_golden(config, weights, a, b, negative, enable):
    if not enable:
        return list(weights)
    # One row (b) against the lanes' neurons (a): a 1 × lanes layer.
    S = golden_es.rank_sums(config, [(np.array(a), np.array([b]))])[0]
    w = np.array([weights], dtype=np.int32)
    return golden_es._perturb(config, w, S, -1 if negative else 1)[0].tolist()


@settings(max_examples=60, deadline=None)
@given(perturb_cases())
def test_perturb_lanes_match_golden(case):
    config, weights, a, b, negative, enable = case
    assert perturb_rtl(*case) == perturb_golden(*case), \
        f"PerturbLanes differs from golden rules 3-4 (rank {config.es_rank}, σ " \
        f"{config.es_sigma_shift}, w_bits {config.w_bits}): {case[1:]}"


def test_perturb_lanes_hand_computed():
    # Independent of golden, r = 4, σ = 1, w in [-32, 31]: a = 0b0011 against b = 0
    # differs in 2 bits, S = 4 - 2·2 = 0; a = 0b1111 differs in 4, S = -4, << 1 = -8;
    # a = 0 equals b, S = 4, << 1 = 8. The + member adds, the - member subtracts, clamped.
    config = small_config(w_bits=6, es_rank=4, es_sigma_shift=1)
    assert (config.w_min, config.w_max) == (-32, 31)
    assert perturb_rtl(config, [5, 5, -30], [0b0011, 0b1111, 0b1111], 0,
                       False, True) == [5, 5 - 8, -32]
    assert perturb_rtl(config, [5, 30], [0b0000, 0b1111], 0, False, True) == [13, 22]
    assert perturb_rtl(config, [5, 30], [0b0000, 0b1111], 0, True, True) == [-3, 31]
    assert perturb_rtl(config, [5, 30], [0b0000, 0b1111], 0, True, False) == [5, 30]


# -- FactorStream: rule 2 ----------------------------------------------------------------

def factor_rows_rtl(config, seed, stalls):
    """Every row the stream gives, as ``(layer, matrix, row, bits, last)``; the consumer
    is not ready in the cycles ``stalls`` says."""
    dut = FactorStream(config)
    rows = []
    total = sum(fan_in + fan_out for fan_in, fan_out in config.weight_shapes)

    async def testbench(ctx):
        ctx.set(dut.seed, seed)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle = 0
        held = None
        while len(rows) < total and cycle < 20 * total + 50:
            ready = not stalls[cycle % len(stalls)]
            ctx.set(dut.rows.ready, ready)
            valid = ctx.get(dut.rows.valid)
            payload = ctx.get(dut.rows.payload)
            row = (payload.layer, payload.matrix, payload.row, payload.bits, payload.last)
            if held is not None:   # a row offered and not taken stays as it was
                assert valid and row == held, \
                    f"FactorStream changed an untaken row: {held} → {row}"
            held = row if valid and not ready else None
            if valid and ready:
                rows.append(row)
            await ctx.tick()
            cycle += 1
        assert not ctx.get(dut.busy), "FactorStream still busy after its last row"

    simulate(dut, testbench)
    return rows


def factor_rows_golden(config, seed):
    rows = []
    factors = golden_es.pair_factors(config, seed)
    for layer, (a, b) in enumerate(factors):
        for matrix, bits in ((0, a), (1, b)):
            rows += [(layer, matrix, n, int(value), 0) for n, value in enumerate(bits)]
    rows[-1] = rows[-1][:4] + (1,)
    return rows


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.sampled_from([(5,), (3, 4), (9,)]), st.integers(2, 9),
       st.integers(0, 2**32 - 1) | st.just(0),
       st.lists(st.booleans(), min_size=1, max_size=7))
def test_factor_stream_matches_golden(rank, hidden, n_in, seed, stalls):
    stalls = stalls + [False]       # the consumer is ready now and then
    config = small_config(n_in=n_in, hidden=hidden, es_rank=rank)
    assert factor_rows_rtl(config, seed, stalls) == factor_rows_golden(config, seed), \
        f"FactorStream differs from golden pair_factors (rank {rank}, layers " \
        f"{config.layer_sizes}, seed {seed:#x})"


# -- FitnessAccumulator: rule 5 ---------------------------------------------------------

def fitness_rtl(config, samples, margin):
    """``samples``: (counts, label) per sample; the fitness after each."""
    dut = FitnessAccumulator(config, signed(config.count_bits + 1))
    after = []

    async def testbench(ctx):
        ctx.set(dut.margin, margin)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for counts, label in samples:
            ctx.set(dut.error, output_error(config, counts, label).tolist())
            ctx.set(dut.label, label)
            ctx.set(dut.add, 1)
            await ctx.tick()
            ctx.set(dut.add, 0)
            await ctx.tick().until(~dut.busy)
            after.append(ctx.get(dut.fitness))

    simulate(dut, testbench)
    return after


@st.composite
def fitness_cases(draw):
    timesteps = draw(st.integers(1, 16))
    margin = draw(with_rails(0, timesteps - 1))
    # A clip must lie above the margin (Config refuses it otherwise).
    clip = draw(st.just(0) | st.integers(margin + 1, timesteps))
    config = small_config(n_out=draw(st.integers(2, 5)), timesteps=timesteps,
                          target_count=draw(st.integers(0, timesteps)), margin=margin,
                          error_clip=clip, es_batch=4)
    samples = draw(st.lists(st.tuples(
        st.lists(with_rails(0, timesteps), min_size=config.n_out, max_size=config.n_out),
        st.integers(0, config.n_out - 1)), min_size=1, max_size=4))
    return config, samples


@settings(max_examples=40, deadline=None)
@given(fitness_cases())
def test_fitness_accumulator_matches_golden(case):
    config, samples = case
    expected = [golden_es.fitness(config, [c for c, _ in samples[:n + 1]],
                                  [l for _, l in samples[:n + 1]])
                for n in range(len(samples))]
    assert fitness_rtl(config, samples, config.margin) == expected, \
        f"FitnessAccumulator differs from golden fitness: {case}"


def test_fitness_holds_the_worst_batch():
    # Every output at its worst error on every sample of a full batch: the register
    # must not wrap. T = 16, target 16, all counts 0 → |e| = 16 on the label, 0 elsewhere;
    # counts 16 and label elsewhere → 16 everywhere.
    config = small_config(n_out=3, timesteps=16, target_count=16, es_batch=4)
    samples = [([16, 16, 0], 2)] * 4
    worst = -4 * (16 * 16 + 16 * 16 + (16 * 16 << 2))
    assert fitness_rtl(config, samples, 0)[-1] == worst
    assert fitness_bits(config) >= (-worst).bit_length()


# -- ESUpdateLanes: rules 7 and 8 ---------------------------------------------------------

@st.composite
def update_cases(draw):
    w_bits = draw(st.sampled_from([4, 8]))
    init = min(20, (1 << (w_bits - 1)) - 1)
    rounding = draw(st.sampled_from(["nearest", "stochastic"]))
    config = small_config(w_bits=w_bits, init_range=(init, init), v_bits=20,
                          es_rank=draw(st.integers(1, 8)),
                          es_population=2 * draw(st.integers(1, 5)),
                          es_max_step=draw(st.integers(1, 1 << (w_bits - 1))),
                          rounding=rounding,
                          rounding_seed=draw(st.integers(1, 2**32 - 1)))
    lanes = draw(st.integers(1, 4))
    pairs = config.es_population // 2
    rank_values = st.integers(0, (1 << config.es_rank) - 1)
    signals = draw(st.lists(st.integers(-3, 3), min_size=pairs, max_size=pairs))
    a = draw(st.lists(st.lists(rank_values, min_size=lanes, max_size=lanes),
                      min_size=pairs, max_size=pairs))
    b = draw(st.lists(rank_values, min_size=pairs, max_size=pairs))
    weights = draw(st.lists(with_rails(config.w_min, config.w_max),
                            min_size=lanes, max_size=lanes))
    shift = draw(st.integers(0, 16 if rounding == "stochastic" else 20))
    return config, signals, a, b, weights, shift, draw(st.integers(0, 3))


def update_rtl(config, signals, a, b, weights, shift, word, row_dither):
    lanes = len(weights)
    dut = ESUpdateLanes(config, lanes)
    out = {}

    async def accumulate(ctx, signals):
        for d, a_k, b_k in zip(signals, a, b):
            ctx.set(dut.d, d)
            ctx.set(dut.a, a_k)
            ctx.set(dut.b, b_k)
            ctx.set(dut.accumulate, 1)
            await ctx.tick()
        ctx.set(dut.accumulate, 0)

    async def testbench(ctx):
        await accumulate(ctx, [3] * len(signals))   # a word before this one
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await accumulate(ctx, signals)
        ctx.set(dut.weights, weights)
        ctx.set(dut.shift, shift)
        ctx.set(dut.dither, (row_dither + word * lanes * DITHER_STEP) & 0xFFFF)
        for _ in range(ACCUMULATE_LATENCY + STEP_LATENCY):
            await ctx.tick()
        out["new"] = [ctx.get(dut.new_weights[lane]) for lane in range(lanes)]
        out["changed"] = [ctx.get(dut.changed[lane]) for lane in range(lanes)]

    simulate(dut, testbench)
    return out["new"], out["changed"]


def update_golden(config, signals, a, b, weights, shift, word):
    """The word as the ``word``-th of its row (columns before it are zero updates, so
    only their dithers count): golden's rules 7-8 on the row; and the row's dither."""
    lanes = len(weights)
    first = word * lanes
    per_pair = [[S] for S in golden_es.rank_sums(
        config.replace(n_in=1, hidden=(first + lanes,)),
        [(np.array([0] * first + a_k), np.array([b_k])) for a_k, b_k in zip(a, b)])]
    # rank_sums gives layer 0 only here: one row against first + lanes neurons.
    Z = golden_es.accumulate_update(config.replace(n_in=1, hidden=(first + lanes,)),
                                    [[S[0], np.zeros((first + lanes, 1), np.int8)]
                                     for S in per_pair], signals)[0]
    Z[0, :first] = 0
    row = np.array([[0] * first + list(weights)], dtype=np.int64)
    rounding = RoundingGenerator(config) if config.rounding == "stochastic" else None
    state = rounding.state.copy() if rounding else None
    golden_es.apply_es_update(config, [row], [Z], [shift], rounding)
    row_dither = (xorshift32(int(state[0])) >> 16) if rounding else 0
    new = row[0, first:].tolist()
    return new, [int(n != w) for n, w in zip(new, weights)], row_dither


@settings(max_examples=60, deadline=None)
@given(update_cases())
def test_es_update_lanes_match_golden(case):
    config, signals, a, b, weights, shift, word = case
    new, changed, row_dither = update_golden(config, signals, a, b, weights, shift, word)
    assert update_rtl(config, signals, a, b, weights, shift, word, row_dither) == \
        (new, changed), f"ESUpdateLanes differs from golden rules 7-8: {case}"
