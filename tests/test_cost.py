"""The cost model against the chip: every sample's busy cycles lie between the
memory-port bound and the worst case that sizes the per-sample counters, and the worst
case holds for the densest sample (every input at full intensity, every update made)."""

import numpy as np
import pytest

from spikefab.cost import (max_sample_cycles, max_sample_sops, max_sample_writes,
                           memory_port_bound, sample_counter_bits)
from spikefab.golden.network import GoldenNet
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
