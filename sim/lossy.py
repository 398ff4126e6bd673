"""A noisy wire for the host driver: wraps any transport and damages bytes on their way.

Each byte, in either direction, suffers a fault with probability ``rate``, its kind
drawn evenly from ``kinds``:

- ``drop``: the byte never arrives;
- ``flip``: one of its bits is inverted;
- ``duplicate``: it arrives twice;
- ``delay``: it arrives after 1 to ``max_delay`` idle cycles (the inner transport's
  ``idle``; the chip's receiver times out on a long one inside a frame).

The faults come from a seeded :class:`random.Random`, so a run is repeatable, and each
is counted in ``faults`` under ``"<direction> <kind>"`` (direction ``send``: host to
chip; ``recv``: chip to host) and in total per kind. ``bytes_sent`` and
``bytes_received`` count the bytes the host gave and took, before the damage.
"""

import collections
import random


__all__ = ["LossyTransport", "KINDS"]

KINDS = ("drop", "flip", "duplicate", "delay")


class LossyTransport:
    """Parameters
    ----------
    inner : transport (``send``, ``recv``, optionally ``flush`` and ``idle``)
    rate : float
        Probability of a fault per byte.
    seed : int
    kinds : tuple of str
        The faults drawn from (``delay`` needs ``inner.idle``).
    max_delay : int
        The longest delay, in the inner transport's idle steps (clock cycles).
    """

    def __init__(self, inner, *, rate, seed=0, kinds=KINDS, max_delay=100):
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown or not kinds:
            raise ValueError(f"fault kinds must be some of {KINDS}, not {tuple(kinds)}")
        if "delay" in kinds and not hasattr(inner, "idle"):
            raise ValueError("the delay fault needs a transport with idle()")
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be a probability, not {rate!r}")
        self.inner = inner
        self.rate = rate
        self.kinds = tuple(kinds)
        self.max_delay = max_delay
        self.rng = random.Random(seed)
        self.faults = collections.Counter()
        self.bytes_sent = 0
        self.bytes_received = 0
        self._pending = bytearray()

    def _fault(self, direction):
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        self.faults[kind] += 1
        self.faults[f"{direction} {kind}"] += 1
        return kind

    def _damaged(self, byte, kind):
        """The bytes that arrive for ``byte`` (the delay is the caller's)."""
        if kind == "drop":
            return b""
        if kind == "flip":
            return bytes([byte ^ (1 << self.rng.randrange(8))])
        if kind == "duplicate":
            return bytes([byte, byte])
        return bytes([byte])

    async def _delay(self):
        await self.inner.idle(self.rng.randint(1, self.max_delay))

    async def send(self, data):
        out = bytearray()
        for byte in data:
            self.bytes_sent += 1
            kind = self._fault("send")
            if kind == "delay":
                if out:
                    await self.inner.send(bytes(out))
                    out.clear()
                await self._delay()
            out += self._damaged(byte, kind)
        if out:
            await self.inner.send(bytes(out))

    async def recv(self, n):
        while len(self._pending) < n:
            byte = (await self.inner.recv(1))[0]
            self.bytes_received += 1
            kind = self._fault("recv")
            if kind == "delay":
                await self._delay()
            self._pending += self._damaged(byte, kind)
        out = bytes(self._pending[:n])
        del self._pending[:n]
        return out

    async def flush(self):
        self._pending.clear()
        flush = getattr(self.inner, "flush", None)
        if flush is not None:
            await flush()

    def summary(self):
        """Bytes and faults, for a report."""
        return {"bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                "faults": dict(sorted(self.faults.items()))}
