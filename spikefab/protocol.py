"""The host protocol of the chip: sample payloads, frames, opcodes and replies.

This module is the written-down wire format; ``hw/`` implements it in gateware and
:mod:`spikefab.driver` speaks it from the host. Nothing here needs Amaranth.

Frames
------
Both directions use one frame: ``SOF`` (the byte :data:`SOF`, 0xA5), ``LEN`` (2 bytes,
little-endian: the body's length, 1 to :data:`MAX_BODY`), the body, then ``CRC`` (2
bytes, little-endian): CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no
reflection) over ``LEN`` and the body. A request body is :data:`REQUEST_HEAD` (the
opcode and a sequence number ``seq``) and the request's payload; a reply body is
:data:`REPLY_HEAD` (a status, then the opcode and ``seq`` of the request it answers) and
the reply's payload. The chip answers every request with exactly one reply, and a frame
it cannot use with an error reply (:data:`ERROR_REPLY`) — a bad CRC, an unknown opcode,
a payload of the wrong length, an address or value out of range, a malformed sample, or
a frame cut short (no byte for ``timeout`` cycles) — except a frame whose ``LEN`` it
cannot take, which it drops (below). Nothing is changed by a frame that gets an error
reply or none. :func:`request_status` states which request gets which status.

A noisy link
------------
What the chip recovers from, and how:

- *Stray bytes between frames* (line noise, the tail of a damaged frame): between frames
  the chip hunts for ``SOF`` and drops every other byte, without a reply.
- *A damaged ``LEN``*: a length the chip cannot take (a body under 2 bytes or over its
  input buffer plus 2) ends the frame at once, without a reply; the chip hunts for the
  next ``SOF``. A damaged length that it can take runs on into whatever bytes follow
  (the next frame's, the driver's retry) and ends in a ``BAD_CRC`` reply.
- *A frame cut short* (bytes lost): the chip cannot tell a lost byte from a late one
  (any value may be a ``LEN``, body or ``CRC`` byte, ``SOF`` too), so inside a frame it
  resynchronises only by the timeout (a ``TIMEOUT`` reply) or by the ``CRC`` (the bytes
  that follow complete the frame: ``BAD_CRC``), then hunts for ``SOF`` again.
- *Damaged body or ``CRC`` bytes*: ``BAD_CRC``, nothing done.
- Bytes that arrive while the chip is busy with a request (running it or sending its
  reply) are not taken: a UART drops them. The driver never sends before the reply or
  its own timeout.

The host driver (:class:`spikefab.driver.Chip`) gives every new request the next
``seq`` (mod 256) and, before each try, drops whatever input is waiting. It reads a
reply from its ``SOF`` (skipping anything before it), checks ``LEN`` against the sizes
the reply may have (its layout's or the error reply's) before reading on, then the CRC,
then the identity (opcode and ``seq``). A lost or damaged request or reply (no reply in
time, a bad CRC either way, a wrong length or identity, a ``BAD_CRC`` or ``TIMEOUT``
status) is sent again, with the same ``seq``, a few times. A repeated request must not
act twice:

- ``INFER``/``TRAIN``: the chip keeps the ``seq`` of the last request it took (good CRC)
  and whether that request was a sample that finished; a sample request with that same
  ``seq`` is answered from the results the chip still holds (prediction, counts and the
  sample's figures hold until the next sample), without running again: a repeated
  ``TRAIN`` trains once and the ``samples`` counter counts it once. (A host's first
  request after connecting must therefore not be a sample with the ``seq`` of the last
  host's last one: the driver starts with ``STATUS``, in :meth:`~spikefab.driver.Chip.check`.)
- Every other request is idempotent when repeated: ``STATUS``, ``READ_WEIGHTS`` and
  ``READ_COUNTERS`` read; ``WRITE_WEIGHTS`` and ``SET_REGISTER`` write the same values
  again (``RESEED_ROUNDING`` reloads the same seed); ``CLEAR_COUNTERS`` clears again.

Requests (all integers little-endian) and their replies
--------------------------------------------------------
``STATUS``          → :data:`STATUS_REPLY`.
``WRITE_WEIGHTS``   :data:`WEIGHTS_HEADER` (word address, word count), then the words
                      (``lanes`` weights of :attr:`Layout.weight_bytes` each, lane 0
                      first) → :data:`OK_REPLY`. Every value must fit ``w_bits``.
``READ_WEIGHTS``    :data:`WEIGHTS_HEADER` → :data:`WEIGHTS_REPLY`: the words.
``SET_REGISTER``    :data:`REGISTER_REQUEST` (register ``0 … L-1``: the layer's lr shift,
                      at most ``Config.max_lr_shift``: 24, or 16 with stochastic
                      rounding; ``0x80``: the margin, at most ``T``; ``0x81``: value 0
                      reloads the rounding generator with the config's
                      ``rounding_seed``, as at reset) → :data:`OK_REPLY`.
``INFER``/``TRAIN`` :data:`SAMPLE_REQUEST` (input mode 0 pixels or 1 events, label: ignored
                      by ``INFER``), then the sample → :data:`SAMPLE_REPLY`.
``READ_COUNTERS``   → :data:`COUNTERS_REPLY`: totals since ``CLEAR_COUNTERS``.
``CLEAR_COUNTERS``  → :data:`OK_REPLY`.

Evolution strategies (only a chip built with ``Config.es_on_chip``; any other answers
``BAD_OPCODE``; the rule is :mod:`spikefab.golden.es`, ``K = es_population / 2`` pairs):

``ES_FACTORS``      :data:`ES_FACTORS_REQUEST`: the generation's ``K`` pair seeds → the
                      chip generates every pair's factors into its factor memories →
                      :data:`OK_REPLY`.
``EVALUATE``        :data:`MEMBER_REQUEST` (mode, label, member ``< N``, ``first``), then
                      the sample: one forward pass of the member's weights (never
                      stored), whose fitness adds into the chip's error energy (``first``
                      = 1 starts it from 0) → :data:`EVALUATE_REPLY`: the sample's figures
                      and the member's error energy so far (its fitness is minus that).
``ES_UPDATE``       :data:`ES_UPDATE_REQUEST`: the ``K`` pair signals ``d_k`` in
                      ``-3 … 3`` (two's complement bytes; any other value ``BAD_VALUE``,
                      nothing written) → every weight moves by the update of the pairs
                      whose factors the chip holds, rounded with the layers' lr shift
                      registers → :data:`ES_UPDATE_REPLY`: its cycles and weight writes.

A repeated ``EVALUATE`` or ``ES_UPDATE`` (the ``seq`` of the last request taken, which
finished) is answered from the results the chip holds, as a repeated sample: it adds
no fitness twice and updates once. ``ES_FACTORS`` may simply run again.

Sample payloads
---------------
*Pixels*: ``n_in`` bytes, one intensity per input, row-major.
*Events*: for each timestep, the addresses of the inputs that spike, strictly increasing,
each a little-endian 16-bit word, then the word :data:`EVENT_END`; ``T`` timesteps in all.

Layouts
-------
Each request header and reply body is a :class:`WireLayout`, declared once below; the
gateware builds its replies from them and the driver reads them with them. Every reply
layout starts with the fields of :data:`REPLY_HEAD`. The list that follows is generated
from those declarations.
"""

