"""The wire format and the memory layout, host side (no hardware)."""

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import spikefab.protocol as protocol
from spikefab.driver import Chip, ChipError
from spikefab.golden.network import init_weights
from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, ERROR_REPLY, EVENT_END, MAGIC, OK_REPLY,
                               SAMPLE_REPLY, SOF, STATUS_REPLY, VERSION, WEIGHTS_HEADER,
                               Field, FrameError, Op, Register, Status, WireLayout, crc16,
                               decode_frame, encode_frame, event_payload, max_read_words,
                               pixel_payload, request_frame, request_status)

from conftest import small_config


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1


def test_frame_round_trip_and_damage():
    frame = encode_frame(b"\x01abc")
    assert frame[:3] == b"\xa5\x04\x00" and decode_frame(frame) == b"\x01abc"
    assert frame[-2:] == crc16(frame[1:-2]).to_bytes(2, "little")   # SOF not in the CRC
    with pytest.raises(FrameError, match="CRC mismatch"):
        decode_frame(frame[:-1] + bytes([frame[-1] ^ 1]))
    with pytest.raises(FrameError, match="says 4 body bytes, but 3 arrived"):
        decode_frame(frame[:-3] + frame[-2:])
    with pytest.raises(FrameError, match="starts with 0xa5, not 0x04"):
        decode_frame(frame[1:] + b"\x00")
    with pytest.raises(ValueError, match="1 to 65535 bytes"):
        encode_frame(b"")
    assert request_frame(Op.TRAIN, 7, b"xy") == encode_frame(bytes([Op.TRAIN, 7]) + b"xy")


@pytest.mark.parametrize("extra", [b"\x00", b"\xa5", b"\x00\x00",
                                   encode_frame(b"\x02")],
                         ids=["zero", "sof", "two", "second-frame"])
def test_frame_with_bytes_after_its_crc_is_refused(extra):
    # The CRC sits right after LEN's body bytes; anything past it (even a whole second
    # frame) is a malformed frame, not a valid one with junk ignored.
    frame = encode_frame(b"\x01abc")
    with pytest.raises(FrameError, match=f"says 4 body bytes, but {4 + len(extra)} arrived"):
        decode_frame(frame + extra)


