"""Formal properties of the command bridge: a refused request changes nothing.

For any frame the receiver can deliver (any opcode, length, frame status and buffer
bytes, held until acknowledged), any core answers and any reply back-pressure, the
:class:`~spikefab.hw.bridge.CommandBridge` whose reply starts with a status other than
``OK`` has, since it took the frame, written no weight, raised neither
``clear_counters`` nor ``reseed``, changed no learning-rate shift and not the margin; and
it has not started a sample unless the status is ``BAD_SAMPLE`` (the only refusal that
comes after a start: the core's, which leaves everything as it was — the event tests
of ``tests/test_hw_core.py`` and ``tests/test_hw_protocol.py`` check that side).

The :class:`~spikefab.hw.requests.RequestDispatcher` never runs a sample that repeats
the one whose results are held (same sequence number): a repeated ``TRAIN`` trains once.

The bridge is checked by BMC over every run of 26 cycles from reset, long enough for a
header, the narrow weights' check pass to refuse a value, and a sample to be refused by
the core; a cover run shows that each kind of reply is reached within that depth (the
assertion is not vacuous). The :class:`~spikefab.hw.requests.RequestDispatcher`, where
the decision is made, is combinational: k-induction proves for every set of tests that a
refusal is a plain error reply, with no action and no register write, and that an
accepted request never gets the error reply.

The config is small (one hidden layer, narrow 4-bit weights, so ``WRITE_WEIGHTS`` runs
its check pass; a 12-byte input buffer); the bridge's logic is the same at every size.
Each proof was seen to fail on mutated private copies of the blocks (a margin, a counter
clear or a sample start not held back by the dispatcher's verdict, a word written before
its range test, a register strobe raised before the value test; for the cover, a writer
that never refuses).
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

from spikefab.hw.bridge import CommandBridge
from spikefab.hw.core import LearningCore
from spikefab.hw.replies import ReplyKind
from spikefab.hw.requests import TESTS, Action, RequestDispatcher
from spikefab.protocol import Op, Status

from conftest import small_config
from formal_support import prove

CONFIG = small_config(n_in=3, hidden=(2,), n_out=2, timesteps=2, lanes=1, w_bits=4,
                      init_range=(7, 7), threshold=8)
BUFFER = 12


def _bridge():
    core = LearningCore(CONFIG, buffer_depth=BUFFER)
    # Only the core's parameters are used; it is not elaborated here.
    core._MustUse__silence = core.weight_memory._MustUse__silence = True
    return CommandBridge(core)


class BridgeSpec(Elaboratable):
    """The bridge under any inputs, with the frame receiver's and the frame sender's
    contracts assumed; asserts (or, with ``cover``, covers) the property."""

    def __init__(self, *, cover=False):
        self.cover = cover

    def elaborate(self, platform):
        m = Module()
        dut = m.submodules.dut = _bridge()
        host = dut.core

        # Every input is free; the core's results and the buffer's bytes included.
        frame = [dut.frame_valid, dut.frame_status, dut.frame_op, dut.frame_seq,
                 dut.frame_length]
        for signal in frame + [dut.reply.ready, dut.reply_done]:
            m.d.comb += signal.eq(AnySeq(len(signal)))
        for _path, member, value in host.signature.flatten(host):
            if member.flow == wiring.In:
                value = Value.cast(value)
                m.d.comb += value.eq(AnySeq(len(value)))

        # The receiver holds a frame, unchanged, until it is acknowledged.
        pending = Signal()
        held = [Signal.like(signal, name=f"held_{signal.name}") for signal in frame]
        m.d.sync += [pending.eq(dut.frame_valid & ~dut.frame_ack),
                     *(h.eq(s) for h, s in zip(held, frame))]
        with m.If(pending):
            m.d.comb += [Assume(s == h) for s, h in zip(frame, held)]
        # Its statuses (tests/test_formal_framing.py proves it has no other).
        m.d.comb += Assume(dut.frame_status.matches(Status.OK, Status.BAD_CRC,
                                                    Status.TIMEOUT))
        # The sender is done only after the announced body has gone out, once.
        sending, left = Signal(), Signal(16)
        with m.If(dut.reply_start):
            m.d.sync += [sending.eq(1), left.eq(dut.reply_length)]
        with m.Elif(dut.reply.valid & dut.reply.ready):
            m.d.sync += left.eq(left - 1)
        with m.If(dut.reply_done):
            m.d.sync += sending.eq(0)
        m.d.comb += Assume(~dut.reply_done | (sending & (left == 0)))

        # What the bridge has done since it took the current frame.
        lr_shift = Signal.like(host.lr_shift, init=list(CONFIG.lr_shifts))
        margin = Signal.like(host.margin, init=CONFIG.margin)
        m.d.sync += [lr_shift.eq(host.lr_shift), margin.eq(host.margin)]
        effect = (host.weights.we | host.clear_counters | host.reseed
                  | (host.lr_shift.as_value() != lr_shift.as_value())
                  | (host.margin != margin))
        changed, started = Signal(), Signal()
        # The reply's first byte: its status.
        first, seen, status = Signal(), Signal(), Signal(8)
        with m.If(dut.frame_ack):
            m.d.sync += [changed.eq(0), started.eq(0), seen.eq(0)]
        with m.Else():
            m.d.sync += [changed.eq(changed | effect), started.eq(started | host.start)]
            with m.If(dut.reply_start):
                m.d.sync += first.eq(1)
            with m.Elif(first & dut.reply.valid & dut.reply.ready):
                m.d.sync += [first.eq(0), seen.eq(1), status.eq(dut.reply.payload)]

        refused = seen & (status != Status.OK)
        writing = dut.frame_op == Op.WRITE_WEIGHTS
        if self.cover:
            m.d.comb += [
                # A write that went through; one refused by the writer's check pass.
                Cover(seen & (status == Status.OK) & changed & writing),
                Cover(seen & (status == Status.BAD_VALUE) & writing),
                Cover(seen & (status == Status.BAD_SAMPLE) & started),
                Cover(seen & (status == Status.BAD_ADDRESS)),
            ]
        else:
            m.d.comb += [
                Assert(~(refused & (changed | effect))),
                Assert(~(refused & (status != Status.BAD_SAMPLE) & (started | host.start))),
            ]
        return m


class DispatcherSpec(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        dut = m.submodules.dut = RequestDispatcher()
        m.d.comb += [dut.tests.eq(AnySeq(TESTS.size)), dut.frame_status.eq(AnySeq(8))]
        # As RequestChecks registers it from the frame status, held while it decides.
        m.d.comb += Assume(dut.tests.frame_bad == (dut.frame_status != Status.OK))
        with m.If(dut.status != Status.OK):
            m.d.comb += [
                Assert(dut.action == Action.REPLY),
                Assert(dut.reply == ReplyKind.ERROR),
                Assert(~(dut.set_lr_shift | dut.set_margin | dut.reseed
                         | dut.clear_counters)),
            ]
        with m.Elif(dut.action == Action.REPLY):
            m.d.comb += Assert(dut.reply != ReplyKind.ERROR)
        # A sample that repeats the one held is answered from its results, never run.
        with m.If(dut.tests.repeat):
            m.d.comb += Assert(dut.action != Action.RUN_SAMPLE)
        return m


def test_bridge_changes_nothing_for_a_refused_request(tmp_path):
    prove(BridgeSpec(), tmp_path, mode="bmc", depth=26)


def test_bridge_reaches_every_kind_of_reply(tmp_path):
    prove(BridgeSpec(cover=True), tmp_path, mode="cover", depth=26)


def test_dispatcher_refusal_is_a_plain_error_reply(tmp_path):
    prove(DispatcherSpec(), tmp_path, mode="prove", depth=1)
