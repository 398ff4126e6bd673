"""The wire format and the memory layout, host side (no hardware)."""

import asyncio

import numpy as np
import pytest
from hypothesis import given, strategies as st

import spikefab.protocol as protocol
from spikefab.driver import Chip, ChipError
from spikefab.golden.network import init_weights
from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, EVENT_END, MAGIC, SAMPLE_REPLY, STATUS_REPLY,
                               VERSION, WEIGHTS_HEADER, Field, FrameError, Op, Register,
                               Status, WireLayout, crc16, decode_frame, encode_frame,
                               event_payload, max_read_words, pixel_payload, request_status)

from conftest import small_config


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1


def test_frame_round_trip_and_damage():
    frame = encode_frame(b"\x01abc")
    assert frame[:2] == b"\x04\x00" and decode_frame(frame) == b"\x01abc"
    with pytest.raises(FrameError, match="CRC mismatch"):
        decode_frame(frame[:-1] + bytes([frame[-1] ^ 1]))
    with pytest.raises(FrameError, match="says 4 body bytes, but 3 arrived"):
        decode_frame(frame[:-3] + frame[-2:])
    with pytest.raises(ValueError, match="1 to 65535 bytes"):
        encode_frame(b"")


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
    """Answers every request with a fixed reply frame."""

    def __init__(self, reply):
        self.reply = reply
        self.sent = b""

    async def send(self, data):
        self.sent += data

    async def recv(self, n):
        out, self.reply = self.reply[:n], self.reply[n:]
        return out


def test_driver_raises_on_error_status_and_bad_replies():
    config = small_config()
    chip = Chip(ScriptedTransport(encode_frame(bytes([Status.BAD_CRC, Op.STATUS]))), config)
    with pytest.raises(ChipError, match="refused STATUS: BAD_CRC") as error:
        asyncio.run(chip.status())
    assert error.value.status == Status.BAD_CRC
    damaged = bytearray(encode_frame(b"\x00SPKF"))
    damaged[-1] ^= 0xFF
    chip = Chip(ScriptedTransport(bytes(damaged)), config)
    with pytest.raises(ChipError, match="bad reply to STATUS: frame CRC mismatch"):
        asyncio.run(chip.status())
    chip = Chip(ScriptedTransport(encode_frame(b"\x00NOPE" + bytes(20))), config)
    with pytest.raises(ChipError, match="not a spikefab chip"):
        asyncio.run(chip.status())


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
    assert SAMPLE_REPLY.size(n_out=10) == 1 + 2 + 10 + 12
    assert COUNTERS_REPLY.size() == 33
    assert STATUS_REPLY.offset("lr_shifts") == 23
    assert WEIGHTS_HEADER.pack(address=7, count=2) == bytes([7, 0, 0, 0, 2, 0])
    assert max_read_words(2) == 32767 and max_read_words(3) == 21844
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
        STATUS_REPLY.pack(status=0)
    with pytest.raises(ValueError, match="'layers' is 2 but 'lr_shifts' has 1 items"):
        STATUS_REPLY.pack(status=0, magic=MAGIC, version=VERSION, config_hash=bytes(8),
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
    status = STATUS_REPLY.pack(
        status=Status.OK, magic=MAGIC, version=VERSION,
        config_hash=bytes.fromhex(config.hash()),
        lanes=layout.lanes, buffer_bytes=1024, weight_words=layout.weight_depth,
        layers=len(config.weight_shapes), margin=2, lr_shifts=(3, 1))
    chip = Chip(ScriptedTransport(encode_frame(status)), config)
    assert asyncio.run(chip.check()) == {
        "version": VERSION, "config_hash": config.hash(), "lanes": layout.lanes,
        "buffer_bytes": 1024, "weight_words": layout.weight_depth, "layers": 2,
        "margin": 2, "lr_shifts": (3, 1)}
    sample = SAMPLE_REPLY.pack(status=Status.OK, prediction=2, counts=(1, 0, 5), cycles=700,
                               sops=90, weight_writes=12)
    chip = Chip(ScriptedTransport(encode_frame(sample)), config)
    result = asyncio.run(chip.infer(np.zeros(config.n_in, dtype=int)))
    assert (result.prediction, result.counts, result.cycles, result.sops,
            result.weight_writes) == (2, [1, 0, 5], 700, 90, 12)
    counters = COUNTERS_REPLY.pack(status=Status.OK, cycles=2**40, sops=3, weight_writes=4,
                                   samples=5)
    chip = Chip(ScriptedTransport(encode_frame(counters)), config)
    assert asyncio.run(chip.counters()) == {"cycles": 2**40, "sops": 3, "weight_writes": 4,
                                            "samples": 5}
    # A reply one byte short of its layout is not read at a wrong offset.
    chip = Chip(ScriptedTransport(encode_frame(counters[:-1])), config)
    with pytest.raises(ChipError, match="bad reply to READ_COUNTERS: .*end inside field "
                                         "'samples'"):
        asyncio.run(chip.counters())
