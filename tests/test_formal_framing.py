"""Formal properties of :class:`~spikefab.hw.framing.FrameReceiver`, for any byte stream
(any bytes, any gaps) and any acknowledgement, proved by k-induction, so for runs of any
length:

- it never hangs in a frame: after ``timeout + 1`` cycles without a byte it is hunting
  for a new frame's ``SOF`` (``HUNT``) or offers one (``DELIVER``, a ``TIMEOUT`` at
  worst);
- between frames a byte other than ``SOF`` is taken and dropped: the receiver is still
  hunting the next cycle (a stray byte costs no request);
- it never writes the buffer outside ``[0, buffer_depth)`` (the depth is not a power of
  two, so an address past the end fits the port and would show);
- the FSM is always in one of its states, ``status`` is always one the receiver defines,
  and no byte is taken while a frame is offered.

The receiver is built with a 3-byte buffer and a 2-cycle timeout, small enough for quick
proofs; the logic is the same at every size. The FSM's state is read through the
``fsm`` that Amaranth records for the block (``Fragment.find_generated``).
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Elaboratable, Fragment, Module, Signal

from spikefab.hw.framing import FrameReceiver
from spikefab.protocol import SOF, Status

from formal_support import prove

DEPTH, TIMEOUT = 3, 2


class ReceiverSpec(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        dut = FrameReceiver(buffer_depth=DEPTH, timeout=TIMEOUT)
        m.submodules.dut = frag = Fragment.get(dut, platform)
        fsm = frag.find_generated("fsm")
        waiting, delivering = fsm.ongoing("HUNT"), fsm.ongoing("DELIVER")
        m.d.comb += [dut.rx.valid.eq(AnySeq(1)), dut.rx.payload.eq(AnySeq(8)),
                     dut.frame_ack.eq(AnySeq(1))]

        quiet = Signal(range(TIMEOUT + 2))         # cycles since a byte was offered, capped
        with m.If(dut.rx.valid):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet <= TIMEOUT):
            m.d.sync += quiet.eq(quiet + 1)
        with m.If(quiet > TIMEOUT):
            m.d.comb += Assert(waiting | delivering)

        with m.If(dut.buf_we):
            m.d.comb += Assert(dut.buf_waddr < DEPTH)

        stray = Signal()
        m.d.sync += stray.eq(waiting & dut.rx.valid & dut.rx.ready & (dut.rx.payload != SOF))
        with m.If(stray):
            m.d.comb += Assert(waiting)

        m.d.comb += Assert(fsm.state < len(fsm.encoding))
        statuses = (Status.OK, Status.BAD_CRC, Status.TIMEOUT)
        m.d.comb += Assert(dut.status.matches(*statuses))
        m.d.comb += Assert(~(dut.frame_valid & dut.rx.ready))
        return m


def test_receiver_returns_to_idle_and_writes_in_bounds(tmp_path):
    # k = timeout + 3 is enough for the induction; k = 10 also makes the base case reach
    # a write past the buffer from reset (SOF, length, opcode, seq, DEPTH + 1 payload
    # bytes).
    prove(ReceiverSpec(), tmp_path, mode="prove", depth=10)