@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
@pytest.mark.parametrize("w_bits", [4, 8, 12])
def test_layout_packs_and_unpacks_weights(lanes, w_bits):
    config = small_config(hidden=(7, 5), n_out=3, lanes=lanes, w_bits=w_bits,
                          init_range=(7, 7, 7), v_bits=24)
    layout = Layout(config)
    weights = init_weights(config)
    words = layout.pack_weights(weights)
    assert words.shape == (layout.weight_depth, lanes)
    assert layout.weight_depth == sum(f * -(-o // lanes) for f, o in config.weight_shapes)
    unpacked = layout.unpack_weights(layout.bytes_to_words(layout.words_to_bytes(words)))
    assert all(np.array_equal(a, b) for a, b in zip(unpacked, weights))
    # Padding lanes (past n_out = 3 in each output-layer row) stay zero.
    rows = words[layout.weight_base[-1]:].reshape(config.hidden[-1], -1)
    assert not rows[:, config.n_out:].any()


def rails_round_trip(w_bits, lanes, values):
    """Words of ``values`` through words_to_bytes and bytes_to_words, unchanged."""
    config = small_config(w_bits=w_bits, lanes=lanes, init_range=(1, 1), v_bits=24)
    layout = Layout(config)
    words = np.array(values, dtype=np.int64).reshape(-1, lanes)
    raw = layout.words_to_bytes(words)
    assert len(raw) == words.size * layout.weight_bytes
    back = layout.bytes_to_words(raw)
    assert back.shape == words.shape and np.array_equal(back, words), (w_bits, lanes)


def rails(w_bits):
    w_min, w_max = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    return [w_min, w_max, -1, 0, 1, w_min + 1, w_max - 1]


@pytest.mark.parametrize("lanes", [1, 2, 3, 8])
@pytest.mark.parametrize("w_bits", [2, 4, 7, 8, 9, 12, 15, 16])
def test_layout_words_at_the_rails_round_trip(w_bits, lanes):
    """w_min and w_max (and -1, 0, 1) in every lane position survive the wire. At
    w_bits 8 and 16, w_min is -2**(bits-1) of the wire's 1 or 2 bytes (0x80, 0x8000):
    the sign extension's edge."""
    values = rails(w_bits) * lanes          # each value in each lane of some word
    rails_round_trip(w_bits, lanes, values)
    # The edge by hand: 0x80 is -128 in one byte, 0x8000 (little-endian) -32768 in two.
    if w_bits == 8:
        layout = Layout(small_config(w_bits=8, lanes=1, init_range=(1, 1)))
        assert layout.bytes_to_words(b"\x80\x7f\xff").tolist() == [[-128], [127], [-1]]
    if w_bits == 16:
        layout = Layout(small_config(w_bits=16, lanes=1, init_range=(1, 1), v_bits=24))
        assert layout.bytes_to_words(b"\x00\x80\xff\x7f\xff\xff").tolist() == \
            [[-32768], [32767], [-1]]


@settings(max_examples=60)
@given(data=st.data())
def test_layout_random_words_with_rails_round_trip(data):
    # w_bits 8 and 16 (the wire's whole bytes, where w_min is the sign extension's
    # edge) drawn half the time, any width 2 … 16 the rest.
    w_bits = data.draw(st.sampled_from([8, 16]) | st.integers(2, 16), "w_bits")
    lanes = data.draw(st.integers(1, 16), "lanes")
    n = lanes * data.draw(st.integers(1, 4), "words")
    value = st.sampled_from(rails(w_bits)) | st.integers(-(1 << (w_bits - 1)),
                                                         (1 << (w_bits - 1)) - 1)
    rails_round_trip(w_bits, lanes, data.draw(st.lists(value, min_size=n, max_size=n)))


def test_sample_payloads():
    config = small_config(n_in=3)
    assert pixel_payload([0, 7, 255], config) == b"\x00\x07\xff"
    with pytest.raises(ValueError, match="shape"):
        pixel_payload([1, 2], config)
    with pytest.raises(ValueError, match="fit one byte"):
        pixel_payload([1, 2, 256], config)
    raster = np.array([[0, 1, 1], [0, 0, 0]])
    assert event_payload(raster) == bytes([1, 0, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    assert EVENT_END == 0xFFFF


class ScriptedTransport:
    """Answers each request sent with the next of ``replies`` (bytes); ``recv`` past what
    is there times out, ``flush`` drops it."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.input = b""
        self.sent = []

    async def send(self, data):
        self.sent.append(data)
        self.input += self.replies.pop(0) if self.replies else b""

    async def recv(self, n):
        if len(self.input) < n:
            raise TimeoutError(f"{len(self.input)} of {n} bytes")
        out, self.input = self.input[:n], self.input[n:]
        return out

    async def flush(self):
        self.input = b""


def reply(layout, op, seq=0, status=Status.OK, **values):
    return encode_frame(layout.pack(status=status, op=op, seq=seq, **values))


def test_driver_raises_on_error_status_and_bad_replies():
    config = small_config()
    chip = Chip(ScriptedTransport(reply(ERROR_REPLY, Op.STATUS, status=Status.BAD_LENGTH)),
                config)
    with pytest.raises(ChipError, match="refused STATUS: BAD_LENGTH") as error:
        asyncio.run(chip.status())
    assert error.value.status == Status.BAD_LENGTH
    assert chip.link["retries"] == 0            # a refusal is not retried
    damaged = bytearray(reply(OK_REPLY, Op.STATUS))
    damaged[-1] ^= 0xFF
    chip = Chip(ScriptedTransport(*[bytes(damaged)] * 6), config)
    with pytest.raises(ChipError, match="no valid reply to STATUS .seq 0. in 6 tries: "
                                        ".*frame CRC mismatch"):
        asyncio.run(chip.status())
    assert chip.link["bad_crc"] == 6 and chip.link["retries"] == 5
    chip = Chip(ScriptedTransport(encode_frame(bytes([0, Op.STATUS, 0]) + b"NOPE"
                                               + bytes(20))), config)
    with pytest.raises(ChipError, match="not a spikefab chip"):
        asyncio.run(chip.status())
    # The fake chip: an 8-byte STATUS reply, no traceback.
    chip = Chip(ScriptedTransport(encode_frame(bytes([0, Op.STATUS, 0]) + b"SPKF" + b"\x03")
                                  [:-3] + b"\x00\x00"), config)
    with pytest.raises(ChipError):
        asyncio.run(chip.status())


def status_reply(config, seq=0, version=VERSION):
    layout = Layout(config)
    return reply(STATUS_REPLY, Op.STATUS, seq, magic=MAGIC, version=version,
                 config_hash=bytes.fromhex(config.hash()), lanes=layout.lanes,
                 buffer_bytes=1024, weight_words=layout.weight_depth,
                 layers=len(config.weight_shapes), margin=2, lr_shifts=(3, 1))


def test_driver_refuses_a_chip_of_another_version():
    config = small_config()
    chip = Chip(ScriptedTransport(status_reply(config, version=VERSION + 1)), config)
    with pytest.raises(ChipError, match=f"^the chip speaks protocol version {VERSION + 1}, "
                                        f"this driver version {VERSION}: "):
        asyncio.run(chip.check())
    # A version 2 chip: its frames have no SOF (LEN, body, CRC); it answers our frame,
    # which it cannot read, with a TIMEOUT.
    head = bytes([2, 0, Status.TIMEOUT, 0])
    old = head + crc16(head).to_bytes(2, "little")
    chip = Chip(ScriptedTransport(*[old] * 6), config)
    with pytest.raises(ChipError, match="^the chip speaks protocol version 2 or older "
                                        f"\\(frames without a start byte\\), this driver "
                                        f"version {VERSION}: rebuild the chip$"):
        asyncio.run(chip.check())


def test_driver_retries_lost_and_damaged_replies_with_the_same_seq():
    config = small_config()
    good = status_reply(config, seq=0)
    stale = status_reply(config, seq=255)                       # a reply to another request
    cut = good[:10]                                             # times out
    long_len = bytes([SOF, 0xFF, 0x7F]) + good[3:]              # a length no reply has
    refused = reply(ERROR_REPLY, Op.STATUS, status=Status.BAD_CRC)  # the request damaged
    transport = ScriptedTransport(stale, cut, long_len, refused, b"\x00\x17" + good)
    chip = Chip(transport, config)
    assert asyncio.run(chip.check())["lr_shifts"] == (3, 1)
    # Five sends of one frame: the same seq each time, stray bytes before the SOF skipped.
    assert transport.sent == [request_frame(Op.STATUS, 0)] * 5
    assert {k: v for k, v in chip.link.items() if v} == {
        "requests": 1, "retried": 1, "retried STATUS": 1, "retries": 4, "identity": 1,
        "timeout": 1, "bad_length": 1, "refused_bad_crc": 1}
    # The next request has the next seq.
    transport.replies.append(reply(OK_REPLY, Op.CLEAR_COUNTERS, seq=1))
    asyncio.run(chip.clear_counters())
    assert transport.sent[-1] == request_frame(Op.CLEAR_COUNTERS, 1)


# -- layouts ---------------------------------------------------------------------------

LAYOUTS = [getattr(protocol, name) for name in protocol.__all__
           if isinstance(getattr(protocol, name), WireLayout)]


def _value(field, n, draw):
    size = WireLayout.item_size(field)
    if field.code.endswith("s"):
        return draw(st.binary(min_size=n * size, max_size=n * size))
    item = st.integers(0, (1 << (8 * size)) - 1)
    return tuple(draw(item) for _ in range(n)) if field.count else draw(item)


@given(data=st.data())
def test_every_layout_packs_and_unpacks(data):
    for layout in LAYOUTS:
        names = {field.name for field in layout.fields}
        counts = {f.count: data.draw(st.integers(0, 5)) for f in layout.fields if f.count}
        values = {f.name: counts[f.name] if f.name in counts else
                  _value(f, counts.get(f.count, 1), data.draw) for f in layout.fields}
        raw = layout.pack(**values)
        assert len(raw) == layout.size(**counts)
        # A count that is a field of the layout is read from it; others are given.
        assert layout.unpack(raw, **{k: v for k, v in counts.items() if k not in names}) \
            == values


def test_layouts_are_the_wire_format():
    assert SAMPLE_REPLY.size(n_out=10) == 3 + 2 + 10 + 12
    assert COUNTERS_REPLY.size() == 35
    assert STATUS_REPLY.offset("lr_shifts") == 25
    assert WEIGHTS_HEADER.pack(address=7, count=2) == bytes([7, 0, 0, 0, 2, 0])
    assert max_read_words(2) == 32766 and max_read_words(3) == 21844
    # Every reply starts with the reply head, declared once.
    for layout in LAYOUTS:
        if layout.name.endswith("reply") or layout.name == "reply head":
            assert [f.name for f in layout.fields[:3]] == ["status", "op", "seq"], layout
    # The module's docs list every field of every layout, generated from the tables.
    for layout in LAYOUTS:
        assert f"\n{layout.name}:" in protocol.__doc__
        for field in layout.fields:
            assert f"    {field.name} (" in protocol.__doc__


def test_layout_refuses_bad_declarations_and_values():
    with pytest.raises(ValueError, match="code 'X', not one of B, H, I, Q or <n>s"):
        WireLayout("bad", Field("x", "X"))
    with pytest.raises(ValueError, match="field 'a' is declared twice"):
        WireLayout("bad", Field("a", "B"), Field("a", "H"))
    with pytest.raises(ValueError, match="sized by 'n', which must come before it"):
        WireLayout("bad", Field("a", "B", "n"), Field("n", "B"))
    with pytest.raises(TypeError, match=r"fields missing \['magic', 'version'"):
        STATUS_REPLY.pack(status=0, op=1, seq=0)
    with pytest.raises(ValueError, match="'layers' is 2 but 'lr_shifts' has 1 items"):
        STATUS_REPLY.pack(status=0, op=1, seq=0, magic=MAGIC, version=VERSION,
                          config_hash=bytes(8),
                          lanes=1, buffer_bytes=1, weight_words=1, layers=2, margin=0,
                          lr_shifts=(1,))
    with pytest.raises(ValueError, match="7 bytes, not 6"):
        WEIGHTS_HEADER.unpack(bytes(7))
    with pytest.raises(TypeError, match="needs n_out=…"):
        SAMPLE_REPLY.size()


def test_request_status_precedence():
    config = small_config(n_in=4, hidden=(3,), n_out=3, timesteps=5, lanes=2, w_bits=4,
                          init_range=(7, 7), threshold=8)
    depth = Layout(config).weight_depth
    header = WEIGHTS_HEADER.pack
    cases = [
        (Op.STATUS, b"", Status.OK), (Op.STATUS, b"\0", Status.BAD_LENGTH),
        (0x7E, b"", Status.BAD_OPCODE),
        (Op.WRITE_WEIGHTS, header(address=0, count=1) + bytes([7, 0xF8]), Status.OK),
        (Op.WRITE_WEIGHTS, header(address=0, count=1) + bytes([8, 0]), Status.BAD_VALUE),
        # Length before address before value.
        (Op.WRITE_WEIGHTS, header(address=depth, count=1) + bytes([8, 0]),
         Status.BAD_ADDRESS),
        (Op.WRITE_WEIGHTS, header(address=depth, count=2) + bytes([8, 0]),
         Status.BAD_LENGTH),
        (Op.READ_WEIGHTS, header(address=depth - 1, count=1), Status.OK),
        (Op.READ_WEIGHTS, header(address=0, count=max_read_words(2) + 1),
         Status.BAD_ADDRESS),
        (Op.READ_WEIGHTS, header(address=2**32 - 1, count=2), Status.BAD_ADDRESS),
        (Op.SET_REGISTER, bytes([Register.LR_SHIFT + 1, config.max_lr_shift]), Status.OK),
        (Op.SET_REGISTER, bytes([Register.LR_SHIFT + 2, 0]), Status.BAD_ADDRESS),
        (Op.SET_REGISTER, bytes([Register.MARGIN, 6]), Status.BAD_VALUE),
        (Op.SET_REGISTER, bytes([Register.RESEED_ROUNDING, 0, 0]), Status.BAD_LENGTH),
        (Op.TRAIN, bytes([0, 3, 0]) + bytes(4), Status.BAD_VALUE),
        (Op.INFER, bytes([0, 3, 0]) + bytes(4), Status.OK),
        (Op.INFER, bytes([2, 0, 0]) + bytes(3), Status.BAD_VALUE),
        (Op.INFER, bytes([0, 0, 0]) + bytes(3), Status.BAD_LENGTH),
        (Op.TRAIN, bytes([1, 0, 0]) + b"\xff\xff", Status.OK),
        (Op.CLEAR_COUNTERS, b"", Status.OK),
    ]
    for op, payload, status in cases:
        assert request_status(op, payload, config) == status, (op, payload.hex())


def test_driver_reads_replies_by_their_layouts():
    config = small_config()
    layout = Layout(config)
    chip = Chip(ScriptedTransport(status_reply(config)), config)
    assert asyncio.run(chip.check()) == {
        "version": VERSION, "config_hash": config.hash(), "lanes": layout.lanes,
        "buffer_bytes": 1024, "weight_words": layout.weight_depth, "layers": 2,
        "margin": 2, "lr_shifts": (3, 1)}
    sample = reply(SAMPLE_REPLY, Op.INFER, prediction=2, counts=(1, 0, 5), cycles=700,
                   sops=90, weight_writes=12)
    chip = Chip(ScriptedTransport(sample), config)
    result = asyncio.run(chip.infer(np.zeros(config.n_in, dtype=int)))
    assert (result.prediction, result.counts, result.cycles, result.sops,
            result.weight_writes) == (2, [1, 0, 5], 700, 90, 12)
    counters = COUNTERS_REPLY.pack(status=Status.OK, op=Op.READ_COUNTERS, seq=0,
                                   cycles=2**40, sops=3, weight_writes=4, samples=5)
    chip = Chip(ScriptedTransport(encode_frame(counters)), config)
    assert asyncio.run(chip.counters()) == {"cycles": 2**40, "sops": 3, "weight_writes": 4,
                                            "samples": 5}
    # A reply one byte short of its layout is not read at a wrong offset: its length is
    # checked before its body is read, and it is asked for again.
    chip = Chip(ScriptedTransport(*[encode_frame(counters[:-1])] * 6), config)
    with pytest.raises(ChipError, match="no valid reply to READ_COUNTERS .* 34 body bytes, "
                                         "not \\[3, 35\\]"):
        asyncio.run(chip.counters())