import enum
import struct
from typing import NamedTuple

import numpy as np


__all__ = ["EVENT_END", "Op", "Status", "Register", "MAGIC", "VERSION", "SOF", "MAX_BODY",
           "Field", "WireLayout", "REQUEST_HEAD", "REPLY_HEAD", "WEIGHTS_HEADER", "REGISTER_REQUEST", "SAMPLE_REQUEST",
           "SAMPLE_HEADER", "MEMBER_REQUEST", "MEMBER_HEADER", "ES_FACTORS_REQUEST",
           "ES_UPDATE_REQUEST", "EVALUATE_REPLY", "ES_UPDATE_REPLY", "ERROR_REPLY", "OK_REPLY", "STATUS_REPLY", "SAMPLE_REPLY",
           "COUNTERS_REPLY", "WEIGHTS_REPLY", "REPLIES", "max_read_words", "request_status",
           "crc16", "encode_frame", "decode_frame", "request_frame", "FrameError",
           "pixel_payload", "event_payload", "largest_sample", "check_samples_fit"]

#: The word that ends a timestep of an event sample (no input has this address).
EVENT_END = 0xFFFF
MAGIC = b"SPKF"
#: 3: ``SOF``, request sequence numbers, replies that echo opcode and ``seq``;
#: 2: the RESEED_ROUNDING register.
VERSION = 3
#: The byte that starts every frame.
SOF = 0xA5
#: The longest frame body: ``LEN`` is 16 bits.
MAX_BODY = 0xFFFF


