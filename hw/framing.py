"""Frames of the host protocol on byte streams: receiver and sender (:mod:`spikefab.protocol`)."""

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.protocol import REQUEST_HEAD, SOF, Status


__all__ = ["crc16_update", "FrameReceiver", "FrameSender"]

#: Body bytes before a request's payload: the opcode and the sequence number.
_HEAD = REQUEST_HEAD.size()


def _crc16_taps():
    """For each bit of the next CRC, the set of (crc, byte) input bits it XORs.

    The CRC update is linear over GF(2); running the bitwise algorithm on symbolic bits
    once gives a flat XOR network (a naive unrolled Mux chain doubles per step).
    """
    crc = [{("crc", i)} for i in range(16)]
    for i in range(8):
        crc[8 + i] = crc[8 + i] ^ {("byte", i)}
    for _ in range(8):
        top = crc[15]
        crc = [set()] + crc[:15]                      # shift left
        for bit in (0, 5, 12):                        # polynomial 0x1021
            crc[bit] = crc[bit] ^ top
    return crc


_CRC16_TAPS = _crc16_taps()


def crc16_update(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte (``crc``: 16 bits, ``byte``: 8 bits)."""
    sources = {"crc": Value.cast(crc), "byte": Value.cast(byte)}
    bits = []
    for taps in _CRC16_TAPS:
        terms = [sources[name][i] for name, i in sorted(taps)]
        bits.append(functools.reduce(operator.xor, terms) if terms else Const(0, 1))
    return Cat(*bits)


class FrameReceiver(wiring.Component):
    """Receives one request frame; its payload goes to the input buffer.

    Between frames (``HUNT``) every byte is taken and dropped until :data:`SOF`. The
    first body byte (the opcode) is kept in ``op``, the second (the sequence number) in
    ``seq``, the rest is written to the buffer from address 0. A length outside
    ``[2, buffer_depth + 2]`` ends the frame the cycle after it arrives, without a
    delivery: the receiver hunts for the next ``SOF``. After the CRC, ``frame_valid``
    holds ``status`` (``OK``, ``BAD_CRC``, or ``TIMEOUT`` when no byte came for
    ``timeout`` cycles in the middle of a frame) until ``frame_ack``; no byte is taken
    meanwhile, so the buffer stays as received while the request runs.
    """

    def __init__(self, buffer_depth, timeout):
        self._buffer_depth = buffer_depth
        self._timeout = timeout
        super().__init__({
            "rx": In(stream.Signature(8)),
            "frame_valid": Out(1),
            "frame_ack": In(1),
            "status": Out(8),
            "op": Out(8),
            "seq": Out(8),
            "length": Out(16),          # payload bytes (body minus opcode and seq)
            "buf_waddr": Out(range(buffer_depth)),
            "buf_wdata": Out(8),
            "buf_we": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16)
        body = Signal(16)
        index = Signal(16)
        # Decided as the length arrives, so that no wide compare sits in front of the
        # FSM later: body bytes still to come after the current one, and a bad length.
        left = Signal(16)
        bad_length = Signal()
        low = Signal(8)
        idle = Signal(range(self._timeout + 1))
        byte = self.rx.payload
        take = self.rx.valid & self.rx.ready

        with m.If(take):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)

        def deliver(status):
            m.d.sync += self.status.eq(status)
            m.next = "DELIVER"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(take & (byte == SOF)):
                    m.next = "LENGTH_LOW"
            with m.State("LENGTH_LOW"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(take):
                    m.d.sync += [crc.eq(crc16_update(Const(0xFFFF, 16), byte)),
                                 low.eq(byte), self.op.eq(0)]
                    m.next = "LENGTH_HIGH"
                with m.Elif(idle >= self._timeout):
                    deliver(Status.TIMEOUT)
            with m.State("LENGTH_HIGH"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(take):
                    length = Cat(low, byte)
                    m.d.sync += [crc.eq(crc16_update(crc, byte)), body.eq(length),
                                 index.eq(0), left.eq(length - 1),
                                 bad_length.eq((length < _HEAD)
                                               | (length > self._buffer_depth + _HEAD))]
                    m.next = "BODY"
                with m.Elif(idle >= self._timeout):
                    deliver(Status.TIMEOUT)
            with m.State("BODY"):
                m.d.comb += self.rx.ready.eq(~bad_length)
                with m.If(bad_length):
                    m.next = "HUNT"
                with m.Elif(take):
                    m.d.sync += [crc.eq(crc16_update(crc, byte)), index.eq(index + 1),
                                 left.eq(left - 1)]
                    with m.If(index == 0):
                        m.d.sync += self.op.eq(byte)
                    with m.If(index == 1):
                        m.d.sync += self.seq.eq(byte)
                    m.d.comb += [
                        self.buf_waddr.eq(index - _HEAD),
                        self.buf_wdata.eq(byte),
                        self.buf_we.eq((index >= _HEAD)
                                       & (index < self._buffer_depth + _HEAD)),
                    ]
                    with m.If(left == 0):
                        m.next = "CRC_LOW"
                with m.Elif(idle >= self._timeout):
                    deliver(Status.TIMEOUT)
            with m.State("CRC_LOW"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(take):
                    m.d.sync += low.eq(byte)
                    m.next = "CRC_HIGH"
                with m.Elif(idle >= self._timeout):
                    deliver(Status.TIMEOUT)
            with m.State("CRC_HIGH"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += self.length.eq(body - _HEAD)
                with m.If(take):
                    with m.If(Cat(low, byte) != crc):
                        deliver(Status.BAD_CRC)
                    with m.Else():
                        deliver(Status.OK)
                with m.Elif(idle >= self._timeout):
                    deliver(Status.TIMEOUT)
            with m.State("DELIVER"):
                m.d.comb += self.frame_valid.eq(1)
                with m.If(self.frame_ack):
                    m.next = "HUNT"
        return m


class FrameSender(wiring.Component):
    """Sends one reply frame: ``start`` with the body ``length``, then the body bytes
    from ``body``; the sender adds ``SOF``, ``LEN`` and the CRC and pulses ``done`` after
    the last."""

    def __init__(self):
        super().__init__({
            "start": In(1),
            "length": In(16),
            "body": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16)
        length = Signal(16)
        left = Signal(16)
        sent = self.tx.valid & self.tx.ready

        def send(byte, next_state):
            m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(byte)]
            with m.If(sent):
                m.d.sync += crc.eq(crc16_update(crc, byte))
                m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [crc.eq(0xFFFF), length.eq(self.length), left.eq(self.length)]
                    m.next = "SOF"
            with m.State("SOF"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(SOF)]
                with m.If(sent):
                    m.next = "LENGTH_LOW"
            with m.State("LENGTH_LOW"):
                send(length[:8], "LENGTH_HIGH")
            with m.State("LENGTH_HIGH"):
                send(length[8:], "BODY")
            with m.State("BODY"):
                m.d.comb += [
                    self.tx.valid.eq(self.body.valid),
                    self.tx.payload.eq(self.body.payload),
                    self.body.ready.eq(self.tx.ready),
                ]
                with m.If(sent):
                    m.d.sync += [crc.eq(crc16_update(crc, self.body.payload)), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(crc[:8])]
                with m.If(sent):
                    m.next = "CRC_HIGH"
            with m.State("CRC_HIGH"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(crc[8:])]
                with m.If(sent):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
