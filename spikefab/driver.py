"""Host driver of the chip: speaks :mod:`spikefab.protocol` over a transport.

A transport has two coroutines, ``send(data)`` and ``recv(n)`` (exactly ``n`` bytes).
:class:`SerialTransport` talks to a board over a serial port (pyserial); the simulator
transports live in ``sim/``. :class:`Chip` is async so the same code drives a board, an
Amaranth simulation and a cocotb testbench.
"""

import asyncio
import struct

import numpy as np

from .layout import Layout
from .protocol import (MAGIC, FrameError, Op, Register, Status,
                       decode_frame, encode_frame, event_payload, pixel_payload)


__all__ = ["Chip", "ChipError", "SampleResult", "SerialTransport"]


class ChipError(Exception):
    """The chip answered with an error status, or not in the protocol."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class SampleResult:
    """What the chip reports for one sample."""

    __slots__ = ("prediction", "counts", "cycles", "sops", "weight_writes")

    def __init__(self, prediction, counts, cycles, sops, weight_writes):
        self.prediction = prediction
        self.counts = counts
        self.cycles = cycles
        self.sops = sops
        self.weight_writes = weight_writes


class Chip:
    """Parameters
    ----------
    transport : object with ``async send(bytes)`` and ``async recv(n)``
    config : :class:`~spikefab.config.Config`
        The config the chip was built for; :meth:`check` compares its hash.
    """

    def __init__(self, transport, config):
        self.transport = transport
        self.config = config
        self.layout = Layout(config)

    async def request(self, op, payload=b""):
        """Send one request; return the reply payload or raise :class:`ChipError`."""
        await self.transport.send(encode_frame(bytes([op]) + bytes(payload)))
        head = await self.transport.recv(2)
        (length,) = struct.unpack("<H", head)
        rest = await self.transport.recv(length + 2)
        try:
            body = decode_frame(head + rest)
        except FrameError as error:
            raise ChipError(f"bad reply to {Op(op).name}: {error}") from None
        status = body[0]
        if status != Status.OK:
            name = Status(status).name if status in Status._value2member_map_ else hex(status)
            raise ChipError(f"the chip refused {Op(op).name if op in Op._value2member_map_ else hex(op)}:"
                            f" {name}", status=status)
        return body[1:]

    async def status(self):
        reply = await self.request(Op.STATUS)
        if reply[:4] != MAGIC:
            raise ChipError("not a spikefab chip (bad magic in the STATUS reply)")
        n_layers = reply[20]
        return {
            "version": reply[4],
            "config_hash": reply[5:13].hex(),
            "lanes": reply[13],
            "buffer_bytes": struct.unpack_from("<H", reply, 14)[0],
            "weight_words": struct.unpack_from("<I", reply, 16)[0],
            "layers": n_layers,
            "margin": reply[21],
            "lr_shifts": tuple(reply[22:22 + n_layers]),
        }

    async def check(self):
        """Refuse a chip built for another config."""
        status = await self.status()
        if status["config_hash"] != self.config.hash():
            raise ChipError(f"the chip was built for config {status['config_hash']}, "
                            f"not {self.config.hash()} ({self.config.name})")
        return status

    async def write_weights(self, weights):
        """Write golden-shaped weight matrices, in chunks that fit the chip's buffer."""
        words = self.layout.pack_weights(weights)
        per_word = self.layout.lanes * self.layout.weight_bytes
        # A request's payload (6 header bytes and the words) must fit the input buffer.
        buffer_bytes = (await self.status())["buffer_bytes"]
        chunk = max(1, (buffer_bytes - 6) // per_word)
        for start in range(0, len(words), chunk):
            part = words[start:start + chunk]
            await self.request(Op.WRITE_WEIGHTS, struct.pack("<IH", start, len(part))
                               + self.layout.words_to_bytes(part))

    async def read_weights(self):
        """The weight matrices the chip holds."""
        per_word = self.layout.lanes * self.layout.weight_bytes
        chunk = 4096 // per_word
        words = []
        for start in range(0, self.layout.weight_depth, chunk):
            count = min(chunk, self.layout.weight_depth - start)
            reply = await self.request(Op.READ_WEIGHTS, struct.pack("<IH", start, count))
            words.append(self.layout.bytes_to_words(reply))
        return self.layout.unpack_weights(np.concatenate(words))

    async def set_lr_shifts(self, shifts):
        for layer, shift in enumerate(shifts):
            await self.request(Op.SET_REGISTER, bytes([Register.LR_SHIFT + layer, shift]))

    async def set_margin(self, margin):
        await self.request(Op.SET_REGISTER, bytes([Register.MARGIN, margin]))

    async def reseed_rounding(self):
        """Reload the rounding generator with the config's seed, as at reset."""
        await self.request(Op.SET_REGISTER, bytes([Register.RESEED_ROUNDING, 0]))

    async def _sample(self, op, sample, label, events):
        data = event_payload(sample) if events else pixel_payload(sample, self.config)
        reply = await self.request(op, struct.pack("<BH", int(events), label) + data)
        n_out = self.config.n_out
        prediction, = struct.unpack_from("<H", reply)
        counts = list(reply[2:2 + n_out])
        cycles, sops, writes = struct.unpack_from("<III", reply, 2 + n_out)
        return SampleResult(prediction, counts, cycles, sops, writes)

    async def infer(self, sample, *, events=False):
        """One sample: pixels ``(n_in,)`` or, with ``events``, a raster ``(T, n_in)``."""
        return await self._sample(Op.INFER, sample, 0, events)

    async def train(self, sample, label, *, events=False):
        return await self._sample(Op.TRAIN, sample, int(label), events)

    async def counters(self):
        reply = await self.request(Op.READ_COUNTERS)
        cycles, sops, writes, samples = struct.unpack("<QQQQ", reply)
        return {"cycles": cycles, "sops": sops, "weight_writes": writes, "samples": samples}

    async def clear_counters(self):
        await self.request(Op.CLEAR_COUNTERS)


class SerialTransport:
    """A board's UART through pyserial (blocking reads run in a worker thread)."""

    def __init__(self, port, baudrate=115200, timeout=5.0):
        import serial
        self.port = serial.Serial(port, baudrate=baudrate, timeout=timeout)

    async def send(self, data):
        await asyncio.to_thread(self.port.write, data)

    async def recv(self, n):
        data = await asyncio.to_thread(self.port.read, n)
        if len(data) != n:
            raise ChipError(f"the chip sent {len(data)} of {n} expected bytes before the "
                            f"serial timeout")
        return data

    def close(self):
        self.port.close()