class Op(enum.IntEnum):
    STATUS = 0x01
    WRITE_WEIGHTS = 0x02
    READ_WEIGHTS = 0x03
    SET_REGISTER = 0x04
    INFER = 0x10
    TRAIN = 0x11
    EVALUATE = 0x12
    READ_COUNTERS = 0x20
    CLEAR_COUNTERS = 0x21
    ES_FACTORS = 0x30
    ES_UPDATE = 0x31


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


# -- layouts -----------------------------------------------------------------------------

_INTEGERS = {"B": "u8", "H": "u16", "I": "u32", "Q": "u64"}


class Field(NamedTuple):
    """One field of a :class:`WireLayout`.

    ``code`` is the :mod:`struct` code of one item: ``B``, ``H``, ``I`` or ``Q`` (an
    unsigned little-endian integer of 1, 2, 4 or 8 bytes) or ``<n>s`` (``n`` raw bytes;
    ``s`` alone is one). With a ``count``, the field repeats: ``count`` names an earlier
    integer field of the layout that holds the number of items, or a number the user of
    the layout supplies (``n_out``, ``n_bytes``); repeated integers are a tuple, repeated
    bytes one ``bytes``.
    """
    name: str
    code: str
    count: str = None
    doc: str = ""


class WireLayout:
    """Named little-endian fields in wire order: a request header or a reply body.

    Parameters
    ----------
    name : str
        What it is, for messages and the generated docs.
    *fields : :class:`Field`
    """

    def __init__(self, name, *fields):
        self.name = name
        self.fields = tuple(Field(*f) for f in fields)
        names = [field.name for field in self.fields]
        for n, field in enumerate(self.fields):
            if field.code.endswith("s"):
                valid = field.code[:-1] == "" or field.code[:-1].isdigit()
            else:
                valid = field.code in _INTEGERS
            if not valid:
                raise ValueError(f"{name}: field {field.name!r} has code {field.code!r}, "
                                 f"not one of B, H, I, Q or <n>s")
            if field.name in names[:n]:
                raise ValueError(f"{name}: field {field.name!r} is declared twice")
            if field.count in names[n:]:
                raise ValueError(f"{name}: field {field.name!r} is sized by "
                                 f"{field.count!r}, which must come before it")

    def __repr__(self):
        return f"WireLayout({self.name!r}, {', '.join(f.name for f in self.fields)})"

    def __getitem__(self, name):
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name!r}")

    @staticmethod
    def item_size(field):
        """Bytes of one item of ``field``."""
        return struct.calcsize("<" + field.code)

    def _count(self, field, counts):
        if field.count is None:
            return 1
        if field.count not in counts:
            raise TypeError(f"{self.name}: the size of field {field.name!r} needs "
                            f"{field.count}=…")
        return counts[field.count]

    def items(self, **counts):
        """``(field, offset, number of items)`` of every field, in wire order; ``counts``
        gives the number of items of each repeated field by its count's name."""
        out, offset = [], 0
        for field in self.fields:
            n = self._count(field, counts)
            out.append((field, offset, n))
            offset += n * self.item_size(field)
        return out

    def size(self, **counts):
        """Bytes of the whole layout."""
        return sum(n * self.item_size(field) for field, _, n in self.items(**counts))

    def offset(self, name, **counts):
        """Byte offset of field ``name`` (``counts`` of the fields before it only)."""
        offset = 0
        for field in self.fields:
            if field.name == name:
                return offset
            offset += self._count(field, counts) * self.item_size(field)
        raise KeyError(f"{self.name} has no field {name!r}")

    def _format(self, field, n):
        if field.code.endswith("s"):
            return f"{n * self.item_size(field)}s"
        return f"{n}{field.code}"

    def pack(self, **values):
        """The bytes of the layout with the given field values (every field given)."""
        missing = [f.name for f in self.fields if f.name not in values]
        extra = sorted(set(values) - {f.name for f in self.fields})
        if missing or extra:
            raise TypeError(f"{self.name}: fields missing {missing}, unknown {extra}")
        out = bytearray()
        for field in self.fields:
            value = values[field.name]
            if field.code.endswith("s"):
                value = bytes(value)
                n = len(value) // self.item_size(field)
                if len(value) != n * self.item_size(field) or field.count is None and n != 1:
                    raise ValueError(f"{self.name}: field {field.name!r} takes "
                                     f"{self.item_size(field)}-byte items, not "
                                     f"{len(value)} bytes")
                items = [value]
            else:
                items = list(value) if field.count is not None else [value]
                n = len(items)
            if field.count in values and values[field.count] != n:
                raise ValueError(f"{self.name}: field {field.count!r} is "
                                 f"{values[field.count]} but {field.name!r} has {n} items")
            out += struct.pack("<" + self._format(field, n), *items)
        return bytes(out)

    def unpack(self, data, **counts):
        """The field values of ``data``, which must be exactly the layout's size; a count
        that is a field of the layout is read from it."""
        data = bytes(data)
        values, offset = {}, 0
        for field in self.fields:
            n = self._count(field, {**values, **counts})
            format_ = "<" + self._format(field, n)
            if offset + struct.calcsize(format_) > len(data):
                raise ValueError(f"{self.name}: {len(data)} bytes end inside field "
                                 f"{field.name!r}")
            items = struct.unpack_from(format_, data, offset)
            offset += struct.calcsize(format_)
            values[field.name] = (items[0] if field.code.endswith("s") or field.count is None
                                  else items)
        if offset != len(data):
            raise ValueError(f"{self.name}: {len(data)} bytes, not {offset}")
        return values

    def describe(self):
        """One line per field, for the docs."""
        lines = []
        for field in self.fields:
            if field.code.endswith("s"):
                size = self.item_size(field)
                kind = "byte" if size == 1 else f"{size} bytes"
                kind = f"{field.count} bytes" if field.count else kind
            else:
                kind = _INTEGERS[field.code] + (f" × {field.count}" if field.count else "")
            lines.append(f"{field.name} ({kind})" + (f": {field.doc}" if field.doc else ""))
        return lines


