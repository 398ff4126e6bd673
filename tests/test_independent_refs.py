"""Everything golden makes that the hardware imports (the generators, the feedback table,
the dither step, the initial weights, the training order), checked against values that
do not come from golden: published sequences, tables derived by hand in the comments
below, and ``tests/reference.py``, which builds them again from the written contract.

The hardware twins are tested against golden, so they follow golden wherever it goes;
these tests are the ones that notice when golden itself moves.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import spikefab.golden.rng as golden_rng
from spikefab.golden.learning import (DITHER_STEP, RoundingGenerator, apply_update,
                                      feedback_table)
from spikefab.golden.network import GoldenNet, init_weights
from spikefab.golden.rng import XorShift32, lfsr16_draws, lfsr16_step, xorshift32
from spikefab.train import train_epochs
from spikefab.golden.datasets import Dataset

import reference
from conftest import random_configs, small_config


# -- xorshift32 ---------------------------------------------------------------------------

# Marsaglia, "Xorshift RNGs" (J. Stat. Softw. 8(14), 2003): xorshift32 with shifts
# 13, 17, 5 from y = 2463534242, the paper's example seed.
MARSAGLIA_2463534242 = [723471715, 2497366906, 2064144800, 2008045182, 3532304609]
# From state 1 (the first one by hand: 1 ^ 1<<13 = 8193; 8193 >> 17 = 0;
# 8193 ^ 8193<<5 = 8193 ^ 262176 = 270369).
FROM_1 = [270369, 67634689, 2647435461, 307599695, 2398689233, 745495504, 632435482,
          435756210, 2005365029, 2916098932, 2657092299, 1495045943, 3031976842, 82049198,
          87470069, 3385103793]


@pytest.mark.parametrize("seed, expected", [(2463534242, MARSAGLIA_2463534242),
                                            (1, FROM_1)])
def test_xorshift32_published_sequence(seed, expected):
    plain = reference.Xorshift32(seed)
    assert [plain.next() for _ in expected] == expected
    rng = XorShift32(seed)
    assert [rng.next() for _ in expected] == expected
    state, states = seed, []
    for _ in expected:
        state = int(xorshift32(state))
        states.append(state)
    assert states == expected


def test_xorshift32_zero_seed_is_the_golden_ratio():
    assert reference.XORSHIFT_ZERO_SEED == 0x9E3779B9
    assert XorShift32(0).state == reference.Xorshift32(0).state == 0x9E3779B9
    assert XorShift32(2 ** 32).state == 0x9E3779B9      # only the low 32 bits count


# -- LFSR16 -------------------------------------------------------------------------------

# The Galois LFSR x^16 + x^14 + x^13 + x^11 + 1 (mask 0xB400) from 0xACE1, stepped by
# hand: 0xACE1 is odd, so 0xACE1 >> 1 = 0x5670, ^ 0xB400 = 0xE270; even: 0x7138; even:
# 0x389C; even: 0x1C4E; even: 0x0E27; odd: 0x0713 ^ 0xB400 = 0xB313; odd: 0x5989 ^ 0xB400
# = 0xED89; odd: 0x76C4 ^ 0xB400 = 0xC2C4 (draw 0); then 0x6162, 0x30B1, 0xAC58, 0x562C,
# 0x2B16, 0x158B, 0xBEC5, 0xEB62 (draw 1); ..., 0x753B (draw 2).
LFSR_FROM_ACE1 = [0xE270, 0x7138, 0x389C, 0x1C4E, 0x0E27, 0xB313, 0xED89, 0xC2C4,
                  0x6162, 0x30B1, 0xAC58, 0x562C, 0x2B16, 0x158B, 0xBEC5, 0xEB62]
DRAWS_FROM_ACE1 = [0xC2C4, 0xEB62, 0x753B]


def test_lfsr16_hand_stepped_states():
    assert reference.LFSR16_MASK == golden_rng.LFSR16_MASK == 0xB400
    assert reference.lfsr16_states(0xACE1, 16) == LFSR_FROM_ACE1
    state, states = 0xACE1, []
    for _ in LFSR_FROM_ACE1:
        state = lfsr16_step(state)
        states.append(state)
    assert states == LFSR_FROM_ACE1


def test_lfsr16_draws_are_every_eighth_state_pinned():
    assert reference.lfsr16_draws(0xACE1, 3, 16) == DRAWS_FROM_ACE1
    assert list(lfsr16_draws(0xACE1, 3, 16)) == DRAWS_FROM_ACE1
    assert list(lfsr16_draws(0xACE1, 3, 8)) == [0xC4, 0x62, 0x3B]
    assert list(lfsr16_draws(0xACE1, 3, 1)) == [0, 0, 1]


@pytest.mark.parametrize("seed", [1, 0xACE1, 0xFFFF])
@pytest.mark.parametrize("bits", [1, 5, 8])
def test_lfsr16_draws_equal_the_plain_statement(seed, bits):
    # 3000 draws: 24,000 steps, every state of the first 24,000 compared through its
    # low bits (both rails of the seed range, 1 and 0xFFFF, and the preset's 0xACE1).
    assert list(lfsr16_draws(seed, 3000, bits)) == reference.lfsr16_draws(seed, 3000, bits)


# -- the rounding generator and the dither ------------------------------------------------

def test_rounding_generator_draws_are_the_high_halves():
    # The high halves of FROM_1: 270369 >> 16 = 4, 67634689 >> 16 = 1032, ...
    expected = [s >> 16 for s in FROM_1]
    assert expected[:5] == [4, 1032, 40396, 4693, 36601]
    assert reference.rounding_draws(1, len(FROM_1)) == expected
    rounding = RoundingGenerator(small_config(rounding="stochastic", rounding_seed=1))
    assert [rounding.draw() for _ in FROM_1] == expected
    assert rounding.state[0] == FROM_1[-1]


def test_rounding_generator_from_the_preset_seed():
    config = small_config(rounding="stochastic")        # rounding_seed = 0x2545F491
    rounding = RoundingGenerator(config)
    assert [rounding.draw() for _ in range(2000)] == \
        reference.rounding_draws(0x2545F491, 2000)


def test_dither_step_is_the_16_bit_golden_ratio():
    assert reference.DITHER_STEP == 0x9E37 == DITHER_STEP


@pytest.mark.parametrize("shift", [1, 4, 9, 16])      # 16: the widest dither
def test_dither_along_a_wide_row(shift):
    """Three drawing rows of 1,024 synapses against the plain statement: synapse ``j``
    rounds with its own dither ``(R + j·step) mod 2**16``, so the step is read at every
    column (a step off by 2 moves dithers by up to 2,046, dozens of them across a
    rounding boundary per row)."""
    n = 1024
    rng = np.random.default_rng(shift)
    post = rng.integers(-(2 << shift), (2 << shift) + 1, n)     # zeros too: no change
    pre = np.array([1, 0, 1, 2])          # a silent row draws nothing
    config = small_config(rounding="stochastic", rounding_seed=0xDEADBEEF)
    weights = rng.integers(-100, 101, (4, n)).astype(np.int16)
    expected = weights.astype(int).tolist()
    state = [config.rounding_seed]
    writes = reference.update_layer(expected, pre.tolist(), post.tolist(), shift,
                                    -128, 127, state)
    rounding = RoundingGenerator(config)
    assert apply_update(weights, pre, post, shift, -128, 127, rounding) == writes > 0
    assert weights.tolist() == expected
    assert rounding.state[0] == state[0]


# -- the feedback table -------------------------------------------------------------------

# feedback_seed = 1, n_out = 3, hidden = (4,), k_fb = 2. The draws are FROM_1 = d1, d2, …
# Per neuron: permutation(3) takes d % 3 (swap 2 with it), then d % 2 (swap 1 with it);
# output j mod 3 is swapped to the front; two draws give the signs (+1 when odd).
#   j=0: d1 % 3 = 0: [2,1,0]; d2 % 2 = 1: [2,1,0]; 0 to the front: [0,1,2] → [0,1];
#        d3, d4 odd: +1, +1
#   j=1: d5 % 3 = 2: [0,1,2]; d6 % 2 = 0: [1,0,2]; 1 is in front → [1,0];
#        d7, d8 even: -1, -1
#   j=2: d9 % 3 = 2: [0,1,2]; d10 % 2 = 0: [1,0,2]; 2 to the front: [2,0,1] → [2,0];
#        d11, d12 odd: +1, +1
#   j=3: d13 % 3 = 1: [0,2,1]; d14 % 2 = 0: [2,0,1]; 0 to the front: [0,2,1] → [0,2];
#        d15, d16 odd: +1, +1
# (d3 = 2647435461 and d7 = 632435482 differ in bit 0 and bit 1: a sign from the wrong
# bit is a different table.)
HAND_INDEX = [[0, 1], [1, 0], [2, 0], [0, 2]]
HAND_SIGN = [[1, 1], [-1, -1], [1, 1], [1, 1]]


def test_feedback_table_hand_derived():
    config = small_config(n_out=3, hidden=(4,), k_fb=2, feedback_seed=1)
    assert reference.feedback_tables(config) == [(HAND_INDEX, HAND_SIGN)]
    (index, sign), = feedback_table(config)
    assert index.tolist() == HAND_INDEX and sign.tolist() == HAND_SIGN
    # k_fb = 1 keeps the first column of the same permutations; the signs take d3, d7,
    # d11, d15.
    (index, sign), = feedback_table(config.replace(k_fb=1))
    assert index.tolist() == [[0], [1], [2], [0]]
    assert sign.tolist() == [[1], [-1], [1], [1]]


# -- the initial weights ------------------------------------------------------------------

# init_seed = 1, 2 → 3 → 2, init_range (3, 1): layer 0 takes d1 … d6 mod 7 = 1, 3, 6, 4, 3,
# 5, minus 3: -2, 0, 3, 1, 0, 2, row-major into 2 rows of 3; layer 1 takes d7 … d12 mod 3
# = 1, 0, 2, 1, 0, 2, minus 1: 0, -1, 1, 0, -1, 1 into 3 rows of 2.
HAND_WEIGHTS = [[[-2, 0, 3], [1, 0, 2]], [[0, -1], [1, 0], [-1, 1]]]


def test_init_weights_hand_derived():
    config = small_config(n_in=2, hidden=(3,), n_out=2, init_range=(3, 1), init_seed=1)
    assert reference.init_weights(config) == HAND_WEIGHTS
    assert [w.tolist() for w in init_weights(config)] == HAND_WEIGHTS
    assert [w.tolist() for w in GoldenNet(config).weights] == HAND_WEIGHTS


@settings(max_examples=60)
@given(config=random_configs())
def test_tables_equal_the_plain_statement(config):
    """Feedback tables and initial weights of random configs (1 and 2 hidden layers,
    k_fb from 1 to n_out, init_range from 0 to w_max, seeds over 32 bits, 0 included)."""
    tables = feedback_table(config)
    assert [(i.tolist(), s.tolist()) for i, s in tables] == reference.feedback_tables(config)
    assert [w.tolist() for w in init_weights(config)] == reference.init_weights(config)


# -- orders -------------------------------------------------------------------------------

class RecordingNet(GoldenNet):
    """A golden net that records which training sample it is given (the sample's index
    is written into its raster in binary)."""

    def __init__(self, config):
        super().__init__(config)
        self.seen = []

    def train(self, raster, label):
        bits = np.asarray(raster).reshape(-1)[:12]
        self.seen.append(int(sum(int(b) << k for k, b in enumerate(bits))))
        return super().train(raster, label)


def test_training_order_is_the_documented_permutations():
    """Epoch e visits the training set in the e-th permutation drawn from
    ``XorShift32(seed + 0x5EED)`` (spikefab.train)."""
    config = small_config()             # 6 timesteps × 6 inputs: 36 raster bits
    n = 23
    x = np.zeros((n, config.timesteps, config.n_in), dtype=np.uint8)
    for k in range(n):
        x[k].reshape(-1)[:12] = [(k >> b) & 1 for b in range(12)]
    y = np.arange(n) % config.n_out
    dataset = Dataset("ordered", "events", x, y, x[:2], y[:2])
    model = RecordingNet(config)
    train_epochs(model, dataset, epochs=3, seed=4, progress=False, eval_each_epoch=False)
    order = reference.Xorshift32(4 + reference.ORDER_SEED_OFFSET)
    expected = [k for _ in range(3) for k in order.permutation(n)]
    assert model.seen == expected
