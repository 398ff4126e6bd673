"""Twin tests of the framing blocks alone in Amaranth's simulator against the wire format
of :mod:`spikefab.protocol`: the CRC network against ``protocol.crc16`` (pinned to the
CRC-16/CCITT-FALSE check value and to Python's own ``binascii.crc_hqx``), the
:class:`~hw.framing.FrameReceiver` against ``decode_frame`` and the
:class:`~hw.framing.FrameSender` against ``encode_frame``, under random stalls on both
sides. (``tests/test_hw_protocol.py`` runs them inside the whole chip, through the host
driver; here each block is alone, with its ports driven directly.)"""

import binascii
import struct

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from hypothesis import HealthCheck, event, given, settings, strategies as st

from spikefab.hw.framing import FrameReceiver, FrameSender, crc16_update
from spikefab.protocol import Status, crc16, decode_frame, encode_frame

from hw_support import simulate, twin_message


TWIN = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- crc16_update ------------------------------------------------------------------------

class CrcBench(Elaboratable):
    """A CRC register: ``load`` puts ``init`` in it, ``en`` takes ``byte`` through
    :func:`crc16_update`."""

    def __init__(self):
        self.init, self.load = Signal(16), Signal()
        self.byte, self.en = Signal(8), Signal()
        self.crc = Signal(16)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.load):
            m.d.sync += self.crc.eq(self.init)
        with m.Elif(self.en):
            m.d.sync += self.crc.eq(crc16_update(self.crc, self.byte))
        return m


def crc_rtl(data, init):
    """The CRC register after each byte of ``data``, from ``init``."""
    bench, out = CrcBench(), []

    async def testbench(ctx):
        ctx.set(bench.init, init)
        ctx.set(bench.load, 1)
        await ctx.tick()
        ctx.set(bench.load, 0)
        ctx.set(bench.en, 1)
        for byte in data:
            ctx.set(bench.byte, byte)
            await ctx.tick()
            out.append(ctx.get(bench.crc))

    simulate(bench, testbench)
    return out


def crc_ref(data, init):
    return [crc16(data[:n + 1], init) for n in range(len(data))]


def test_crc16_update_check_value():
    # CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR): the
    # catalogue's check value over "123456789", and the protocol's CRC is that one.
    assert crc16(b"123456789") == 0x29B1
    rtl = crc_rtl(b"123456789", 0xFFFF)[-1]
    assert rtl == 0x29B1, f"crc16_update over b'123456789' from 0xffff: {rtl:#06x} != 0x29b1"


@TWIN
@given(data=st.binary(min_size=1, max_size=64), init=st.integers(0, 0xFFFF))
def test_crc16_update_is_protocol_crc16(data, init):
    # The protocol's CRC is CCITT's, as Python's binascii computes it (crc_hqx: poly
    # 0x1021, no reflection, the given initial value): an independent implementation.
    assert crc16(data, init) == binascii.crc_hqx(data, init), \
        f"protocol.crc16 {data.hex()} from {init:#06x} is not CRC-CCITT"
    rtl, ref = crc_rtl(data, init), crc_ref(data, init)
    assert rtl == ref, twin_message("crc16_update", f"over {data.hex()} from {init:#06x}",
                                    rtl, ref, inputs=list(data))


# -- FrameReceiver -----------------------------------------------------------------------

TIMEOUT = 24
MAX_STALL = TIMEOUT // 4        # stalls inside a frame stay well below the timeout


@st.composite
def received_frames(draw, depth):
    """Frames as they reach the receiver: ``(bytes, fault)``. Faults: a flipped bit in the
    body or CRC, a frame cut short, a zero-length body, a body longer than the buffer."""
    fault = draw(st.sampled_from(["none", "none", "flip", "cut", "empty"]))
    if fault == "empty":
        head = struct.pack("<H", 0)                 # encode_frame refuses to make it
        return head + struct.pack("<H", crc16(head)), fault
    # Up to 2 bytes over the buffer (opcode + depth payload bytes fit), edges often.
    size = draw(st.sampled_from([1, depth, depth + 1, depth + 2]) | st.integers(1, depth + 3))
    body = draw(st.binary(min_size=size, max_size=size))
    frame = bytearray(encode_frame(body))
    if fault == "flip":
        position = draw(st.integers(2, len(frame) - 1))         # not LEN: that desyncs
        frame[position] ^= 1 << draw(st.integers(0, 7))
    elif fault == "cut":
        frame = frame[:draw(st.integers(1, len(frame) - 1))]
    return bytes(frame), fault


def receive_ref(frame, depth):
    """What the receiver delivers for the bytes of one frame (then silence): ``(status,)``,
    or ``(OK, op, payload length, [(buffer address, byte), …])``."""
    if len(frame) < 4 or len(frame) < struct.unpack_from("<H", frame)[0] + 4:
        return (Status.TIMEOUT,)
    (length,) = struct.unpack_from("<H", frame)
    (crc,) = struct.unpack_from("<H", frame, length + 2)
    if crc != crc16(frame[:length + 2]):
        return (Status.BAD_CRC,)
    if length == 0 or length > depth + 1:
        return (Status.BAD_LENGTH,)
    body = decode_frame(frame)
    return (Status.OK, body[0], len(body) - 1, list(enumerate(body[1:])))


