"""The learning core with its ES units (``es_on_chip``) in Amaranth's simulator against
golden's ES (:mod:`spikefab.golden.es`): every member's counts and fitness, every
weight and write count after each update, the update's cycles.

Each check names the block it exercises: the factor writer (``ES_FACTORS``), the
synapse engine's member weights and the fitness accumulator (``EVALUATE``) and the ES
updater (``ES_UPDATE``)."""

import numpy as np
import pytest

from spikefab.cost import es_factor_cycles, es_update_cycles
from spikefab.golden.encoders import encode
from spikefab.golden.es import (GoldenES, accumulate_update, apply_es_update,
                                pair_factors, pair_signals, rank_sums, run_member_on_the_fly)
from spikefab.hw.ports import ES_OP_FACTORS, ES_OP_SAMPLE, ES_OP_UPDATE
from spikefab.protocol import pixel_payload

from conftest import small_config
from hw_support import LearningCore, peek_weights, simulate


async def write_buffer(ctx, core, payload):
    for addr, byte in enumerate(payload):
        ctx.set(core.buf_waddr, addr)
        ctx.set(core.buf_wdata, byte)
        ctx.set(core.buf_we, 1)
        await ctx.tick()
    ctx.set(core.buf_we, 0)


async def start(ctx, core, es_op, length, **fields):
    host = core.host
    ctx.set(host.data_offset, 0)
    ctx.set(host.data_length, length)
    ctx.set(host.es_op, es_op)
    for name, value in fields.items():
        ctx.set(getattr(host, name), value)
    ctx.set(host.start, 1)
    await ctx.tick()
    ctx.set(host.start, 0)
    await ctx.tick().until(host.done)
    error = ctx.get(host.error)
    await ctx.tick()                    # the counters add each cycle's count a cycle late
    return {"error": error, "cycles": ctx.get(host.sample_cycles),
            "writes": ctx.get(host.sample_writes), "energy": ctx.get(host.energy),
            "counts": [ctx.get(host.counts[j]) for j in range(core.config.n_out)]}


async def es_factors(ctx, core, seeds):
    payload = b"".join(int(s).to_bytes(4, "little") for s in seeds)
    await write_buffer(ctx, core, payload)
    return await start(ctx, core, ES_OP_FACTORS, len(payload))


async def evaluate(ctx, core, pixels, label, member, first):
    payload = pixel_payload(pixels, core.config)
    await write_buffer(ctx, core, payload)
    return await start(ctx, core, ES_OP_SAMPLE, len(payload), train=0, events=0,
                       label=int(label), member=member, perturb=1, first=int(first))


async def es_update(ctx, core, signals):
    payload = bytes(int(d) & 0xFF for d in signals)
    await write_buffer(ctx, core, payload)
    return await start(ctx, core, ES_OP_UPDATE, len(payload))


CONFIGS = {
    "one-hidden-2-lanes-rank-3": dict(n_in=7, hidden=(6,), n_out=3, lanes=2, es_rank=3,
                                      es_population=6, es_sigma_shift=2, es_lr_shift=1),
    "two-hidden-3-lanes-stochastic": dict(n_in=9, hidden=(7, 5), n_out=4, timesteps=5,
                                          lanes=3, es_rank=2, es_population=4,
                                          rounding="stochastic", es_lr_shift=1,
                                          es_max_step=2, lr_shift_hidden=4, lr_shift_out=3),
    "wide-8-lanes-rank-5": dict(n_in=11, hidden=(10,), n_out=3, lanes=8, es_rank=5,
                                es_population=4, es_lr_shift=0, v_bits=16),
}


def es_config(name):
    return small_config(**{"threshold": 30, "es_on_chip": True, "es_batch": 2,
                           **CONFIGS[name]})


