"""The command bridge's replies, built from the layouts of :mod:`spikefab.protocol`.

:class:`ReplyBuilder` announces a reply to the frame sender and offers its body bytes:
the fixed bodies (:data:`~spikefab.protocol.ERROR_REPLY`, ``OK_REPLY``, ``STATUS_REPLY``,
``SAMPLE_REPLY``, ``COUNTERS_REPLY``) are laid out by :func:`body_bytes` from the
protocol's declarations, so a field added there is a field the chip sends or an error
here; the ``READ_WEIGHTS`` body is its :data:`~spikefab.protocol.REPLY_HEAD`, then the
words from :class:`WeightsBody`, which reads them from the weight memory. Every body
starts with the reply head: the status, then the opcode and sequence number of the
request (the frame receiver's, held while the reply goes out).
"""

from functools import reduce
from operator import or_

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.ports import Shapes, host_signature
from spikefab.protocol import (COUNTERS_REPLY, ERROR_REPLY, ES_UPDATE_REPLY,
                               EVALUATE_REPLY, MAGIC, OK_REPLY, REPLY_HEAD, SAMPLE_REPLY,
                               STATUS_REPLY, VERSION, WEIGHTS_REPLY, WireLayout)


__all__ = ["ReplyKind", "kind_is", "REPORTED", "REPORTED_ES", "reported", "body_bytes",
           "ReplyBuilder", "WeightsBody"]


class ReplyKind(enum.Enum, shape=8):
    """Which body a reply carries: one-hot, so that choosing a body is an AND-OR."""
    ERROR = 1 << 0
    OK = 1 << 1
    STATUS = 1 << 2
    SAMPLE = 1 << 3
    COUNTERS = 1 << 4
    WEIGHTS = 1 << 5
    EVALUATE = 1 << 6       # chips with es_on_chip
    UPDATE = 1 << 7


def kind_is(kind, member):
    """The bit of a one-hot :class:`ReplyKind` value that says ``member``."""
    return kind.as_value()[member.value.bit_length() - 1]


def _le(value, n_bytes):
    """The little-endian bytes of an int or an unsigned Amaranth value, zero-extended."""
    bits = 8 * n_bytes
    value = Const(value, bits) if isinstance(value, int) else Cat(value, Const(0, bits))[:bits]
    return [value[8 * i:8 * i + 8] for i in range(n_bytes)]


def body_bytes(layout, values):
    """The bytes of ``layout`` (a :class:`~spikefab.protocol.WireLayout`) as 8-bit values
    in wire order: each integer field little-endian from an int or an unsigned value
    (a repeated one from a sequence of them), each bytes field from ``bytes``."""
    missing = [f.name for f in layout.fields if f.name not in values]
    extra = sorted(set(values) - {f.name for f in layout.fields})
    if missing or extra:
        raise TypeError(f"{layout.name}: values missing for {missing}, unknown {extra}")
    out = []
    for field in layout.fields:
        value, size = values[field.name], WireLayout.item_size(field)
        if field.code.endswith("s"):
            if not isinstance(value, bytes) or field.count is None and len(value) != size:
                raise TypeError(f"{layout.name}: field {field.name!r} takes {size} bytes, "
                                f"not {value!r}")
            out += [Const(byte, 8) for byte in value]
            continue
        for item in (value if field.count is not None else [value]):
            out += _le(item, size)
    return out


#: The core's figures the replies carry (members of ``host_signature``).
REPORTED = ("margin", "lr_shift", "prediction", "counts", "sample_cycles", "sample_sops",
            "sample_writes", "cycles", "sops", "writes", "samples")
#: … and with ``es_on_chip``.
REPORTED_ES = ("energy",)


def reported(config):
    """The members of ``host_signature`` the replies of a chip for ``config`` carry."""
    return REPORTED + (REPORTED_ES if config.es_on_chip else ())


