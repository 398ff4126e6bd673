"""The command bridge: runs one received request on the learning core and builds its reply.

A composition of small blocks, each with its own twin test (``tests/test_hw_bridge.py``):

- :class:`~spikefab.hw.requests.RequestChecks` reads the request's header and registers
  every test on it; :class:`~spikefab.hw.requests.RequestDispatcher` decides from them
  alone (status, action, reply, register writes);
- :class:`~spikefab.hw.weight_writer.WeightWriter` runs ``WRITE_WEIGHTS``;
- :class:`~spikefab.hw.replies.ReplyBuilder` announces and sends the reply, its
  ``READ_WEIGHTS`` body from :class:`~spikefab.hw.replies.WeightsBody`.

This module sequences them (``IDLE → CHECK → DISPATCH``, then a write, a sample or
nothing, then ``REPLY`` until the frame sender is done) and holds the run-time registers
(per-layer learning-rate shifts, margin) for the core, and the sequence number of the
last request taken (good CRC) with whether it was a sample that finished: a sample
request that repeats it is answered from the results the core holds, without running
(:mod:`spikefab.protocol`, "A noisy link"). Every field is checked before
anything is done, so a frame that gets an error reply changes nothing
(``tests/test_formal_bridge.py`` proves it); ``WRITE_WEIGHTS`` checks every value
before it writes the first word when ``w_bits`` is narrower than the bytes that carry a
weight.
"""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.ports import ES_OP_FACTORS, ES_OP_SAMPLE, ES_OP_UPDATE, host_signature
from spikefab.hw.replies import ReplyBuilder, ReplyKind, WeightsBody, kind_is, reported
from spikefab.hw.requests import Action, RequestChecks, RequestDispatcher
from spikefab.hw.weight_writer import WeightWriter
from spikefab.protocol import MEMBER_HEADER, SAMPLE_HEADER, Status


__all__ = ["CommandBridge"]


