"""Twin tests of the framing blocks alone in Amaranth's simulator against the wire format
of :mod:`spikefab.protocol`: the CRC network against ``protocol.crc16`` (pinned to the
CRC-16/CCITT-FALSE check value and to Python's own ``binascii.crc_hqx``), the
:class:`~hw.framing.FrameReceiver` against a model of the wire format's rules on a byte
stream (``SOF`` hunting, lengths it abandons, timeouts, CRC) and the
:class:`~hw.framing.FrameSender` against ``encode_frame``, under random stalls on both
sides. (``tests/test_hw_protocol.py`` runs them inside the whole chip, through the host
driver; here each block is alone, with its ports driven directly.)"""

import binascii
import struct

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from hypothesis import HealthCheck, event, given, settings, strategies as st

from spikefab.hw.framing import FrameReceiver, FrameSender, crc16_update
from spikefab.protocol import SOF, Status, crc16, encode_frame

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
NOT_SOF = st.integers(0, 255).filter(lambda byte: byte != SOF)


@st.composite
def received_chunks(draw, depth):
    """Bytes as they reach the receiver: ``(bytes, silence after, fault)``, a frame each,
    maybe after stray bytes. Faults: a flipped bit anywhere (``SOF`` and ``LEN``
    included), a frame cut short (silence follows), a body of 0 or 1 bytes, a body
    longer than the buffer."""
    fault = draw(st.sampled_from(["none", "none", "flip", "cut", "empty", "short", "long",
                                  "stray"]))
    junk = bytes(draw(st.lists(NOT_SOF, max_size=3))) if fault == "stray" else b""
    if fault in ("empty", "short"):
        head = struct.pack("<H", 0 if fault == "empty" else 1) + b"\x01"[:fault == "short"]
        return junk + bytes([SOF]) + head + struct.pack("<H", crc16(head)), False, fault
    # Opcode and seq, then up to 2 bytes over the buffer, edges often.
    size = draw(st.sampled_from([2, depth + 2, depth + 3, depth + 4])
                | st.integers(2, depth + 5))
    if fault == "long":
        size = draw(st.integers(depth + 3, depth + 8))
    body = draw(st.binary(min_size=size, max_size=size))
    frame = bytearray(encode_frame(body))
    if fault == "flip":
        frame[draw(st.integers(0, len(frame) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif fault == "cut":
        frame = frame[:draw(st.integers(1, len(frame) - 1))]
    return junk + bytes(frame), fault == "cut", fault


def receive_ref(chunks, depth):
    """What the receiver delivers for ``chunks`` (``(bytes, silence after)``; silence at
    the end): per frame ``(status,)``, or ``(OK, op, seq, payload length, [(buffer
    address, byte), …])``. A model of the wire format's rules on a byte stream: hunt
    for ``SOF``; a length outside ``[2, depth + 2]`` ends the frame, no delivery;
    silence inside a frame is a ``TIMEOUT``."""
    out, frame = [], None               # frame: the bytes after SOF, while in one
    for data, silence in [*chunks[:-1], (chunks[-1][0], True)]:
        for byte in data:
            if frame is None:
                frame = bytearray() if byte == SOF else None
                continue
            frame.append(byte)
            if len(frame) == 2:
                (length,) = struct.unpack_from("<H", frame)
                if not 2 <= length <= depth + 2:
                    frame = None
            elif len(frame) > 2 and len(frame) == struct.unpack_from("<H", frame)[0] + 4:
                (length,) = struct.unpack_from("<H", frame)
                body = bytes(frame[2:length + 2])
                if struct.unpack_from("<H", frame, length + 2)[0] != crc16(frame[:length + 2]):
                    out.append((Status.BAD_CRC,))
                else:
                    out.append((Status.OK, body[0], body[1], length - 2,
                                list(enumerate(body[2:]))))
                frame = None
        if silence and frame is not None:
            out.append((Status.TIMEOUT,))
            frame = None
    return out


def receive_rtl(chunks, depth, valid_p, ack_delays, seed):
    """Feed the chunks' bytes, ``rx.valid`` stalling at random (never near the timeout);
    after a chunk with silence after it (and at the end), offer nothing for twice the
    timeout. Acknowledge each delivery after a delay. What :func:`receive_ref` says."""
    dut = FrameReceiver(depth, TIMEOUT)
    rng = np.random.default_rng(seed)
    delivered = []

    async def testbench(ctx):
        state = {"delay": None, "writes": []}

        async def cycle(offer, byte):
            ctx.set(dut.rx.valid, offer)
            ctx.set(dut.rx.payload, byte if offer else 0)
            ready, frame_valid = ctx.get(dut.rx.ready), ctx.get(dut.frame_valid)
            assert not (ready and frame_valid), \
                f"FrameReceiver: takes a byte while frame {len(delivered)} waits for its ack"
            if ctx.get(dut.buf_we):
                state["writes"].append((ctx.get(dut.buf_waddr), ctx.get(dut.buf_wdata)))
            ack = False
            if frame_valid:
                if state["delay"] is None:
                    status = Status(ctx.get(dut.status))
                    delivered.append((status,) if status != Status.OK else
                                     (status, ctx.get(dut.op), ctx.get(dut.seq),
                                      ctx.get(dut.length), state["writes"]))
                    state["writes"] = []
                    state["delay"] = ack_delays[(len(delivered) - 1) % len(ack_delays)]
                ack = state["delay"] == 0
                state["delay"] = None if ack else state["delay"] - 1
            ctx.set(dut.frame_ack, ack)
            await ctx.tick()
            return offer and ready

        for data, silence in [*chunks[:-1], (chunks[-1][0], True)]:
            pos, stall = 0, 0
            for _ in range(200 * len(data) + 100):
                if pos == len(data):
                    break
                offer = bool(rng.random() < valid_p) or stall >= MAX_STALL
                stall = 0 if offer else stall + 1
                if await cycle(offer, data[pos]):
                    pos += 1
            else:
                raise AssertionError(f"FrameReceiver: {pos} of {len(data)} bytes taken")
            if silence:
                for _ in range(2 * TIMEOUT + 8):
                    await cycle(False, 0)
        for _ in range(8):
            await cycle(False, 0)

    simulate(dut, testbench)
    return delivered


@TWIN
@given(depth=st.sampled_from([8, 13, 32]), data=st.data(),
       valid_p=st.sampled_from([1.0, 0.6, 0.25]),
       ack_delays=st.lists(st.integers(0, 3), min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_frame_receiver_is_the_wire_format(depth, data, valid_p, ack_delays, seed):
    frames = data.draw(st.lists(received_chunks(depth), min_size=1, max_size=4),
                       label="frames")
    chunks = [(frame, silence) for frame, silence, _ in frames]
    rtl = receive_rtl(chunks, depth, valid_p, ack_delays, seed)
    ref = receive_ref(chunks, depth)
    for fault in {fault for _, _, fault in frames}:
        event(f"fault {fault}")
    for reply in ref:
        event(f"frame {reply[0].name}")
    assert rtl == ref, twin_message(
        "FrameReceiver", f"(buffer {depth} bytes, valid_p={valid_p}, seed={seed})",
        rtl, ref, inputs=[f"{fault}: {frame.hex()}" for frame, _, fault in frames])


def test_frame_receiver_drops_stray_bytes_and_abandons_bad_lengths():
    # Stray bytes before a frame, a length too long, a frame after it: only the good
    # frame is delivered, and at once (no timeout waited).
    depth = 8
    good = encode_frame(bytes([3, 9]) + b"abc")
    too_long = bytes([SOF]) + struct.pack("<H", depth + 3)
    chunks = [(b"\x00\x17\xff" + too_long + b"\x01\x02" + good, False)]
    assert receive_ref(chunks, depth) == [(Status.OK, 3, 9, 3, list(enumerate(b"abc")))]
    assert receive_rtl(chunks, depth, 1.0, [0], 0) == receive_ref(chunks, depth)


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
                done_ok = bool(done) and byte is not None and len(out) == len(body) + 5
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
