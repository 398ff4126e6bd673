"""Board tops: the chip behind a UART on an amaranth-boards platform.

:class:`BoardTop` runs :class:`~hw.top.SpikefabTop` in a clock domain made by a PLL from
the board's oscillator, bridges its byte streams to the board's UART (8N1), and lights
LED 0 while it holds a request (a frame being received, computed or answered): a
heartbeat for "the host is talking to it".

:data:`BOARDS` lists the supported boards with their target clocks: the iCEBreaker's
12 MHz oscillator multiplied to 30 MHz by an ``SB_PLL40_PAD``, the ULX3S's 25 MHz to
100 MHz by an ``EHXPLLL``. At 100 MHz the ECP5's weight memory registers each block
RAM's output (read latency 3): a DP16KD's clock to output and the route from RAMs spread
over the die fill most of the cycle.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Const, Instance, Module, Signal
from amaranth.lib import wiring

from .top import SpikefabTop
from .uart import UARTReceiver, UARTTransmitter


__all__ = ["Board", "BOARDS", "BoardTop", "board"]


@dataclass(frozen=True)
class Board:
    """A supported board: its platform class, clock plan and how to program it."""
    name: str
    platform: str          # "module:Class" in amaranth_boards
    oscillator_hz: int
    target_hz: int
    pll: dict              # the PLL's divider parameters
    programmer: str
    weight_latency: int    # the weight memory's read latency (hw.memory.WeightMemory)

    def make_platform(self):
        import importlib
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()


BOARDS = {
    # icepll -i 12 -o 30: 12 MHz × 80 / 32, VCO 960 MHz.
    "icebreaker": Board("icebreaker", "icebreaker:ICEBreakerPlatform", 12_000_000,
                        30_000_000, {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1},
                        "iceprog", weight_latency=2),
    # ecppll -i 25 -o 100: 25 MHz / 1 × 4 (feedback from CLKOP at /6), VCO 600 MHz.
    "ulx3s": Board("ulx3s", "ulx3s:ULX3S_85F_Platform", 25_000_000, 100_000_000,
                   {"CLKI_DIV": 1, "CLKFB_DIV": 4, "CLKOP_DIV": 6, "CLKOP_CPHASE": 2},
                   "openFPGALoader", weight_latency=3),
}


def board(name):
    """The board called ``name``; an unknown name lists the valid ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; valid boards: "
                         f"{', '.join(sorted(BOARDS))}") from None


class BoardTop(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    board : :class:`Board`
    baud : int
        UART bit rate.
    """

    def __init__(self, config, board, *, baud=115200):
        self.config = config
        self.board = board
        self.baud = baud
        self.chip = SpikefabTop(config, weight_latency=board.weight_latency)
        super().__init__({})

    def _pll(self, m, platform):
        """Make the ``sync`` domain at the board's target clock from its oscillator."""
        board = self.board
        m.domains.sync = sync = ClockDomain("sync")
        platform.add_clock_constraint(sync.clk, board.target_hz)
        locked = Signal()
        if board.name == "icebreaker":
            clk_pin = platform.request(platform.default_clk, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=board.pll["DIVR"], p_DIVF=board.pll["DIVF"],
                p_DIVQ=board.pll["DIVQ"], p_FILTER_RANGE=board.pll["FILTER_RANGE"],
                io_PACKAGEPIN=clk_pin.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=sync.clk, o_LOCK=locked)
        else:
            clk_in = platform.request(platform.default_clk, dir="i")
            feedback = Signal()
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_CLKI_DIV=board.pll["CLKI_DIV"], p_CLKFB_DIV=board.pll["CLKFB_DIV"],
                p_CLKOP_DIV=board.pll["CLKOP_DIV"], p_CLKOP_CPHASE=board.pll["CLKOP_CPHASE"],
                p_CLKOP_FPHASE=0, p_CLKOP_ENABLE="ENABLED", p_FEEDBK_PATH="CLKOP",
                p_OUTDIVIDER_MUXA="DIVA", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                a_FREQUENCY_PIN_CLKI=str(board.oscillator_hz / 1e6),
                a_FREQUENCY_PIN_CLKOP=str(board.target_hz / 1e6),
                i_CLKI=clk_in.i, i_CLKFB=feedback, i_RST=Const(0), i_STDBY=Const(0),
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0,
                i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=feedback, o_LOCK=locked)
            m.d.comb += sync.clk.eq(feedback)
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
        if self.board.name == "ulx3s":
            # The FTDI's TX enable on the ULX3S.
            m.d.comb += platform.request("uart_tx_enable", 0).o.eq(1)

        # LED 0: busy with a request (the receiver stops taking bytes meanwhile).
        led = platform.request("led", 0)
        busy = Signal()
        m.d.sync += busy.eq(~chip.rx.ready | chip.tx.valid)
        m.d.comb += led.o.eq(busy)
        return m