class CommandBridge(wiring.Component):
    """Parameters
    ----------
    core : :class:`~spikefab.hw.core.LearningCore`
        The core it drives (for its config, layout and shapes; ports are connected by the top).
    """

    def __init__(self, core):
        self._core = core
        config = core.config
        buf = core.buffer_depth
        super().__init__({
            # From the frame receiver.
            "frame_valid": In(1),
            "frame_ack": Out(1),
            "frame_status": In(8),
            "frame_op": In(8),
            "frame_seq": In(8),
            "frame_length": In(16),
            # To the frame sender.
            "reply_start": Out(1),
            "reply_length": Out(16),
            "reply": Out(stream.Signature(8)),
            "reply_done": In(1),
            # The core.
            "core": Out(host_signature(config, core.shapes, buf,
                                        core.weight_memory.read_latency)),
        })

    def elaborate(self, platform):
        m = Module()
        core = self._core
        config, layout, shapes = core.config, core.layout, core.shapes
        buf, latency = core.buffer_depth, core.weight_memory.read_latency
        host = self.core

        checks = m.submodules.checks = RequestChecks(config, layout=layout,
                                                     buffer_depth=buf)
        es = config.es_on_chip
        dispatch = m.submodules.dispatch = RequestDispatcher(es=es)
        writer = m.submodules.writer = WeightWriter(
            config, shapes=shapes, layout=layout, buffer_depth=buf)
        builder = m.submodules.builder = ReplyBuilder(
            config, layout=layout, buffer_depth=buf, weight_latency=latency)
        words = m.submodules.words = WeightsBody(shapes, layout=layout,
                                                 read_latency=latency)

        header = checks.header
        # The seq of the last request taken, and whether it was a sample that finished.
        held_seq, held = Signal(8), Signal()
        m.d.comb += [
            checks.frame_status.eq(self.frame_status),
            checks.frame_op.eq(self.frame_op),
            checks.frame_seq.eq(self.frame_seq),
            checks.held_seq.eq(held_seq),
            checks.held.eq(held),
            checks.frame_length.eq(self.frame_length),
            checks.buf_rdata.eq(host.buf_rdata),
            writer.buf_rdata.eq(host.buf_rdata),
            # Each reads the buffer in turn and drives 0 while it does not.
            host.buf_raddr.eq(checks.buf_raddr | writer.buf_raddr),
            dispatch.tests.eq(checks.tests),
            dispatch.frame_status.eq(self.frame_status),
            writer.count.eq(header.weights.count),
            writer.length.eq(self.frame_length),
            builder.words.eq(header.weights.count),
            builder.op.eq(self.frame_op),
            builder.seq.eq(self.frame_seq),
            self.reply_start.eq(builder.reply_start),
            self.reply_length.eq(builder.reply_length),
        ]
        for name in reported(config):
            m.d.comb += getattr(builder.report, name).eq(getattr(host, name))
        wiring.connect(m, words.body, builder.words_body)
        wiring.connect(m, builder.reply, wiring.flipped(self.reply))
        # The weight requests' word cursor: loaded with the request's address, one step
        # after each word written or read (counted, not added: no wide sum drives the
        # memory's address). The writer writes and the weights body reads, never at once.
        cursor = Signal(shapes.weight_addr)
        m.d.comb += [host.weights.addr.eq(cursor),
                     host.weights.we.eq(writer.write), host.weights.wdata.eq(writer.wdata),
                     host.weights.en.eq(words.read), words.rdata.eq(host.weights.rdata)]
        with m.If(writer.write | words.read):
            m.d.sync += cursor.eq(cursor + 1)

        def reply(kind, status=Status.OK):
            m.d.comb += [builder.start.eq(1), builder.kind.eq(kind),
                         builder.status.eq(status)]
            m.next = "REPLY"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.frame_valid):
                    m.d.comb += checks.start.eq(1)
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(checks.done):
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                # Only registered tests decide here.
                m.d.sync += cursor.eq(header.weights.address)
                tests = checks.tests
                answered = tests.is_infer | tests.is_train      # from held results
                if es:
                    answered = answered | tests.is_evaluate | tests.is_es_update
                with m.If(~tests.frame_bad):
                    m.d.sync += [held_seq.eq(self.frame_seq),
                                 held.eq(tests.repeat & answered)]
                with m.Switch(dispatch.action):
                    with m.Case(Action.REPLY):
                        reply(dispatch.reply, dispatch.status)
                        m.d.comb += words.start.eq(
                            kind_is(dispatch.reply, ReplyKind.WEIGHTS))
                    with m.Case(Action.WRITE_WEIGHTS):
                        m.d.comb += writer.start.eq(1)
                        m.next = "WRITE"
                    with m.Case(Action.RUN_SAMPLE):
                        training = checks.tests.is_train
                        labelled = training | tests.is_evaluate if es else training
                        m.d.sync += [
                            host.train.eq(training),
                            host.events.eq(checks.tests.events_mode),
                            host.label.eq(Mux(labelled, header.sample.label, 0)),
                            host.data_offset.eq(SAMPLE_HEADER),
                            host.data_length.eq(self.frame_length - SAMPLE_HEADER),
                        ]
                        if es:
                            self._member_fields(m, tests, header, host, self.frame_length)
                        m.next = "START"
                    if es:
                        with m.Case(Action.RUN_ES):
                            m.d.sync += [
                                host.es_op.eq(Mux(tests.is_es_update, ES_OP_UPDATE,
                                                  ES_OP_FACTORS)),
                                host.perturb.eq(0), host.data_offset.eq(0),
                                host.data_length.eq(self.frame_length),
                            ]
                            m.next = "START"
                register, value = header.register.register, header.register.value
                shifts = Array(host.lr_shift[n] for n in range(len(config.weight_shapes)))
                with m.If(dispatch.set_lr_shift):
                    m.d.sync += shifts[register].eq(value)
                with m.If(dispatch.set_margin):
                    m.d.sync += host.margin.eq(value)
                m.d.comb += [host.reseed.eq(dispatch.reseed),
                             host.clear_counters.eq(dispatch.clear_counters)]
            with m.State("START"):
                # The sample's fields are registered by now.
                m.d.comb += host.start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(host.done):
                    if es:
                        self._es_reply(m, checks.tests, host, held, reply)
                    else:
                        with m.If(host.error):
                            reply(ReplyKind.ERROR, Status.BAD_SAMPLE)
                        with m.Else():
                            m.d.sync += held.eq(1)
                            reply(ReplyKind.SAMPLE)
            with m.State("WRITE"):
                with m.If(writer.done):
                    with m.If(writer.bad_value):
                        reply(ReplyKind.ERROR, Status.BAD_VALUE)
                    with m.Else():
                        reply(ReplyKind.OK)
            with m.State("REPLY"):
                with m.If(self.reply_done):
                    m.d.comb += self.frame_ack.eq(1)
                    m.next = "IDLE"
        return m

    @staticmethod
    def _member_fields(m, tests, header, host, frame_length):
        """A sample request's ES fields: an ``EVALUATE`` runs its member."""
        evaluate = tests.is_evaluate
        m.d.sync += [
            host.es_op.eq(ES_OP_SAMPLE), host.perturb.eq(evaluate),
            host.member.eq(header.member.member), host.first.eq(header.member.first),
        ]
        with m.If(evaluate):
            m.d.sync += [host.data_offset.eq(MEMBER_HEADER),
                         host.data_length.eq(frame_length - MEMBER_HEADER)]

    @staticmethod
    def _es_reply(m, tests, host, held, reply):
        """The reply of a finished run on a chip with ES: a refusal (a malformed sample,
        an ES_UPDATE signal out of range) or the request's own."""
        with m.If(host.error):
            with m.If(tests.is_es_update):
                reply(ReplyKind.ERROR, Status.BAD_VALUE)
            with m.Else():
                reply(ReplyKind.ERROR, Status.BAD_SAMPLE)
        with m.Else():
            m.d.sync += held.eq(1)
            with m.If(tests.is_evaluate):
                reply(ReplyKind.EVALUATE)
            with m.Elif(tests.is_es_update):
                reply(ReplyKind.UPDATE)
            with m.Elif(tests.is_es_factors):
                reply(ReplyKind.OK)
            with m.Else():
                reply(ReplyKind.SAMPLE)
