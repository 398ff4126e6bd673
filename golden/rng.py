"""The two pseudo-random generators of the contract, specified bit for bit.

Neither depends on numpy's generators, whose streams may change between releases.

``xorshift32``
    Marsaglia's xorshift32 (shifts 13, 17, 5) on an unsigned 32-bit state. A seed of 0 is
    replaced by ``0x9E3779B9`` (the all-zero state is a fixed point). Used on the host for
    weight initialisation, the feedback table and the training order.

``LFSR16``
    The rate encoder's generator: a 16-bit right-shifting Galois LFSR with feedback mask
    ``0xB400`` (``x^16 + x^14 + x^13 + x^11 + 1``, maximal, period 65535). One *draw*
    advances it 8 steps and returns the low ``pixel_bits`` bits of the new state. The
    hardware unrolls the 8 steps into one XOR network.
"""

import functools

import numpy as np
from numba import njit


__all__ = ["XorShift32", "xorshift32", "XORSHIFT32_SHIFTS", "XORSHIFT32_ZERO_SEED",
           "lfsr16_step", "lfsr16_draws", "ORDER_SEED_OFFSET"]

#: A run's training order (DFA's sample order; ES's epoch order and pair seeds) comes
#: from ``XorShift32(seed + ORDER_SEED_OFFSET)``.
ORDER_SEED_OFFSET = 0x5EED


LFSR16_MASK = 0xB400
LFSR16_STEPS_PER_DRAW = 8


#: xorshift32's shifts: ``x ^= x << 13``, ``x ^= x >> 17``, ``x ^= x << 5`` (hardware too).
XORSHIFT32_SHIFTS = (13, 17, 5)
_LEFT_A, _RIGHT, _LEFT_B = XORSHIFT32_SHIFTS
#: What a seed of 0 becomes (2**32 / φ): the all-zero state is xorshift32's fixed point.
XORSHIFT32_ZERO_SEED = 0x9E3779B9


@njit(cache=True, nogil=True)
def xorshift32(x):
    """The state after ``x`` (an unsigned 32-bit value): the one definition of the step."""
    x ^= (x << _LEFT_A) & 0xFFFFFFFF
    x ^= x >> _RIGHT
    x ^= (x << _LEFT_B) & 0xFFFFFFFF
    return x


class XorShift32:
    """Marsaglia xorshift32; :meth:`next` returns the new 32-bit state."""

    def __init__(self, seed):
        self.state = (seed & 0xFFFFFFFF) or XORSHIFT32_ZERO_SEED

    def next(self):
        self.state = int(xorshift32(self.state))
        return self.state

    def below(self, n):
        """An integer in ``0 … n-1`` (``next() % n``; the modulo bias is accepted)."""
        return self.next() % n

    def integers(self, low, high, count):
        """``count`` integers uniform in ``low … high`` inclusive, as an int64 array."""
        span = high - low + 1
        return np.fromiter((low + self.below(span) for _ in range(count)),
                           dtype=np.int64, count=count)

    def permutation(self, n):
        """Fisher-Yates shuffle of ``0 … n-1``: for i from n-1 down to 1, swap i with below(i+1)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return np.array(order, dtype=np.int64)


def lfsr16_step(state):
    """One step of the Galois LFSR: shift right, XOR the mask in when a 1 fell out."""
    lsb = state & 1
    state >>= 1
    if lsb:
        state ^= LFSR16_MASK
    return state


@functools.lru_cache(maxsize=16)
def _lfsr16_states(seed):
    """State after each draw, starting from ``seed``: one full period (65535 draws)."""
    states = np.empty(65535, dtype=np.uint16)
    state = seed
    for n in range(65535):
        for _ in range(LFSR16_STEPS_PER_DRAW):
            state = lfsr16_step(state)
        states[n] = state
    states.flags.writeable = False
    return states


def lfsr16_draws(seed, count, bits):
    """The first ``count`` draws after loading ``seed``, each the low ``bits`` bits.

    Draw ``n`` is the state after ``8 × (n + 1)`` steps. The sequence repeats after
    65535 draws (8 and 65535 are coprime, so one period of draws is one of states).
    """
    if not 1 <= seed <= 0xFFFF:
        raise ValueError(f"LFSR seed must be a non-zero 16-bit value, not {seed}")
    states = _lfsr16_states(seed)
    reps = -(-count // 65535)
    seq = np.tile(states, reps)[:count] if reps > 1 else states[:count]
    return (seq & ((1 << bits) - 1)).astype(np.int64)