@pytest.mark.parametrize("weight_latency", [2, 3, 4])
@pytest.mark.parametrize("name", CONFIGS)
def test_es_generations_match_golden(name, weight_latency):
    config = es_config(name)
    core = LearningCore(config, weight_latency=weight_latency)
    golden = GoldenES(config)
    rng = np.random.default_rng(3)
    n_gen, batch = 2, config.es_batch
    pixels = rng.integers(0, config.pixel_max + 1, (n_gen * batch, config.n_in))
    labels = rng.integers(0, config.n_out, n_gen * batch)
    rasters = encode(pixels, config)
    seeds = rng.integers(0, 1 << 32, (n_gen, config.es_population // 2))
    seeds[0, 0] = 0                        # the generator's zero seed stands in
    n_layers = len(config.weight_shapes)
    shifts = [(config.es_lr_shift + g,) * n_layers for g in range(n_gen)]

    async def testbench(ctx):
        for g in range(n_gen):
            rows = slice(g * batch, (g + 1) * batch)
            golden.lr_shifts = shifts[g]
            ctx.set(core.host.lr_shift, list(golden.lr_shifts))
            ctx.set(core.host.margin, config.margin)
            done = await es_factors(ctx, core, seeds[g])
            assert done["error"] == 0
            assert done["cycles"] == es_factor_cycles(config), "factor writer: cycles"
            fitness_rtl = []
            for member in range(config.es_population):
                factors = pair_factors(config, int(seeds[g, member // 2]))
                sign = 1 - 2 * (member & 1)
                for b, (px, raster, label) in enumerate(zip(pixels[rows], rasters[rows],
                                                            labels[rows])):
                    hw = await evaluate(ctx, core, px, label, member, b == 0)
                    ref = run_member_on_the_fly(golden, factors, sign, raster)
                    assert hw["counts"] == [int(c) for c in ref.counts[-1]], \
                        f"synapse engine (member weights): generation {g} member " \
                        f"{member} sample {b}: counts {hw['counts']} != golden's"
                fitness_rtl.append(-hw["energy"])
            fitness, sums, _, _ = golden.evaluate_population(rasters[rows], labels[rows],
                                                             seeds[g])
            assert fitness_rtl == [int(f) for f in fitness], \
                f"fitness accumulator: generation {g}: {fitness_rtl} != {list(fitness)}"
            signals = pair_signals(fitness)
            Z = accumulate_update(config, sums, signals)
            writes = apply_es_update(config, golden.weights, Z, golden.lr_shifts,
                                     golden.rounding)
            hw = await es_update(ctx, core, signals)
            assert hw["error"] == 0
            assert hw["cycles"] == es_update_cycles(config), "ES updater: cycles"
            for layer, (a, b) in enumerate(zip(peek_weights(ctx, core), golden.weights)):
                assert np.array_equal(a, b), \
                    f"ES updater: generation {g}: weight layer {layer} differs from golden"
            assert hw["writes"] == writes, f"ES updater: generation {g}: weight writes"

    simulate(core, testbench, watch_collisions=True)


def test_es_update_refuses_a_bad_signal_and_writes_nothing():
    config = es_config("one-hidden-2-lanes-rank-3")
    core = LearningCore(config)
    golden = GoldenES(config)

    async def testbench(ctx):
        await es_factors(ctx, core, [1, 2, 3])
        hw = await es_update(ctx, core, [3, 4, -3])
        assert hw["error"] == 1, "ES updater: a signal of 4 was not refused"
        hw = await es_update(ctx, core, [3, 0, -4])
        assert hw["error"] == 1, "ES updater: a signal of -4 was not refused"
        for a, b in zip(peek_weights(ctx, core), golden.weights):
            assert np.array_equal(a, b), "ES updater: a refused update wrote"

    simulate(core, testbench)


def factor_memories(ctx, core, config, layout, pair):
    """Pair ``pair``'s factor bits as the core holds them: ``[(a, b)]`` per layer."""
    a_mem, b_mem = core.es_unit.factor_memories
    out = []
    for layer, (fan_in, fan_out) in enumerate(config.weight_shapes):
        words = [ctx.get(a_mem.data[pair * layout.factor_a_depth + layout.neuron_base[layer]
                                    + w]) for w in range(layout.neuron_words[layer])]
        a = [word[q] for word in words for q in range(layout.lanes)][:fan_out]
        b = [ctx.get(b_mem.data[pair * layout.factor_b_depth + layout.factor_b_base[layer]
                                + i]) for i in range(fan_in)]
        out.append((a, b))
    return out


@pytest.mark.parametrize("name", CONFIGS)
def test_factor_writer_fills_the_memories_with_every_pairs_factors(name):
    """ES_FACTORS twice (the second over the first's memories, after an update that
    read the buffer): every row of A and B equals golden's pair_factors."""
    config = es_config(name)
    core = LearningCore(config)
    layout = core.layout
    pairs = config.es_population // 2
    seeds = [[0, 0xFFFFFFFF, 0x12345678, 7][:pairs], [1, 2, 3, 4][:pairs]]

    async def testbench(ctx):
        for n, generation in enumerate(seeds):
            if n:
                await es_update(ctx, core, [0] * pairs)
            await es_factors(ctx, core, generation)
            for pair, seed in enumerate(generation):
                want = [(list(a), list(b)) for a, b in pair_factors(config, seed)]
                got = factor_memories(ctx, core, config, layout, pair)
                assert got == want, f"factor writer: seeds {generation}, pair {pair} " \
                                    f"(seed {seed:#x}): {got} != golden's {want}"

    simulate(core, testbench)
