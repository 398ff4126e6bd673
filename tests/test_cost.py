"""The cost model against the chip: every sample's busy cycles lie between the
memory-port bound and the worst case that sizes the per-sample counters, and the worst
case holds for the densest sample (every input at full intensity, every update made); and
the cycle model of :func:`spikefab.cost.cycle_model` brackets each sample's cycles, row by
row and with the rows overlapped."""

import numpy as np
import pytest

from spikefab.cost import (cycle_model, max_sample_cycles, max_sample_sops,
                           max_sample_writes, memory_port_bound, sample_counter_bits)
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.layout import Layout
from spikefab.protocol import pixel_payload

from conftest import small_config
from hw_support import LearningCore, run_sample, set_registers, simulate


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("overrides", [
    dict(n_in=10, hidden=(7,), n_out=3, timesteps=6),
    dict(n_in=9, hidden=(7, 5), n_out=4, timesteps=5, lanes=3, k_fb=2, threshold=1),
], ids=["one-hidden", "two-hidden-dense"])
def test_cycles_lie_between_the_bounds(overrides, latency):
    config = small_config(**overrides, margin=0, lr_shift_out=0, lr_shift_hidden=0)
    core = LearningCore(config, weight_latency=latency)
    rng = np.random.default_rng(5)
    images = [np.full(config.n_in, config.pixel_max)] + \
        [rng.integers(0, config.pixel_max + 1, config.n_in) for _ in range(4)]
    seen = []

    async def testbench(ctx):
        golden = GoldenNet(config)
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        for n, image in enumerate(images):
            hw = await run_sample(ctx, core, pixel_payload(image, config), label=n % 3)
            seen.append(hw)

    simulate(core, testbench)
    worst = max_sample_cycles(config, latency)
    for n, hw in enumerate(seen):
        assert hw["sops"] <= max_sample_sops(config) and hw["writes"] <= max_sample_writes(config)
        assert memory_port_bound(config, hw["sops"], hw["writes"]) <= hw["cycles"] <= worst, \
            f"sample {n}: {hw['cycles']} cycles outside [port bound, {worst}]"
        assert hw["cycles"] < 1 << sample_counter_bits(config, latency)["cycles"]
    assert seen[0]["writes"] > 0, "the dense sample made no update: the test proves little"


def model_of(config, latency, before, result):
    """:func:`cycle_model` of one golden training sample: spikes per layer, the rows
    updated and the weight words written (a word with any weight changed)."""
    layout = Layout(config)
    spikes = [int(c.sum()) for c in result.counts[:-1]]
    if result.skipped:
        return cycle_model(config, latency, spikes=spikes)
    words = 0
    for old, new, per_row in zip(before, result.weights, layout.words_per_row):
        fan_in, fan_out = old.shape
        changed = np.zeros((fan_in, per_row * config.lanes), bool)
        changed[:, :fan_out] = old != new
        words += int(changed.reshape(fan_in, per_row, config.lanes).any(axis=2).sum())
    return cycle_model(config, latency, spikes=spikes,
                       rows_updated=[int((c > 0).sum()) for c in result.counts[:-1]],
                       words_written=words)


#: Cycles the model leaves out: the hand-overs between phases, per layer and timestep,
#: and per sample (start, readout, finish).
HANDOVER_PER_PHASE = 4
HANDOVER_PER_SAMPLE = 40


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("lanes", [2, 4, 8, 16])
def test_cycle_model_brackets_measured_cycles(lanes, latency):
    # Row by row (2 lanes) and overlapped (4 on), 1, 2 and 4 pixels a cycle: every
    # training sample's cycles lie between the model's ``least`` and its ``total``
    # plus the hand-overs it leaves out.
    config = small_config(n_in=40, hidden=(24,), n_out=4, timesteps=5, lanes=lanes,
                          threshold=20, v_bits=16, margin=0, lr_shift_out=2,
                          lr_shift_hidden=3, rounding="stochastic")
    core = LearningCore(config, weight_latency=latency)
    rng = np.random.default_rng(3)
    images = rng.integers(0, config.pixel_max + 1, (4, config.n_in))
    images[1, :20] = 0                      # a long stretch without spikes
    seen = []

    async def testbench(ctx):
        golden = GoldenNet(config)
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        for n, (image, raster) in enumerate(zip(images, encode(images, config))):
            hw = await run_sample(ctx, core, pixel_payload(image, config), label=n % 4)
            before = [w.copy() for w in golden.weights]
            result = golden.train(raster, n % 4)
            result.weights = golden.weights
            seen.append((hw["cycles"], model_of(config, latency, before, result)))

    simulate(core, testbench)
    phases = config.timesteps * 2 * len(config.weight_shapes)
    slack = HANDOVER_PER_PHASE * phases + HANDOVER_PER_SAMPLE
    for n, (cycles, model) in enumerate(seen):
        assert model["least"] <= cycles <= model["total"] + slack, \
            f"sample {n}: {cycles} cycles outside the model's [{model['least']}, " \
            f"{model['total']} + {slack}] ({model})"
