"""Board tops: the chip behind a UART on an amaranth-boards platform.

:class:`BoardTop` runs :class:`~spikefab.hw.top.SpikefabTop` in a clock domain made by a
PLL from the board's oscillator, bridges its byte streams to the board's UART (8N1), and
lights LED 0 while it holds a request (a frame being received, computed or answered): a
heartbeat for "the host is talking to it".

What differs from board to board (the PLL and its dividers, the target clock, extra UART
enables, the weight memory's read latency) is read from the board's record and its
family's (:mod:`spikefab.hw.families`, which also lists the supported boards).
"""

from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.lib import wiring

from spikefab.hw.families import BOARDS, Board, board
from spikefab.hw.top import SpikefabTop
from spikefab.hw.uart import UARTReceiver, UARTTransmitter


__all__ = ["Board", "BOARDS", "BoardTop", "board"]


class BoardTop(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    board : :class:`~spikefab.hw.families.Board`
    baud : int
        UART bit rate.
    """

    def __init__(self, config, board, *, baud=115200):
        self.config = config
        self.board = board
        self.baud = baud
        self.chip = SpikefabTop(config, weight_latency=board.weight_latency(config))
        super().__init__({})

    def _pll(self, m, platform):
        """Make the ``sync`` domain at the board's target clock from its oscillator."""
        board = self.board
        m.domains.sync = sync = ClockDomain("sync")
        platform.add_clock_constraint(sync.clk, board.target_hz)
        locked = Signal()
        board.family.instantiate_pll(m, platform, board, sync.clk, locked)
        # Held in reset until the PLL locks.
        m.d.comb += sync.rst.eq(~locked)

    def elaborate(self, platform):
        m = Module()
        self._pll(m, platform)
        divisor = round(self.board.target_hz / self.baud)
        chip = m.submodules.chip = self.chip
        rx = m.submodules.uart_rx = UARTReceiver(divisor)
        tx = m.submodules.uart_tx = UARTTransmitter(divisor)
        wiring.connect(m, rx.bytes, chip.rx)
        wiring.connect(m, chip.tx, tx.bytes)

        uart = platform.request("uart", 0)
        m.d.comb += [rx.rx.eq(uart.rx.i), uart.tx.o.eq(tx.tx)]
        for enable in self.board.uart_enables:
            m.d.comb += platform.request(enable, 0).o.eq(1)

        # LED 0: busy with a request (the receiver stops taking bytes meanwhile).
        led = platform.request("led", 0)
        busy = Signal()
        m.d.sync += busy.eq(~chip.rx.ready | chip.tx.valid)
        m.d.comb += led.o.eq(busy)
        return m
