"""Host driver of the chip: speaks :mod:`spikefab.protocol` over a transport.

A transport has two coroutines, ``send(data)`` and ``recv(n)`` (exactly ``n`` bytes; a
``TimeoutError`` when they do not come in time), and optionally ``flush()``, which drops
the input waiting. :class:`SerialTransport` talks to a board over a serial port
(pyserial); the simulator transports live in ``sim/`` (``sim/lossy.py`` wraps any of
them in a noisy wire). :class:`Chip` is async so the same code drives a board, an
Amaranth simulation and a cocotb testbench.

Every request carries a sequence number and every reply is checked for its length,
CRC and identity; a request whose reply is lost or damaged is sent again with the same
sequence number (:mod:`spikefab.protocol`, "A noisy link"). ``Chip.link`` counts
requests, retries and their causes.
"""

import asyncio
import collections
import struct

import numpy as np

from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, ERROR_REPLY, ES_FACTORS_REQUEST,
                               ES_UPDATE_REPLY, ES_UPDATE_REQUEST, EVALUATE_REPLY, MAGIC,
                               MEMBER_REQUEST, REGISTER_REQUEST, REPLIES, SAMPLE_REPLY, SAMPLE_REQUEST, SOF,
                               STATUS_REPLY, VERSION, WEIGHTS_HEADER, WEIGHTS_REPLY,
                               FrameError, Op, Register, Status, crc16, decode_frame,
                               event_payload, pixel_payload, request_frame)


__all__ = ["Chip", "ChipError", "LinkError", "LinkTimeout", "SampleResult",
           "SerialTransport"]


class ChipError(Exception):
    """The chip answered with an error status, or not in the protocol."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class LinkError(ChipError):
    """A reply lost or damaged on the link: the driver sends the request again."""

    def __init__(self, message, cause):
        super().__init__(message)
        self.cause = cause


class LinkTimeout(ChipError, TimeoutError):
    """A transport's ``recv`` got too few bytes in time."""


