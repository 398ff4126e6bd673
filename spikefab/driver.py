"""Host driver of the chip: speaks :mod:`spikefab.protocol` over a transport.

A transport has two coroutines, ``send(data)`` and ``recv(n)`` (exactly ``n`` bytes).
:class:`SerialTransport` talks to a board over a serial port (pyserial); the simulator
transports live in ``sim/``. :class:`Chip` is async so the same code drives a board, an
Amaranth simulation and a cocotb testbench.
"""

import asyncio
import struct

import numpy as np

from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, ERROR_REPLY, MAGIC, REGISTER_REQUEST,
                               SAMPLE_REPLY, SAMPLE_REQUEST, STATUS_REPLY, WEIGHTS_HEADER,
                               WEIGHTS_REPLY, FrameError, Op, Register, Status,
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

    async def request(self, op, payload=b"", reply=None, **counts):
        """Send one request; raise :class:`ChipError` if it is refused. Return the reply
        body's fields as ``reply`` (a :class:`~spikefab.protocol.WireLayout`, with the
        ``counts`` its size needs) reads them, or without ``reply`` the payload after the
        status byte."""
        body = await self._exchange(op, payload)
        if reply is None:
            return body[1:]
        return self._unpack(op, reply, body, **counts)

    async def _exchange(self, op, payload):
        """The body of the reply to one request, its status checked."""
        await self.transport.send(encode_frame(bytes([op]) + bytes(payload)))
        head = await self.transport.recv(2)
        (length,) = struct.unpack("<H", head)
        rest = await self.transport.recv(length + 2)
        try:
            body = decode_frame(head + rest)
        except FrameError as error:
            raise ChipError(f"bad reply to {_name(Op, op)}: {error}") from None
        if body[0] != Status.OK:
            status = self._unpack(op, ERROR_REPLY, body)["status"]
            raise ChipError(f"the chip refused {_name(Op, op)}: {_name(Status, status)}",
                            status=status)
        return body

    @staticmethod
    def _unpack(op, layout, body, **counts):
        try:
            return layout.unpack(body, **counts)
        except ValueError as error:
            raise ChipError(f"bad reply to {_name(Op, op)}: {error}") from None

    async def status(self):
        body = await self._exchange(Op.STATUS, b"")
        magic = STATUS_REPLY.offset("magic")
        if body[magic:magic + len(MAGIC)] != MAGIC:
            raise ChipError("not a spikefab chip (bad magic in the STATUS reply)")
        reply = self._unpack(Op.STATUS, STATUS_REPLY, body)
        return {
            "version": reply["version"],
            "config_hash": reply["config_hash"].hex(),
            "lanes": reply["lanes"],
            "buffer_bytes": reply["buffer_bytes"],
            "weight_words": reply["weight_words"],
            "layers": reply["layers"],
            "margin": reply["margin"],
            "lr_shifts": reply["lr_shifts"],
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
        chunk = max(1, (buffer_bytes - WEIGHTS_HEADER.size()) // per_word)
        for start in range(0, len(words), chunk):
            part = words[start:start + chunk]
            await self.request(Op.WRITE_WEIGHTS,
                               WEIGHTS_HEADER.pack(address=start, count=len(part))
                               + self.layout.words_to_bytes(part))

    async def read_weights(self):
        """The weight matrices the chip holds."""
        per_word = self.layout.lanes * self.layout.weight_bytes
        chunk = 4096 // per_word
        words = []
        for start in range(0, self.layout.weight_depth, chunk):
            count = min(chunk, self.layout.weight_depth - start)
            reply = await self.request(Op.READ_WEIGHTS,
                                       WEIGHTS_HEADER.pack(address=start, count=count),
                                       reply=WEIGHTS_REPLY, n_bytes=count * per_word)
            words.append(self.layout.bytes_to_words(reply["words"]))
        return self.layout.unpack_weights(np.concatenate(words))

    async def set_register(self, register, value):
        await self.request(Op.SET_REGISTER, REGISTER_REQUEST.pack(register=register,
                                                                   value=value))

    async def set_lr_shifts(self, shifts):
        for layer, shift in enumerate(shifts):
            await self.set_register(Register.LR_SHIFT + layer, shift)

    async def set_margin(self, margin):
        await self.set_register(Register.MARGIN, margin)

    async def reseed_rounding(self):
        """Reload the rounding generator with the config's seed, as at reset."""
        await self.set_register(Register.RESEED_ROUNDING, 0)

    async def _sample(self, op, sample, label, events):
        data = event_payload(sample) if events else pixel_payload(sample, self.config)
        reply = await self.request(op, SAMPLE_REQUEST.pack(mode=int(events), label=label)
                                   + data, reply=SAMPLE_REPLY, n_out=self.config.n_out)
        return SampleResult(reply["prediction"], list(reply["counts"]), reply["cycles"],
                            reply["sops"], reply["weight_writes"])

    async def infer(self, sample, *, events=False):
        """One sample: pixels ``(n_in,)`` or, with ``events``, a raster ``(T, n_in)``."""
        return await self._sample(Op.INFER, sample, 0, events)

    async def train(self, sample, label, *, events=False):
        return await self._sample(Op.TRAIN, sample, int(label), events)

    async def counters(self):
        reply = await self.request(Op.READ_COUNTERS, reply=COUNTERS_REPLY)
        return {"cycles": reply["cycles"], "sops": reply["sops"],
                "weight_writes": reply["weight_writes"], "samples": reply["samples"]}

    async def clear_counters(self):
        await self.request(Op.CLEAR_COUNTERS)


def _name(kind, value):
    """``value``'s name in the enum ``kind``, or its hex code if it has none."""
    return kind(value).name if value in kind._value2member_map_ else hex(value)


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