#: Every request body starts with it; the payload follows.
REQUEST_HEAD = WireLayout(
    "request head",
    Field("op", "B", doc="an Op"),
    Field("seq", "B", doc="the request's sequence number: a new one (mod 256) for "
                          "each new request, the same one when it is sent again"))

# Request headers: the fields a request's payload starts with.
WEIGHTS_HEADER = WireLayout(
    "WRITE_WEIGHTS/READ_WEIGHTS header",
    Field("address", "I", doc="the first word"),
    Field("count", "H", doc="words, at least 1"))
REGISTER_REQUEST = WireLayout(
    "SET_REGISTER",
    Field("register", "B", doc="a Register (LR_SHIFT + layer, MARGIN, RESEED_ROUNDING)"),
    Field("value", "B"))
SAMPLE_REQUEST = WireLayout(
    "INFER/TRAIN header",
    Field("mode", "B", doc="0 pixels, 1 events"),
    Field("label", "H", doc="below n_out (ignored by INFER)"))
#: Bytes before an INFER/TRAIN request's sample data.
SAMPLE_HEADER = SAMPLE_REQUEST.size()
MEMBER_REQUEST = WireLayout(
    "EVALUATE header",
    Field("mode", "B", doc="0 pixels, 1 events"),
    Field("label", "H", doc="below n_out"),
    Field("member", "H", doc="below es_population: pair member // 2, sign - for odd"),
    Field("first", "B", doc="1: the member's first sample (its error energy starts at "
                            "0), else 0"))
