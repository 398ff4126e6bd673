"""The command bridge's front: a request's header and every test made on it, then the
decision what to do with it.

Twin of :func:`spikefab.protocol.request_status`: :class:`RequestChecks` reads the header
(:data:`~spikefab.protocol.WEIGHTS_HEADER`, :data:`~spikefab.protocol.REGISTER_REQUEST`,
:data:`~spikefab.protocol.SAMPLE_REQUEST`) from the input buffer and registers one named
flag per test; :class:`RequestDispatcher` turns the flags into the status, the action and
the register writes, with no arithmetic of its own, so the decision is a few gates deep.
A request it refuses (``status`` not ``OK``) gets an error reply and nothing else.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spikefab.protocol import (ES_FACTORS_REQUEST, ES_UPDATE_REQUEST, MEMBER_HEADER,
                               MEMBER_REQUEST, REGISTER_REQUEST, SAMPLE_HEADER,
                               SAMPLE_REQUEST, WEIGHTS_HEADER, Op, Register, Status,
                               WireLayout, max_read_words)
from spikefab.hw.replies import ReplyKind


__all__ = ["HEADER_BYTES", "header_layout", "TESTS", "Action", "RequestChecks",
           "RequestDispatcher"]

_HEADERS = {"weights": WEIGHTS_HEADER, "register": REGISTER_REQUEST,
            "sample": SAMPLE_REQUEST, "member": MEMBER_REQUEST}
#: Payload bytes read into the header registers: the longest header.
HEADER_BYTES = max(header.size() for header in _HEADERS.values())


def header_layout():
    """The header registers as each kind of request reads them: ``weights.address``,
    ``register.value``, ``sample.label``… (a union: the fields of one request overlap
    those of another)."""
    return data.UnionLayout({
        kind: data.StructLayout({field.name: 8 * WireLayout.item_size(field)
                                 for field in header.fields})
        for kind, header in _HEADERS.items()})


#: The registered tests :class:`RequestDispatcher` decides on, one named bit each.
TESTS = data.StructLayout({
    "frame_bad": 1,                 # the frame receiver's status is not OK
    **{f"is_{op.name.lower()}": 1 for op in Op},
    "length_nonzero": 1,            # a payload where none belongs
    "register_length_bad": 1,       # SET_REGISTER: not its 2 bytes
    "read_length_bad": 1,           # READ_WEIGHTS: not its 6 bytes
    "write_length_bad": 1,          # WRITE_WEIGHTS: not 6 + count words
    "outside": 1,                   # no words, or past the end of the weight memory
    "read_too_long": 1,             # the READ_WEIGHTS reply would not fit one frame
    "register_is_shift": 1,
    "register_is_margin": 1,
    "register_is_reseed": 1,
    "shift_bad": 1,                 # above Config.max_lr_shift
    "margin_bad": 1,                # above T
    "value_nonzero": 1,             # RESEED_ROUNDING takes 0 only
    "sample_short": 1,              # no room for the sample header
    "mode_bad": 1,
    "events_mode": 1,
    "pixels_length_bad": 1,         # a pixel sample not n_in bytes long
    "label_bad": 1,
    "repeat": 1,                    # the seq of the last request taken, which was a
                                    # sample that finished: answer from its results
    # ES requests (a chip with es_on_chip; the mode and label tests above serve EVALUATE,
    # whose header starts as a sample's).
    "member_short": 1,              # no room for the EVALUATE header
    "member_pixels_length_bad": 1,  # an EVALUATE pixel sample not n_in bytes long
    "member_bad": 1,                # member ≥ es_population
    "first_bad": 1,                 # first > 1
    "factors_length_bad": 1,        # ES_FACTORS: not 4 bytes a pair
    "update_length_bad": 1,         # ES_UPDATE: not a byte a pair
})


class Action(enum.Enum, shape=2):
    """What the bridge does with a request after :class:`RequestDispatcher`."""
    REPLY = 0               # reply now (errors included)
    WRITE_WEIGHTS = 1       # run the weight writer, then reply
    RUN_SAMPLE = 2          # run a sample on the core, then reply
    RUN_ES = 3              # run ES_FACTORS or ES_UPDATE on the core, then reply


class RequestChecks(wiring.Component):
    """Reads a request's header from the input buffer and registers every test on it.

    ``start`` (a frame is waiting, the checks idle) reads :data:`HEADER_BYTES` payload
    bytes into ``header`` (a buffer read takes a cycle), then adds (the end address,
    the write's length), then registers ``tests``: no wide add or compare feeds a test
    and no test feeds another in the same cycle. ``done`` is high in the last cycle;
    ``header`` and ``tests`` hold from the next until the next ``start``.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    buffer_depth : int
        Bytes of the input buffer.

    Members
    -------
    start : In(1)
    frame_status, frame_op, frame_seq : In(8); frame_length : In(16)
        The frame receiver's view of the waiting frame, held until it is acknowledged.
    held_seq : In(8); held : In(1)
        The seq of the last request the bridge took, and whether it was a sample that
        finished (its results still held): the ``repeat`` test.
    buf_raddr : Out(range(buffer_depth)); buf_rdata : In(8)
        The input buffer's read port (data a cycle after the address); ``buf_raddr``
        is 0 while the header is not being read.
    done : Out(1)
    header : Out(:func:`header_layout`)
    tests : Out(:data:`TESTS`)
    """

    def __init__(self, config, *, layout, buffer_depth):
        if buffer_depth < HEADER_BYTES:
            self._MustUse__silence = True
            raise ValueError(f"buffer_depth must hold a {HEADER_BYTES}-byte header, not "
                             f"{buffer_depth!r}")
        self._config = config
        self._layout = layout
        super().__init__({
            "start": In(1),
            "frame_status": In(8),
            "frame_op": In(8),
            "frame_seq": In(8),
            "frame_length": In(16),
            "held_seq": In(8),
            "held": In(1),
            "buf_raddr": Out(range(buffer_depth)),
            "buf_rdata": In(8),
            "done": Out(1),
            "header": Out(header_layout()),
            "tests": Out(TESTS),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        word_bytes = layout.lanes * layout.weight_bytes
        depth = layout.weight_depth
        n_layers = len(config.weight_shapes)
        length, tests = self.frame_length, self.tests
        weights = self.header.weights
        register, value = self.header.register.register, self.header.register.value
        mode, label = self.header.sample.mode, self.header.sample.label
        member = self.header.member
        pairs = config.es_population // 2

        arg_index = Signal(range(HEADER_BYTES + 2))
        header_bytes = self.header.as_value()
        # An address at or past 2**address_bits is outside whatever its count: only its
        # low bits are added, which keeps the sum (and its register) narrow.
        address_bits = ceil_log2(depth)
        end_address = Signal(max(address_bits, 16) + 1)
        write_length = Signal(range(WEIGHTS_HEADER.size() + 0xFFFF * word_bytes + 1))

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += arg_index.eq(0)
                with m.If(self.start):
                    m.next = "ARGS"
            with m.State("ARGS"):
                # Byte i arrives the cycle after its address; one spare cycle at the end.
                m.d.comb += self.buf_raddr.eq(arg_index)
                m.d.sync += arg_index.eq(arg_index + 1)
                for i in range(HEADER_BYTES):
                    with m.If(arg_index == i + 1):
                        m.d.sync += header_bytes[8 * i:8 * i + 8].eq(self.buf_rdata)
                with m.If(arg_index == HEADER_BYTES):
                    m.next = "SUMS"
            with m.State("SUMS"):
                m.d.sync += [
                    end_address.eq(weights.address[:address_bits] + weights.count),
                    write_length.eq(WEIGHTS_HEADER.size() + weights.count * word_bytes),
                ]
                m.next = "CHECKS"
            with m.State("CHECKS"):
                m.d.comb += self.done.eq(1)
                m.d.sync += [
                    tests.frame_bad.eq(self.frame_status != Status.OK),
                    tests.length_nonzero.eq(length != 0),
                    tests.register_length_bad.eq(length != REGISTER_REQUEST.size()),
                    tests.read_length_bad.eq(length != WEIGHTS_HEADER.size()),
                    tests.write_length_bad.eq((length < WEIGHTS_HEADER.size())
                                              | (length != write_length)),
                    tests.outside.eq((weights.count == 0)
                                     | (weights.address[address_bits:] != 0)
                                     | (end_address > depth)),
                    tests.read_too_long.eq(weights.count > max_read_words(word_bytes)),
                    tests.register_is_shift.eq(register < Register.LR_SHIFT + n_layers),
                    tests.register_is_margin.eq(register == Register.MARGIN),
                    tests.register_is_reseed.eq(register == Register.RESEED_ROUNDING),
                    tests.shift_bad.eq(value > config.max_lr_shift),
                    tests.margin_bad.eq(value > config.timesteps),
                    tests.value_nonzero.eq(value != 0),
                    tests.sample_short.eq(length < SAMPLE_HEADER),
                    tests.mode_bad.eq(mode > 1),
                    tests.events_mode.eq(mode == 1),
                    tests.pixels_length_bad.eq(length != SAMPLE_HEADER + config.n_in),
                    tests.label_bad.eq(label >= config.n_out),
                    tests.repeat.eq(self.held & (self.frame_seq == self.held_seq)),
                    tests.member_short.eq(length < MEMBER_HEADER),
                    tests.member_pixels_length_bad.eq(length != MEMBER_HEADER + config.n_in),
                    tests.member_bad.eq(member.member >= config.es_population),
                    tests.first_bad.eq(member.first > 1),
                    tests.factors_length_bad.eq(
                        length != ES_FACTORS_REQUEST.size(pairs=pairs)),
                    tests.update_length_bad.eq(length != ES_UPDATE_REQUEST.size(pairs=pairs)),
                ]
                for op in Op:
                    m.d.sync += getattr(tests, f"is_{op.name.lower()}").eq(
                        self.frame_op == op)
                m.next = "IDLE"
        return m


class RequestDispatcher(wiring.Component):
    """Decides from the registered tests alone (combinational): the request's status,
    what to do, which reply, which register to write.

    Precedence as :func:`spikefab.protocol.request_status`: a damaged frame, then per
    opcode its length, its address, its value; an unknown opcode last. A refusal is
    ``action`` ``REPLY`` with the ``ERROR`` reply and no write strobe. A sample request
    that passes its checks and is a ``repeat`` gets the ``SAMPLE`` reply (the results
    held) and does not run. With ``es`` (``Config.es_on_chip``) the ES requests are
    decided too (a repeated ``EVALUATE`` or ``ES_UPDATE`` is answered from what is held,
    ``ES_FACTORS`` runs again); without, they are unknown opcodes.

    Members
    -------
    tests : In(:data:`TESTS`)
    frame_status : In(8)
        The frame's own status, the refusal of a damaged frame.
    status : Out(8)
    action : Out(:class:`Action`)
    reply : Out(:class:`~spikefab.hw.replies.ReplyKind`)
        The reply of an ``action`` ``REPLY``.
    set_lr_shift, set_margin, reseed, clear_counters : Out(1)
        Write the register the header names (``register``, ``value``); reload the
        rounding generator; clear the counters. Meant for the cycle that dispatches.
    """

    tests: In(TESTS)
    frame_status: In(8)
    status: Out(8)
    action: Out(Action)
    reply: Out(ReplyKind, init=ReplyKind.OK)
    set_lr_shift: Out(1)
    set_margin: Out(1)
    reseed: Out(1)
    clear_counters: Out(1)

    def __init__(self, *, es=False):
        self._es = es
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        tests = self.tests

        def fail(code):
            m.d.comb += [self.status.eq(code), self.reply.eq(ReplyKind.ERROR)]

        def reply(kind):
            m.d.comb += self.reply.eq(kind)

        def value_checked(bad, strobe):
            with m.If(bad):
                fail(Status.BAD_VALUE)
            with m.Else():
                m.d.comb += strobe.eq(1)
                reply(ReplyKind.OK)

        # Defaults: OK, a reply, no strobe.
        with m.If(tests.frame_bad):
            fail(self.frame_status)
        with m.Elif(tests.is_status):
            with m.If(tests.length_nonzero):
                fail(Status.BAD_LENGTH)
            with m.Else():
                reply(ReplyKind.STATUS)
        with m.Elif(tests.is_write_weights):
            with m.If(tests.write_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.outside):
                fail(Status.BAD_ADDRESS)
            with m.Else():
                m.d.comb += self.action.eq(Action.WRITE_WEIGHTS)
        with m.Elif(tests.is_read_weights):
            with m.If(tests.read_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.outside | tests.read_too_long):
                fail(Status.BAD_ADDRESS)
            with m.Else():
                reply(ReplyKind.WEIGHTS)
        with m.Elif(tests.is_set_register):
            with m.If(tests.register_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.register_is_shift):
                value_checked(tests.shift_bad, self.set_lr_shift)
            with m.Elif(tests.register_is_margin):
                value_checked(tests.margin_bad, self.set_margin)
            with m.Elif(tests.register_is_reseed):
                value_checked(tests.value_nonzero, self.reseed)
            with m.Else():
                fail(Status.BAD_ADDRESS)
        with m.Elif(tests.is_infer | tests.is_train):
            with m.If(tests.sample_short):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.mode_bad):
                fail(Status.BAD_VALUE)
            with m.Elif(~tests.events_mode & tests.pixels_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.is_train & tests.label_bad):
                fail(Status.BAD_VALUE)
            with m.Elif(tests.repeat):
                reply(ReplyKind.SAMPLE)
            with m.Else():
                m.d.comb += self.action.eq(Action.RUN_SAMPLE)
        with m.Elif(tests.is_read_counters):
            with m.If(tests.length_nonzero):
                fail(Status.BAD_LENGTH)
            with m.Else():
                reply(ReplyKind.COUNTERS)
        with m.Elif(tests.is_clear_counters):
            with m.If(tests.length_nonzero):
                fail(Status.BAD_LENGTH)
            with m.Else():
                m.d.comb += self.clear_counters.eq(1)
                reply(ReplyKind.OK)
        if self._es:
            self._es_requests(m, tests, fail, reply)
        with m.Else():
            fail(Status.BAD_OPCODE)
        return m

    def _es_requests(self, m, tests, fail, reply):
        """The ES requests' decisions (the checks of :func:`spikefab.protocol.request_status`
        in its order; an ``ES_UPDATE`` signal out of range is refused by the updater)."""
        with m.Elif(tests.is_evaluate):
            with m.If(tests.member_short):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.mode_bad):
                fail(Status.BAD_VALUE)
            with m.Elif(~tests.events_mode & tests.member_pixels_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.label_bad | tests.member_bad | tests.first_bad):
                fail(Status.BAD_VALUE)
            with m.Elif(tests.repeat):
                reply(ReplyKind.EVALUATE)
            with m.Else():
                m.d.comb += self.action.eq(Action.RUN_SAMPLE)
        with m.Elif(tests.is_es_factors):
            with m.If(tests.factors_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Else():
                m.d.comb += self.action.eq(Action.RUN_ES)
        with m.Elif(tests.is_es_update):
            with m.If(tests.update_length_bad):
                fail(Status.BAD_LENGTH)
            with m.Elif(tests.repeat):
                reply(ReplyKind.UPDATE)
            with m.Else():
                m.d.comb += self.action.eq(Action.RUN_ES)
