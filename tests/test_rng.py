import numpy as np
import pytest

from spikefab.golden.rng import XorShift32, lfsr16_draws, lfsr16_step

import reference


def test_xorshift32_known_sequence():
    # Marsaglia (2003), xorshift32 with shifts 13, 17, 5 from state 1.
    rng = XorShift32(1)
    assert [rng.next() for _ in range(5)] == [270369, 67634689, 2647435461, 307599695,
                                              2398689233]


def test_xorshift32_zero_seed_is_replaced():
    assert XorShift32(0).state == 0x9E3779B9


def test_permutation_is_a_permutation():
    order = XorShift32(5).permutation(100)
    assert sorted(order) == list(range(100))
    assert list(order) != list(range(100))


def test_permutation_order_is_pinned():
    """The order decides the digits split, every epoch's training order and the feedback
    table. From seed 5 the draws are 1351845, 336141829, 3472693697, 3580160835,
    1234782181, 1306475959, 3881343203, 2094324449, 379170181; for i = 9 … 1 they give
    j = draw % (i + 1) = 5, 1, 1, 6, 1, 4, 3, 2, 1: swap 9↔5, 8↔1, 7↔1, 5↔1 (the others
    stay)."""
    assert list(XorShift32(5).permutation(10)) == [0, 9, 2, 3, 4, 7, 6, 8, 1, 5]
    assert reference.Xorshift32(5).permutation(10) == [0, 9, 2, 3, 4, 7, 6, 8, 1, 5]
    for seed, n in ((0, 1797), (1 + 0x5EED, 1438), (7, 10), (2**32 - 1, 2), (3, 1)):
        assert list(XorShift32(seed).permutation(n)) == \
            reference.Xorshift32(seed).permutation(n)


def test_lfsr16_hand_steps():
    # 0x0001: the 1 falls out, the mask comes in.
    assert lfsr16_step(0x0001) == 0xB400
    assert lfsr16_step(0xB400) == 0x5A00
    assert lfsr16_step(0x0002) == 0x0001


def test_lfsr16_is_maximal():
    state, seen = 1, set()
    for _ in range(65535):
        seen.add(state)
        state = lfsr16_step(state)
    assert state == 1 and len(seen) == 65535 and 0 not in seen


def test_lfsr16_draws_are_every_eighth_state():
    state, expected = 0xACE1, []
    for _ in range(20):
        for _ in range(8):
            state = lfsr16_step(state)
        expected.append(state & 0xFF)
    assert list(lfsr16_draws(0xACE1, 20, 8)) == expected
    assert list(lfsr16_draws(0xACE1, 20, 3)) == [e & 7 for e in expected]


def test_lfsr16_draws_wrap_after_a_period():
    draws = lfsr16_draws(1, 65535 + 10, 8)
    assert np.array_equal(draws[65535:], draws[:10])


def test_lfsr16_draws_are_roughly_uniform():
    draws = lfsr16_draws(0xACE1, 65535, 8)
    histogram = np.bincount(draws, minlength=256)
    assert histogram.min() >= 200 and histogram.max() <= 260


def test_lfsr16_rejects_zero_seed():
    with pytest.raises(ValueError, match="non-zero"):
        lfsr16_draws(0, 1, 8)
