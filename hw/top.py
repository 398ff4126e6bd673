"""The chip: learning core behind the framed host protocol, on a pair of byte streams.

``rx`` carries request frames in, ``tx`` reply frames out (:mod:`spikefab.protocol`). On a
board a UART bridges them (:mod:`hw.uart`); in simulation a testbench or the host driver's
simulator transport drives them directly.

Pipeline of a request: the :class:`~hw.framing.FrameReceiver` stores the payload in the
core's input buffer while checking length and CRC; the :class:`~hw.bridge.CommandBridge`
checks the fields and runs the request (a sample runs as :class:`~hw.core.LearningCore`
describes); the :class:`~hw.framing.FrameSender` sends the reply. One request at a time:
no byte is taken while a request runs.

Speed: cycles per sample as :mod:`spikefab.cost` models them (``cycle_model``) and
bounds them from below (``memory_port_bound``) and above (``max_sample_cycles``).
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.bridge import CommandBridge
from spikefab.hw.core import LearningCore
from spikefab.hw.framing import FrameReceiver, FrameSender
from spikefab.hw.skid import SkidBuffer


__all__ = ["SpikefabTop", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 1 << 20


class SpikefabTop(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    timeout : int
        Cycles without a byte after which a frame cut short gets a ``TIMEOUT`` reply.
    buffer_depth : int, optional
        Bytes of the input buffer, the largest request payload.
    weights : list of arrays, optional
        Initial weights (golden's initialisation by default).
    weight_latency : int
        The weight memory's read latency (:class:`~hw.core.LearningCore`).
    """

    rx: In(stream.Signature(8))
    tx: Out(stream.Signature(8))

    def __init__(self, config, *, timeout=DEFAULT_TIMEOUT, buffer_depth=None, weights=None,
                 weight_latency=2):
        self.config = config
        self.core = LearningCore(config, buffer_depth=buffer_depth, weights=weights,
                                 weight_latency=weight_latency)
        self.timeout = timeout
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        core = m.submodules.core = self.core
        receiver = m.submodules.receiver = FrameReceiver(core.buffer_depth, self.timeout)
        sender = m.submodules.sender = FrameSender()
        bridge = m.submodules.bridge = CommandBridge(core)

        wiring.connect(m, wiring.flipped(self.rx), receiver.rx)
        wiring.connect(m, sender.tx, wiring.flipped(self.tx))
        # A register stage between the reply's byte select and the sender's CRC.
        reply_stage = m.submodules.reply_stage = SkidBuffer(8)
        wiring.connect(m, bridge.reply, reply_stage.i)
        wiring.connect(m, reply_stage.o, sender.body)
        m.d.comb += [
            core.buf_waddr.eq(receiver.buf_waddr),
            core.buf_wdata.eq(receiver.buf_wdata),
            core.buf_we.eq(receiver.buf_we),
            bridge.frame_valid.eq(receiver.frame_valid),
            bridge.frame_status.eq(receiver.status),
            bridge.frame_op.eq(receiver.op),
            bridge.frame_seq.eq(receiver.seq),
            bridge.frame_length.eq(receiver.length),
            receiver.frame_ack.eq(bridge.frame_ack),
            sender.start.eq(bridge.reply_start),
            sender.length.eq(bridge.reply_length),
            bridge.reply_done.eq(sender.done),
        ]
        wiring.connect(m, bridge.core, core.host)
        return m
