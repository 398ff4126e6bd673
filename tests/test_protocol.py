"""The wire format and the memory layout, host side (no hardware)."""

import asyncio

import numpy as np
import pytest

from spikefab.driver import Chip, ChipError
from spikefab.golden.network import init_weights
from spikefab.layout import Layout
from spikefab.protocol import (FrameError, Op, Status, crc16, decode_frame, encode_frame,
                               event_payload, pixel_payload)

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
