"""The host protocol of the chip: sample payloads, frames, opcodes and replies.

This module is the written-down wire format; ``hw/`` implements it in gateware and
:mod:`spikefab.driver` speaks it from the host. Nothing here needs Amaranth.

Frames
------
Both directions use one frame: ``LEN`` (2 bytes, little-endian: the body's length, at
least 1), the body, then ``CRC`` (2 bytes, little-endian): CRC-16/CCITT-FALSE (polynomial
0x1021, initial value 0xFFFF, no reflection) over ``LEN`` and the body. A request body
is an opcode and its payload; a reply body is a status and its payload. The chip answers
every request with exactly one reply, and a frame it cannot use with an error reply
(status, then the opcode it received) — a bad CRC, an unknown opcode, a wrong length, an
address or value out of range, a malformed sample, or a frame cut short (no byte for
``timeout`` cycles). Nothing is changed by a frame that gets an error reply.

Requests (all integers little-endian)
-------------------------------------
``STATUS``          → magic ``b"SPKF"``, version, config hash (8 bytes), lanes, buffer
                      bytes (u16), weight words (u32), weight layers ``L``, margin, ``L``
                      learning-rate shifts.
``WRITE_WEIGHTS``   u32 word address, u16 word count, then the words (``lanes``
                      weights of :attr:`Layout.weight_bytes` each, lane 0 first) →
                      nothing. Every value must fit ``w_bits``.
``READ_WEIGHTS``    u32 word address, u16 word count → the words.
``SET_REGISTER``    u8 register (``0 … L-1``: the layer's lr shift, at most
                      ``Config.max_lr_shift``: 24, or 16 with stochastic rounding;
                      ``0x80``: the margin, at most ``T``; ``0x81``: value 0 reloads
                      the rounding generator with the config's ``rounding_seed``, as
                      at reset), u8 value → nothing.
``INFER``/``TRAIN`` u8 input mode (0 pixels, 1 events), u16 label (ignored by ``INFER``),
                      sample → u16 prediction, ``n_out`` count bytes, u32 cycles, u32
                      synaptic operations, u32 weight writes of the sample.
``READ_COUNTERS``   → u64 busy cycles, synaptic operations, weight writes, samples.
``CLEAR_COUNTERS``  → nothing.

Sample payloads
---------------
*Pixels*: ``n_in`` bytes, one intensity per input, row-major.
*Events*: for each timestep, the addresses of the inputs that spike, strictly increasing,
each a little-endian 16-bit word, then the word ``0xFFFF``; ``T`` timesteps in all.
"""

import enum
import struct

import numpy as np


__all__ = ["EVENT_END", "Op", "Status", "Register", "MAGIC", "VERSION", "SAMPLE_HEADER",
           "crc16", "encode_frame", "decode_frame", "FrameError",
           "pixel_payload", "event_payload"]

EVENT_END = 0xFFFF
MAGIC = b"SPKF"
VERSION = 2                 # 2: the RESEED_ROUNDING register
SAMPLE_HEADER = 3           # mode byte and u16 label before the sample data


class Op(enum.IntEnum):
    STATUS = 0x01
    WRITE_WEIGHTS = 0x02
    READ_WEIGHTS = 0x03
    SET_REGISTER = 0x04
    INFER = 0x10
    TRAIN = 0x11
    READ_COUNTERS = 0x20
    CLEAR_COUNTERS = 0x21


class Status(enum.IntEnum):
    OK = 0x00
    BAD_CRC = 0x01
    BAD_OPCODE = 0x02
    BAD_LENGTH = 0x03
    BAD_ADDRESS = 0x04
    BAD_VALUE = 0x05
    BAD_SAMPLE = 0x06
    TIMEOUT = 0x07


class Register(enum.IntEnum):
    LR_SHIFT = 0x00         # + weight layer index
    MARGIN = 0x80
    RESEED_ROUNDING = 0x81  # value 0


class FrameError(Exception):
    """Bytes that are not a well-formed frame."""


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data``."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_frame(body):
    """``LEN`` + body + ``CRC``."""
    body = bytes(body)
    if not 1 <= len(body) <= 0xFFFF:
        raise ValueError(f"a frame body holds 1 to 65535 bytes, not {len(body)}")
    head = struct.pack("<H", len(body)) + body
    return head + struct.pack("<H", crc16(head))


def decode_frame(frame):
    """The body of one complete frame; :class:`FrameError` if it is malformed."""
    frame = bytes(frame)
    if len(frame) < 5:
        raise FrameError(f"a frame has at least 5 bytes, got {len(frame)}")
    (length,) = struct.unpack_from("<H", frame)
    if len(frame) != length + 4:
        raise FrameError(f"frame length field says {length} body bytes, "
                         f"but {len(frame) - 4} arrived")
    (crc,) = struct.unpack_from("<H", frame, length + 2)
    if crc != crc16(frame[:length + 2]):
        raise FrameError("frame CRC mismatch")
    return frame[2:length + 2]


def pixel_payload(pixels, config):
    """Bytes of one pixel sample (``n_in`` intensities)."""
    pixels = np.asarray(pixels)
    if pixels.shape != (config.n_in,):
        raise ValueError(f"a pixel sample must have shape ({config.n_in},), not {pixels.shape}")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise ValueError("pixel intensities must fit one byte")
    return bytes(pixels.astype(np.uint8))


def event_payload(raster):
    """Bytes of one event sample from a binary raster ``(T, n_in)``."""
    raster = np.asarray(raster)
    words = []
    for row in raster:
        words.extend(int(i) for i in np.flatnonzero(row))
        words.append(EVENT_END)
    return np.asarray(words, dtype="<u2").tobytes()