def receive_rtl(frames, depth, valid_p, ack_delays, seed):
    """Feed the frames back to back (after a frame cut short, only once its ``TIMEOUT``
    is out), ``rx.valid`` stalling at random; acknowledge each delivery after a delay.
    Per frame, what :func:`receive_ref` says."""
    dut = FrameReceiver(depth, TIMEOUT)
    rng = np.random.default_rng(seed)
    stream = b"".join(frame for frame, _ in frames)
    ends = np.cumsum([len(frame) for frame, _ in frames])
    cut = [fault == "cut" for _, fault in frames]
    delivered = []

    async def testbench(ctx):
        pos, offering, stall, delay, writes = 0, False, 0, None, []
        for cycle in range(200 * len(stream) + 100 * len(frames) + 100):
            # A cut frame's rest never comes: the next frame waits for its TIMEOUT.
            blocked = any(cut[k] and pos == ends[k] and len(delivered) <= k
                          for k in range(len(frames)))
            if not offering and pos < len(stream) and not blocked:
                offering = bool(rng.random() < valid_p) or stall >= MAX_STALL
                stall = 0 if offering else stall + 1
            ctx.set(dut.rx.valid, offering)
            ctx.set(dut.rx.payload, stream[pos] if offering else 0)
            ready, frame_valid = ctx.get(dut.rx.ready), ctx.get(dut.frame_valid)
            assert not (ready and frame_valid), \
                f"FrameReceiver: takes a byte while frame {len(delivered)} waits for its ack"
            if ctx.get(dut.buf_we):
                writes.append((ctx.get(dut.buf_waddr), ctx.get(dut.buf_wdata)))
            ack = False
            if frame_valid:
                if delay is None:
                    status = Status(ctx.get(dut.status))
                    delivered.append((status,) if status != Status.OK else
                                     (status, ctx.get(dut.op), ctx.get(dut.length), writes))
                    writes, delay = [], ack_delays[(len(delivered) - 1) % len(ack_delays)]
                ack, delay = delay == 0, (None if delay == 0 else delay - 1)
            ctx.set(dut.frame_ack, ack)
            await ctx.tick()
            if offering and ready:
                pos, offering = pos + 1, False
            if len(delivered) == len(frames) and not frame_valid:
                return
        raise AssertionError(f"FrameReceiver: {len(delivered)} of {len(frames)} frames "
                             f"delivered, {pos} of {len(stream)} bytes taken")

    simulate(dut, testbench)
    return delivered


@TWIN
@given(depth=st.sampled_from([8, 13, 32]), data=st.data(),
       valid_p=st.sampled_from([1.0, 0.6, 0.25]),
       ack_delays=st.lists(st.integers(0, 3), min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_frame_receiver_is_decode_frame(depth, data, valid_p, ack_delays, seed):
    frames = data.draw(st.lists(received_frames(depth), min_size=1, max_size=4),
                       label="frames")
    rtl = receive_rtl(frames, depth, valid_p, ack_delays, seed)
    ref = [receive_ref(frame, depth) for frame, _ in frames]
    for reply in ref:
        event(f"frame {reply[0].name}")
    assert rtl == ref, twin_message(
        "FrameReceiver", f"(buffer {depth} bytes, valid_p={valid_p}, seed={seed})",
        rtl, ref, inputs=[f"{fault}: {frame.hex()}" for frame, fault in frames])


# -- FrameSender -------------------------------------------------------------------------

def send_rtl(bodies, valid_p, ready_p, seed):
    """Each body through the sender (``start`` with its length, then its bytes on
    ``body``), ``body.valid`` and ``tx.ready`` stalling at random: the bytes on ``tx``
    of each reply, and whether ``done`` came with its last byte and only then."""
    dut = FrameSender()
    rng = np.random.default_rng(seed)
    sent = []

    async def testbench(ctx):
        for body in bodies:
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()
            ctx.set(dut.start, 1)
            ctx.set(dut.length, len(body))
            await ctx.tick()
            ctx.set(dut.start, 0)
            out, pos, offering, done_ok, quiet = [], 0, False, False, 0
            while quiet < 100:          # a hung sender: no transfer for 100 cycles
                if not offering and pos < len(body):
                    offering = bool(rng.random() < valid_p)
                ready = bool(rng.random() < ready_p)
                ctx.set(dut.body.valid, offering)
                ctx.set(dut.body.payload, body[pos] if offering else 0)
                ctx.set(dut.tx.ready, ready)
                took = offering and ctx.get(dut.body.ready)
                byte = ctx.get(dut.tx.payload) if ready and ctx.get(dut.tx.valid) else None
                done = ctx.get(dut.done)
                await ctx.tick()
                quiet = 0 if took or byte is not None else quiet + 1
                if took:
                    pos, offering = pos + 1, False
                if byte is not None:
                    out.append(byte)
                # ``done`` comes with the last byte of the frame, and only then.
                done_ok = bool(done) and byte is not None and len(out) == len(body) + 4
                if done:
                    break
            ctx.set(dut.tx.ready, 0)
            sent.append((bytes(out), done_ok))

    simulate(dut, testbench)
    return sent


@settings(TWIN, max_examples=25)
@given(bodies=st.lists(st.sampled_from([(1, 40)] * 3 + [(256, 270)]).flatmap(
                           lambda size: st.binary(min_size=size[0], max_size=size[1])),
                       min_size=1, max_size=3),
       valid_p=st.sampled_from([1.0, 0.5]), ready_p=st.sampled_from([1.0, 0.6, 0.2]),
       seed=st.integers(0, 2**16))
def test_frame_sender_is_encode_frame(bodies, valid_p, ready_p, seed):
    rtl = send_rtl(bodies, valid_p, ready_p, seed)
    ref = [(encode_frame(body), True) for body in bodies]
    assert rtl == ref, twin_message(
        "FrameSender", f"(valid_p={valid_p}, ready_p={ready_p}, seed={seed})", rtl, ref,
        inputs=[body.hex() for body in bodies])