class ReplyBuilder(wiring.Component):
    """Announces one reply (``reply_start`` with its length) and offers its body.

    ``start`` takes ``kind``, ``status`` (the reply head's: ``OK`` for every kind but
    ``ERROR``) and ``words`` (a ``READ_WEIGHTS`` body's) and announces the reply the
    next cycle; then exactly the body's bytes are offered on ``reply``, each from a
    register (no body select reaches the sender): byte ``index`` of the head (shared by
    every body) and of each long body is registered before the choice among them, so a
    byte goes out every second cycle at most, far above a UART's rate; a
    ``READ_WEIGHTS`` body's bytes after its head are taken from ``words_body``.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    buffer_depth : int
        Bytes of the input buffer (the ``STATUS`` reply says it).
    weight_latency : int
        The weight memory's read latency (it sets the width of the sample's figures).

    Members
    -------
    start : In(1); kind : In(:class:`ReplyKind`); status : In(8); words : In(16)
    op, seq : In(8)
        The request's opcode and sequence number that every reply head echoes, held
        while the reply goes out.
    report : In(the :data:`REPORTED` members of ``host_signature``)
    words_body : In(stream.Signature(8))
        The ``READ_WEIGHTS`` body (:class:`WeightsBody`); taken only while one is due.
    reply_start : Out(1); reply_length : Out(16)
    reply : Out(stream.Signature(8))
    """

    def __init__(self, config, *, layout, buffer_depth, weight_latency):
        self._config = config
        self._layout = layout
        self._buffer_depth = buffer_depth
        host = host_signature(config, Shapes(config, layout), buffer_depth, weight_latency)
        super().__init__({
            "start": In(1),
            "kind": In(ReplyKind, init=ReplyKind.OK),
            "status": In(8),
            "words": In(16),
            "op": In(8),
            "seq": In(8),
            "report": In(wiring.Signature({name: In(host.members[name].shape)
                                           for name in reported(config)})),
            "words_body": In(stream.Signature(8)),
            "reply_start": Out(1),
            "reply_length": Out(16),
            "reply": Out(stream.Signature(8)),
        })

    def _bodies(self):
        """The bytes of each body after the reply head (which every body shares)."""
        config, layout, report = self._config, self._layout, self.report
        n_layers = len(config.weight_shapes)
        head = {"status": 0, "op": 0, "seq": 0}
        sample = {"prediction": report.prediction,
                  "counts": [report.counts[j] for j in range(config.n_out)],
                  "cycles": report.sample_cycles, "sops": report.sample_sops,
                  "weight_writes": report.sample_writes}
        es = {}
        if config.es_on_chip:
            es = {
                ReplyKind.EVALUATE: body_bytes(EVALUATE_REPLY, {
                    **head, **sample, "energy": report.energy}),
                ReplyKind.UPDATE: body_bytes(ES_UPDATE_REPLY, {
                    **head, "cycles": report.sample_cycles,
                    "weight_writes": report.sample_writes}),
            }
        return {
            **es,
            ReplyKind.STATUS: body_bytes(STATUS_REPLY, {
                **head, "magic": MAGIC, "version": VERSION,
                "config_hash": bytes.fromhex(config.hash()), "lanes": layout.lanes,
                "buffer_bytes": self._buffer_depth, "weight_words": layout.weight_depth,
                "layers": n_layers, "margin": report.margin,
                "lr_shifts": [report.lr_shift[n] for n in range(n_layers)]}),
            ReplyKind.SAMPLE: body_bytes(SAMPLE_REPLY, {**head, **sample}),
            ReplyKind.COUNTERS: body_bytes(COUNTERS_REPLY, {
                **head, "cycles": report.cycles, "sops": report.sops,
                "weight_writes": report.writes, "samples": report.samples}),
        }

    def elaborate(self, platform):
        m = Module()
        word_bytes = self._layout.lanes * self._layout.weight_bytes
        kind = Signal(ReplyKind, init=ReplyKind.OK)
        status = Signal(8)
        bodies = self._bodies()
        n_head = REPLY_HEAD.size()
        # The head's bytes, as body_bytes lays them out.
        head = body_bytes(REPLY_HEAD, {"status": status, "op": self.op, "seq": self.seq})
        assert ERROR_REPLY.fields == OK_REPLY.fields == REPLY_HEAD.fields
        starting = Signal()         # the cycle that announces the reply
        remaining = Signal(16)      # body bytes not yet offered; the length until then
        out_valid = Signal()        # the reply byte register
        out_byte = Signal(8)
        # Byte of a fixed body: no wider than the longest body, so that its select is no
        # deeper than it must be (weights bodies count bytes in ``remaining`` only).
        index = Signal(range(max(len(body) for body in bodies.values())))
        m.d.comb += [self.reply.valid.eq(out_valid), self.reply.payload.eq(out_byte),
                     self.reply_start.eq(starting), self.reply_length.eq(remaining)]

        with m.If(self.start):
            # ERROR and OK replies are the head alone.
            length = Mux(kind_is(self.kind, ReplyKind.WEIGHTS),
                         WEIGHTS_REPLY.size(n_bytes=0) + self.words * word_bytes, n_head)
            for body_kind, body in bodies.items():
                length = Mux(kind_is(self.kind, body_kind), len(body), length)
            m.d.sync += [kind.eq(self.kind), status.eq(self.status), index.eq(0),
                         starting.eq(1), remaining.eq(length)]
        with m.Else():
            m.d.sync += starting.eq(0)

        # Byte ``index`` of the head and of each long body, registered (the head's
        # register 0 past the head, the bodies' 0 within it); a byte is offered only once
        # its register has caught up with ``index`` (``settled``).
        in_head = index < n_head
        head_byte = Signal(8)
        m.d.sync += head_byte.eq(Mux(in_head, Array(head)[index[:2]], 0))
        body_byte = {}
        for body_kind, body in bodies.items():
            body_byte[body_kind] = Signal(8, name=f"{body_kind.name.lower()}_byte")
            zeroed = [Const(0, 8)] * n_head + body[n_head:]
            m.d.sync += body_byte[body_kind].eq(Array(zeroed)[index])
        settled = Signal()
        m.d.sync += settled.eq(1)

        # Exactly the body's bytes are offered (none may be left in a stream stage to
        # open the next reply): ``free`` once the last one has been taken.
        free = ~out_valid | self.reply.ready
        with m.If(out_valid & self.reply.ready):
            m.d.sync += out_valid.eq(0)

        def offer(byte):
            m.d.sync += [out_byte.eq(byte), out_valid.eq(1), remaining.eq(remaining - 1)]

        due = ~starting & (remaining != 0)
        with m.If(due & kind_is(kind, ReplyKind.WEIGHTS) & (index == n_head)):
            m.d.comb += self.words_body.ready.eq(free)
            with m.If(free & self.words_body.valid):
                offer(self.words_body.payload)
        with m.Elif(due & free & settled):
            offer(reduce(or_, (Mux(kind_is(kind, body_kind), byte, 0)
                               for body_kind, byte in body_byte.items()), head_byte))
            m.d.sync += [index.eq(index + 1), settled.eq(0)]
        return m