#: Bytes before an EVALUATE request's sample data.
MEMBER_HEADER = MEMBER_REQUEST.size()
ES_FACTORS_REQUEST = WireLayout(
    "ES_FACTORS",
    Field("seeds", "I", "pairs", doc="the pair seeds q_k, k = 0 … K-1"))
ES_UPDATE_REQUEST = WireLayout(
    "ES_UPDATE",
    Field("signals", "B", "pairs", doc="d_k, k = 0 … K-1: -3 … 3 as two's complement"))

# Reply bodies: each starts with the reply head.
REPLY_HEAD = WireLayout(
    "reply head",
    Field("status", "B", doc="OK, or the refusal"),
    Field("op", "B", doc="the opcode of the request it answers (as received)"),
    Field("seq", "B", doc="the seq of the request it answers (as received)"))
ERROR_REPLY = WireLayout(
    "error reply",
    *REPLY_HEAD.fields)
OK_REPLY = WireLayout(
    "OK reply",
    *REPLY_HEAD.fields)
STATUS_REPLY = WireLayout(
    "STATUS reply",
    *REPLY_HEAD.fields,
    Field("magic", "4s", doc='b"SPKF"'),
    Field("version", "B"),
    Field("config_hash", "8s", doc="Config.hash() as bytes"),
    Field("lanes", "B"),
    Field("buffer_bytes", "H", doc="the largest request payload"),
    Field("weight_words", "I"),
    Field("layers", "B", doc="weight layers L"),
    Field("margin", "B"),
    Field("lr_shifts", "B", "layers", doc="per weight layer, input side first"))
SAMPLE_REPLY = WireLayout(
    "INFER/TRAIN reply",
    *REPLY_HEAD.fields,
    Field("prediction", "H"),
    Field("counts", "B", "n_out", doc="output spike counts"),
    Field("cycles", "I"),
    Field("sops", "I", doc="synaptic operations"),
    Field("weight_writes", "I"))
EVALUATE_REPLY = WireLayout(
    "EVALUATE reply",
    *SAMPLE_REPLY.fields,
    Field("energy", "I", doc="the member's error energy since its first sample: "
                             "-fitness (golden.es rule 5)"))
ES_UPDATE_REPLY = WireLayout(
    "ES_UPDATE reply",
    *REPLY_HEAD.fields,
    Field("cycles", "I"),
    Field("weight_writes", "I"))
COUNTERS_REPLY = WireLayout(
    "READ_COUNTERS reply",
    *REPLY_HEAD.fields,
    Field("cycles", "Q", doc="busy cycles"),
    Field("sops", "Q", doc="synaptic operations"),
    Field("weight_writes", "Q"),
    Field("samples", "Q"))
WEIGHTS_REPLY = WireLayout(
    "READ_WEIGHTS reply",
    *REPLY_HEAD.fields,
    Field("words", "s", "n_bytes", doc="count words as WRITE_WEIGHTS sends them"))
#: Each reply's layout by the request it answers.
REPLIES = {Op.STATUS: STATUS_REPLY, Op.WRITE_WEIGHTS: OK_REPLY,
           Op.READ_WEIGHTS: WEIGHTS_REPLY, Op.SET_REGISTER: OK_REPLY,
           Op.INFER: SAMPLE_REPLY, Op.TRAIN: SAMPLE_REPLY,
           Op.READ_COUNTERS: COUNTERS_REPLY, Op.CLEAR_COUNTERS: OK_REPLY,
           Op.EVALUATE: EVALUATE_REPLY, Op.ES_FACTORS: OK_REPLY,
           Op.ES_UPDATE: ES_UPDATE_REPLY}


def max_read_words(word_bytes):
    """The most words one ``READ_WEIGHTS`` may ask for: its reply fits one frame."""
    return (MAX_BODY - WEIGHTS_REPLY.size(n_bytes=0)) // word_bytes


