"""The rounding generator alone against golden's ``RoundingGenerator``: any sequence of
draws and reseeds yields golden's row dithers; xorshift32 pinned to Marsaglia's numbers."""

import pytest
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import RoundingGenerator as GoldenGenerator
from spikefab.golden.rng import XorShift32, xorshift32
from spikefab.hw.rounding import RoundingGenerator

from conftest import small_config
from hw_support import simulate


def test_xorshift32_is_marsaglias():
    # Independent of golden: Marsaglia's xorshift32 (13, 17, 5) from 1, worked by hand.
    x = 1
    x ^= (x << 13) & 0xFFFFFFFF      # 8193
    x ^= x >> 17                     # 8193
    x ^= (x << 5) & 0xFFFFFFFF       # 270369
    assert x == 270369
    assert xorshift32(1) == 270369
    assert XorShift32(1).next() == 270369
    assert xorshift32(0xFFFFFFFF) < 1 << 32


def generator_rtl(seed, ops):
    """``ops``: "draw" / "reseed" / "idle" per cycle; the dithers of the draws."""
    dut = RoundingGenerator(seed)
    dithers = []

    async def testbench(ctx):
        for op in ops:
            ctx.set(dut.draw, op == "draw")
            ctx.set(dut.reseed, op == "reseed")
            if op == "draw":
                dithers.append(ctx.get(dut.row_dither))
            await ctx.tick()

    simulate(dut, testbench)
    return dithers


def generator_golden(seed, ops):
    generator = GoldenGenerator(small_config(rounding="stochastic", rounding_seed=seed))
    dithers = []
    for op in ops:
        if op == "draw":
            dithers.append(generator.draw())
        elif op == "reseed":
            generator.reseed()
    return dithers


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2**32 - 1),
       st.lists(st.sampled_from(["draw", "draw", "idle", "reseed"]), max_size=40))
def test_generator_matches_golden(seed, ops):
    assert generator_rtl(seed, ops) == generator_golden(seed, ops), \
        f"RoundingGenerator differs from golden for seed {seed:#x}, ops {ops}"


@pytest.mark.parametrize("seed", [0, -1, 1 << 32, "1"])
def test_init_wrong_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-zero unsigned 32-bit integer"):
        RoundingGenerator(seed)