#: Statuses that say the request was damaged on its way: it is sent again.
LINK_STATUSES = (Status.BAD_CRC, Status.TIMEOUT)
#: Bytes skipped before a reply's ``SOF`` before the try is given up.
MAX_SKIP = 64


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
    transport : object with ``async send(bytes)``, ``async recv(n)``, optionally
        ``async flush()``
    config : :class:`~spikefab.config.Config`
        The config the chip was built for; :meth:`check` compares its hash.
    tries : int
        How often one request is sent before the driver gives up on the link.
    chunk_bytes : int
        The most weight bytes one ``READ_WEIGHTS`` or ``WRITE_WEIGHTS`` carries (a noisy
        link wants short frames).
    seq : int
        The first request's sequence number.

    ``link`` counts ``requests``, ``retried`` (requests sent more than once; also per
    opcode, ``retried TRAIN``…), ``retries`` (sends after the first) and each cause of a
    retry (``timeout``, ``bad_crc``, ``bad_length``, ``garbled``, ``identity``,
    ``refused_bad_crc``, ``refused_timeout``).
    """

    def __init__(self, transport, config, *, tries=6, chunk_bytes=4096, seq=0):
        self.transport = transport
        self.config = config
        self.layout = Layout(config)
        self.tries = tries
        self.chunk_bytes = chunk_bytes
        self.seq = seq & 0xFF
        self.link = collections.Counter(requests=0, retried=0, retries=0)
        self._skipped = b""

    async def request(self, op, payload=b"", reply=None, **counts):
        """Send one request; raise :class:`ChipError` if it is refused. Return the reply
        body's fields as ``reply`` (a :class:`~spikefab.protocol.WireLayout`, with the
        ``counts`` its size needs) reads them, or without ``reply`` the payload after the
        reply head."""
        layout = reply if reply is not None else REPLIES.get(op)
        try:
            size = layout.size(**counts) if layout is not None else None
        except TypeError:               # a size this call does not know: any length
            size = None
        sizes = None if size is None else {size, ERROR_REPLY.size()}
        body = await self._exchange(op, payload, sizes)
        if reply is None:
            return body[ERROR_REPLY.size():]
        return self._unpack(op, reply, body, **counts)

    async def _exchange(self, op, payload, sizes):
        """The body of the reply to one request (of a length in ``sizes``, any if None),
        its status checked; sent again while the link loses or damages it."""
        seq, self.seq = self.seq, (self.seq + 1) & 0xFF
        frame = request_frame(op, seq, payload)
        self.link["requests"] += 1
        errors = []
        for attempt in range(self.tries):
            if attempt:
                self.link["retries"] += 1
                if attempt == 1:
                    self.link["retried"] += 1
                    self.link[f"retried {_name(Op, op)}"] += 1
            flush = getattr(self.transport, "flush", None)
            if flush is not None:
                await flush()
            await self.transport.send(frame)
            try:
                body = await self._reply(op, seq, sizes)
            except LinkError as error:
                self.link[error.cause] += 1
                errors.append(str(error))
                continue
            if body[0] != Status.OK:
                status = body[0]
                raise ChipError(f"the chip refused {_name(Op, op)}: {_name(Status, status)}",
                                status=status)
            return body
        raise ChipError(f"no valid reply to {_name(Op, op)} (seq {seq}) in {self.tries} "
                        f"tries: {'; '.join(errors[-2:])}")

    async def _reply(self, op, seq, sizes):
        """One reply frame, from its ``SOF``: :class:`LinkError` if it is lost, damaged
        or not the reply to ``op``, ``seq``."""
        what = f"reply to {_name(Op, op)}"
        recv = self.transport.recv
        skipped = bytearray()
        try:
            while (byte := (await recv(1))[0]) != SOF:
                skipped.append(byte)
                if len(skipped) > MAX_SKIP:
                    raise LinkError(f"{what}: no frame start in {MAX_SKIP} bytes", "garbled")
            head = await recv(2)
            (length,) = struct.unpack("<H", head)
            if sizes is not None and length not in sizes:
                expected = (sorted(sizes) if isinstance(sizes, set) else
                            f"{sizes.start} to {sizes.stop - 1}")
                raise LinkError(f"{what}: {length} body bytes, not {expected}", "bad_length")
            rest = await recv(length + 2)
        except TimeoutError as error:
            raise LinkError(f"{what}: {error}", "timeout") from None
        finally:
            self._skipped = bytes(skipped)
        try:
            body = decode_frame(bytes([SOF]) + head + rest)
        except FrameError as error:
            raise LinkError(f"bad {what}: {error}", "bad_crc") from None
        if len(body) < ERROR_REPLY.size():
            raise LinkError(f"{what}: a body of {len(body)} bytes", "bad_length")
        head = ERROR_REPLY.unpack(body[:ERROR_REPLY.size()])
        if head["status"] in LINK_STATUSES:
            raise LinkError(f"the request {_name(Op, op)} was damaged on its way "
                            f"({_name(Status, head['status'])})", "refused_" +
                            _name(Status, head["status"]).lower())
        if (head["op"], head["seq"]) != (op, seq):
            raise LinkError(f"{what} (seq {seq}): the reply is to {_name(Op, head['op'])} "
                            f"(seq {head['seq']})", "identity")
        return body

    @staticmethod
    def _unpack(op, layout, body, **counts):
        try:
            return layout.unpack(body, **counts)
        except ValueError as error:
            raise ChipError(f"bad reply to {_name(Op, op)}: {error}") from None

    async def status(self):
        try:
            # Any length a STATUS reply of any version might have: the version decides.
            body = await self._exchange(Op.STATUS, b"", range(ERROR_REPLY.size(), 300))
        except ChipError:
            if _old_frame(self._skipped):
                raise ChipError(f"the chip speaks protocol version 2 or older (frames "
                                f"without a start byte), this driver version {VERSION}: "
                                f"rebuild the chip") from None
            raise
        magic = STATUS_REPLY.offset("magic")
        if body[magic:magic + len(MAGIC)] != MAGIC:
            raise ChipError("not a spikefab chip (bad magic in the STATUS reply)")
        if len(body) <= STATUS_REPLY.offset("version"):
            raise ChipError(f"bad reply to STATUS: {len(body)} bytes end before its version")
        version = body[STATUS_REPLY.offset("version")]
        if version != VERSION:
            raise ChipError(f"the chip speaks protocol version {version}, this driver "
                            f"version {VERSION}: rebuild the chip or use its driver")
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
        """Refuse a chip of another protocol version or built for another config. The
        first request a host sends (a repeated sample is recognised by its ``seq``)."""
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
        chunk = max(1, min(buffer_bytes - WEIGHTS_HEADER.size(), self.chunk_bytes)
                    // per_word)
        for start in range(0, len(words), chunk):
            part = words[start:start + chunk]
            await self.request(Op.WRITE_WEIGHTS,
                               WEIGHTS_HEADER.pack(address=start, count=len(part))
                               + self.layout.words_to_bytes(part))

    async def read_weights(self):
        """The weight matrices the chip holds."""
        per_word = self.layout.lanes * self.layout.weight_bytes
        chunk = max(1, self.chunk_bytes // per_word)
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

    # -- evolution strategies (a chip built with Config.es_on_chip) ----------------------

    async def es_factors(self, seeds):
        """The generation's ``K`` pair seeds: the chip generates every pair's factors."""
        await self.request(Op.ES_FACTORS,
                           ES_FACTORS_REQUEST.pack(seeds=[int(s) for s in seeds]))

    async def evaluate(self, sample, label, member, *, first, events=False):
        """One sample through ES member ``member``'s weights: its :class:`SampleResult`
        and the member's error energy since its ``first`` sample (fitness = -energy)."""
        data = event_payload(sample) if events else pixel_payload(sample, self.config)
        header = MEMBER_REQUEST.pack(mode=int(events), label=int(label), member=int(member),
                                     first=int(bool(first)))
        reply = await self.request(Op.EVALUATE, header + data, reply=EVALUATE_REPLY,
                                   n_out=self.config.n_out)
        result = SampleResult(reply["prediction"], list(reply["counts"]), reply["cycles"],
                              reply["sops"], reply["weight_writes"])
        return result, reply["energy"]

    async def es_update(self, signals):
        """Apply the generation's update of pair signals ``d_k`` (-3 … 3): its
        ``cycles`` and ``weight_writes``."""
        reply = await self.request(
            Op.ES_UPDATE, ES_UPDATE_REQUEST.pack(signals=[int(d) & 0xFF for d in signals]),
            reply=ES_UPDATE_REPLY)
        return {"cycles": reply["cycles"], "weight_writes": reply["weight_writes"]}

    async def counters(self):
        reply = await self.request(Op.READ_COUNTERS, reply=COUNTERS_REPLY)
        return {"cycles": reply["cycles"], "sops": reply["sops"],
                "weight_writes": reply["weight_writes"], "samples": reply["samples"]}

    async def clear_counters(self):
        await self.request(Op.CLEAR_COUNTERS)


def _name(kind, value):
    """``value``'s name in the enum ``kind``, or its hex code if it has none."""
    return kind(value).name if value in kind._value2member_map_ else hex(value)


def _old_frame(data):
    """Whether ``data`` starts with a frame of protocol version 2 or older: ``LEN``, body,
    CRC over both, no start byte."""
    if len(data) < 5:
        return False
    (length,) = struct.unpack_from("<H", data)
    if not 1 <= length <= len(data) - 4:
        return False
    (crc,) = struct.unpack_from("<H", data, length + 2)
    return crc == crc16(data[:length + 2])


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
            raise LinkTimeout(f"the chip sent {len(data)} of {n} expected bytes before the "
                              f"serial timeout")
        return data

    async def flush(self):
        """Drop the input waiting (a stale or damaged reply's bytes)."""
        await asyncio.to_thread(self.port.reset_input_buffer)

    def close(self):
        self.port.close()