def request_status(op, payload, config):
    """The status the chip answers the request ``op``, ``payload`` with: ``OK`` or the
    refusal, checks made in this order. A sample's data is checked as it runs (an event
    stream that breaks its rules gets ``BAD_SAMPLE``): that part is not decided here."""
    from spikefab.layout import Layout     # numpy only; here to keep imports one-way

    layout = Layout(config)
    word_bytes = layout.lanes * layout.weight_bytes
    length = len(payload)
    n_layers = len(config.weight_shapes)

    def header(request):
        return request.unpack(payload[:request.size()])

    if op in (Op.STATUS, Op.READ_COUNTERS, Op.CLEAR_COUNTERS):
        return Status.BAD_LENGTH if length else Status.OK
    if op in (Op.WRITE_WEIGHTS, Op.READ_WEIGHTS):
        size = WEIGHTS_HEADER.size()
        if length < size:
            return Status.BAD_LENGTH
        fields = header(WEIGHTS_HEADER)
        count = fields["count"]
        if op == Op.WRITE_WEIGHTS and length != size + count * word_bytes or \
                op == Op.READ_WEIGHTS and length != size:
            return Status.BAD_LENGTH
        if count == 0 or fields["address"] + count > layout.weight_depth or \
                op == Op.READ_WEIGHTS and count > max_read_words(word_bytes):
            return Status.BAD_ADDRESS
        if op == Op.WRITE_WEIGHTS:
            values = layout.bytes_to_words(payload[size:])
            if values.min() < config.w_min or values.max() > config.w_max:
                return Status.BAD_VALUE
        return Status.OK
    if op == Op.SET_REGISTER:
        if length != REGISTER_REQUEST.size():
            return Status.BAD_LENGTH
        fields = header(REGISTER_REQUEST)
        register, value = fields["register"], fields["value"]
        if register < Register.LR_SHIFT + n_layers:
            limit = config.max_lr_shift
        elif register == Register.MARGIN:
            limit = config.timesteps
        elif register == Register.RESEED_ROUNDING:
            limit = 0
        else:
            return Status.BAD_ADDRESS
        return Status.BAD_VALUE if value > limit else Status.OK
    if op in (Op.INFER, Op.TRAIN):
        if length < SAMPLE_HEADER:
            return Status.BAD_LENGTH
        fields = header(SAMPLE_REQUEST)
        if fields["mode"] > 1:
            return Status.BAD_VALUE
        if fields["mode"] == 0 and length != SAMPLE_HEADER + config.n_in:
            return Status.BAD_LENGTH
        if op == Op.TRAIN and fields["label"] >= config.n_out:
            return Status.BAD_VALUE
        return Status.OK
    if op in (Op.EVALUATE, Op.ES_FACTORS, Op.ES_UPDATE) and config.es_on_chip:
        return _es_request_status(op, payload, config)
    return Status.BAD_OPCODE


def _es_request_status(op, payload, config):
    """:func:`request_status` of the ES requests (a chip with ``es_on_chip``)."""
    pairs = config.es_population // 2
    length = len(payload)
    if op == Op.ES_FACTORS:
        return Status.OK if length == ES_FACTORS_REQUEST.size(pairs=pairs) \
            else Status.BAD_LENGTH
    if op == Op.ES_UPDATE:
        if length != ES_UPDATE_REQUEST.size(pairs=pairs):
            return Status.BAD_LENGTH
        signed = [b - 256 if b >= 128 else b for b in payload]
        return Status.OK if all(-3 <= d <= 3 for d in signed) else Status.BAD_VALUE
    if length < MEMBER_HEADER:
        return Status.BAD_LENGTH
    fields = MEMBER_REQUEST.unpack(payload[:MEMBER_HEADER])
    if fields["mode"] > 1:
        return Status.BAD_VALUE
    if fields["mode"] == 0 and length != MEMBER_HEADER + config.n_in:
        return Status.BAD_LENGTH
    if fields["label"] >= config.n_out or fields["member"] >= config.es_population \
            or fields["first"] > 1:
        return Status.BAD_VALUE
    return Status.OK