class WeightsBody(wiring.Component):
    """The words of the ``READ_WEIGHTS`` body (:data:`~spikefab.protocol.WEIGHTS_REPLY`,
    after its head) as a byte stream: the words read in order (the word address is the
    bridge's cursor, which steps after each ``read``), each weight sign-extended to the
    bytes that carry it, lane 0 first, little-endian.

    An explicit FSM: ``READ`` reads the next word,
    once the consumer is ready for a byte (``body.ready`` high: it wants more, so no
    word past the request's last is read); ``WAIT`` states until the word arrives
    (``read_latency``); ``TAKE`` registers it (no block-RAM output feeds the byte
    select); ``SEND`` offers its bytes, then steps to the next word.

    Parameters
    ----------
    shapes : :class:`~spikefab.hw.ports.Shapes`
    layout : :class:`~spikefab.layout.Layout`
    read_latency : int
        The weight memory's read latency.

    Members
    -------
    start : In(1)
        A new body.
    body : Out(stream.Signature(8))
    read : Out(1); rdata : In(weight_word)
        Read the word at the cursor (a weight port's ``en`` and ``rdata``).
    """

    def __init__(self, shapes, *, layout, read_latency):
        if not isinstance(read_latency, int) or read_latency < 1:
            self._MustUse__silence = True
            raise ValueError(f"read_latency must be a positive integer, not {read_latency!r}")
        self._layout = layout
        self._latency = read_latency
        super().__init__({
            "start": In(1),
            "body": Out(stream.Signature(8)),
            "read": Out(1),
            "rdata": In(shapes.weight_word),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, wbytes = self._layout.lanes, self._layout.weight_bytes
        word = Signal.like(self.rdata)
        byte_in_word = Signal(range(lanes * wbytes))
        wire_bytes = []
        for lane in range(lanes):
            extended = Signal(8 * wbytes, name=f"wire{lane}")
            m.d.comb += extended.eq(word[lane])         # sign-extends
            wire_bytes += [extended[8 * b:8 * b + 8] for b in range(wbytes)]

        def restart():
            # ``start`` wins over whatever the state would do: a new body begins.
            with m.If(self.start):
                m.next = "READ"

        with m.FSM():
            with m.State("READ"):
                with m.If(self.body.ready):
                    m.d.comb += self.read.eq(1)
                    m.d.sync += byte_in_word.eq(0)
                    m.next = "WAIT1" if self._latency > 1 else "TAKE"
                restart()
            for n in range(1, self._latency):
                with m.State(f"WAIT{n}"):
                    m.next = f"WAIT{n + 1}" if n + 1 < self._latency else "TAKE"
                    restart()
            with m.State("TAKE"):
                m.d.sync += word.eq(self.rdata)
                m.next = "SEND"
                restart()
            with m.State("SEND"):
                m.d.comb += [self.body.valid.eq(1),
                             self.body.payload.eq(Array(wire_bytes)[byte_in_word])]
                with m.If(self.body.ready):
                    m.d.sync += byte_in_word.eq(byte_in_word + 1)
                    with m.If(byte_in_word == lanes * wbytes - 1):
                        m.next = "READ"
                restart()
        return m