def _layouts_doc():
    lines = []
    for layout in (REQUEST_HEAD, WEIGHTS_HEADER, REGISTER_REQUEST, SAMPLE_REQUEST,
                   MEMBER_REQUEST, ES_FACTORS_REQUEST, ES_UPDATE_REQUEST,
                   REPLY_HEAD, ERROR_REPLY, OK_REPLY, STATUS_REPLY, SAMPLE_REPLY,
                   EVALUATE_REPLY, ES_UPDATE_REPLY, COUNTERS_REPLY, WEIGHTS_REPLY):
        lines.append(f"\n{layout.name}:")
        described = layout.describe()
        head = len(REPLY_HEAD.fields)
        if layout is not REPLY_HEAD and layout.fields[:head] == REPLY_HEAD.fields:
            described = ["the reply head: status, op, seq"] + described[head:]
        lines += [f"    {line}" for line in described]
    return "\n".join(lines) + "\n"


__doc__ += _layouts_doc()


# -- frames ------------------------------------------------------------------------------

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
    """``SOF`` + ``LEN`` + body + ``CRC``."""
    body = bytes(body)
    if not 1 <= len(body) <= MAX_BODY:
        raise ValueError(f"a frame body holds 1 to {MAX_BODY} bytes, not {len(body)}")
    head = struct.pack("<H", len(body)) + body
    return bytes([SOF]) + head + struct.pack("<H", crc16(head))


def decode_frame(frame):
    """The body of one complete frame; :class:`FrameError` if it is malformed."""
    frame = bytes(frame)
    if len(frame) < 6:
        raise FrameError(f"a frame has at least 6 bytes, got {len(frame)}")
    if frame[0] != SOF:
        raise FrameError(f"a frame starts with {SOF:#04x}, not {frame[0]:#04x}")
    (length,) = struct.unpack_from("<H", frame, 1)
    if len(frame) != length + 5:
        raise FrameError(f"frame length field says {length} body bytes, "
                         f"but {len(frame) - 5} arrived")
    (crc,) = struct.unpack_from("<H", frame, length + 3)
    if crc != crc16(frame[1:length + 3]):
        raise FrameError("frame CRC mismatch")
    return frame[3:length + 3]


def request_frame(op, seq, payload=b""):
    """The frame of one request: :data:`REQUEST_HEAD` and the payload."""
    return encode_frame(REQUEST_HEAD.pack(op=op, seq=seq) + bytes(payload))


# -- sample payloads ---------------------------------------------------------------------

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


def largest_sample(dataset):
    """``(bytes, split, index, events)`` of the largest INFER/TRAIN payload (header and
    sample data) of ``dataset``: a pixel sample takes a byte an input, an event sample
    two bytes an event and an end marker a timestep (:func:`event_payload`)."""
    largest = (0, "training", 0, 0)
    for split, x in (("training", dataset.x_train), ("test", dataset.x_test)):
        if not len(x):
            continue
        if dataset.kind == "pixels":
            sizes, events = np.full(len(x), x.shape[1]), np.zeros(len(x), dtype=np.int64)
        else:
            events = np.count_nonzero(x.reshape(len(x), -1), axis=1)
            sizes = 2 * (events + x.shape[1])
        index = int(np.argmax(sizes))
        if SAMPLE_HEADER + int(sizes[index]) > largest[0]:
            largest = (SAMPLE_HEADER + int(sizes[index]), split, index, int(events[index]))
    return largest


def check_samples_fit(dataset, buffer_bytes):
    """Refuse, before any sample is sent, a dataset with a sample larger than the chip's
    input buffer (``buffer_bytes``: the STATUS reply's, or the simulated chip's): the
    chip cannot take such a request, and the run would stop at that sample."""
    size, split, index, events = largest_sample(dataset)
    if size > buffer_bytes:
        what = f"{events} events over {dataset.x_train.shape[1]} timesteps" \
            if dataset.kind != "pixels" else f"{size - SAMPLE_HEADER} pixels"
        raise ValueError(f"{split} sample {index} of {dataset.name} needs {size} bytes on "
                         f"the wire ({what}); the chip's input buffer holds {buffer_bytes}")
