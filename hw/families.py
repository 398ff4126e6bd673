"""The FPGA families and boards spikefab builds for: everything the build, the board top,
the weight memory, the report and the programmer need to know about them, as records.

A :class:`Family` is what every board with that FPGA shares: its PLL primitive and how to
instantiate it, its weight memory (SPRAM, or block RAM one bit of the word per RAM) and
that memory's read latency, the Yosys options it needs, nextpnr's tool and resource names,
the pack tool and the bitstream's suffix, and the programmer's command line. A
:class:`Board` is one board: its `amaranth-boards`_ platform, its oscillator, the clock
the chip runs at, the PLL's dividers that make one from the other, the extra UART pins it
enables, and its family. No code elsewhere asks which board or family it has: it reads
these fields. A new board with a known FPGA is one :class:`Board` entry in :data:`BOARDS`.

- **iCE40 UP** (iCEBreaker): ``SB_PLL40_PAD`` straight from the clock pin, weights in the
  UP5K's four ``SB_SPRAM256KA`` (read latency 2), the update unit's multipliers in its
  DSP blocks (``synth_ice40 -dsp``), ``icepack`` to a ``.bin``, ``iceprog`` to load it.
- **ECP5** (ULX3S): ``EHXPLLL`` with its feedback from ``CLKOP``, weights bit-sliced
  over ``DP16KD`` block RAMs with each RAM's output registered (read latency 3: a
  DP16KD's clock to output and the route from RAMs spread over the die fill most of a
  100 MHz cycle), ``ecppack`` to a ``.bit``, ``openFPGALoader`` to load it.

This module reads without Amaranth (the command line lists boards and programs them from
it); the PLL functions import it when they build.

.. _amaranth-boards: https://github.com/amaranth-lang/amaranth-boards
"""

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from spikefab.layout import Layout


__all__ = ["Family", "Board", "ICE40_UP", "ECP5", "FAMILIES", "BOARDS", "DEFAULT_BOARD",
           "board", "family_of", "tool_variable", "SPRAM", "BIT_SLICED_BLOCK_RAM",
           "WEIGHT_MEMORIES", "REPORT_RESOURCES"]

#: The weight memory's kinds (:class:`~spikefab.hw.memory.WeightMemory`).
SPRAM = "spram"
BIT_SLICED_BLOCK_RAM = "bit-sliced block RAM"
WEIGHT_MEMORIES = (SPRAM, BIT_SLICED_BLOCK_RAM)

#: The resources of the build report (``build/<board>/report.json``), each named by a
#: family with nextpnr's cell type (None: the family has none).
REPORT_RESOURCES = ("luts", "bram", "spram", "dsp")


@dataclass(frozen=True)
class Family:
    """What every board with one FPGA family shares."""
    name: str
    devices: tuple              # prefixes of the platform's ``device`` ("iCE40UP")
    pll_primitive: str          # the PLL cell, e.g. "SB_PLL40_PAD"
    pll_parameters: tuple       # the divider parameters a board gives, in order
    pll_output: Callable        # (oscillator_hz, pll) -> (output Hz, VCO Hz), exact
    vco_range_hz: tuple         # (lowest, highest) VCO frequency the datasheet allows
    instantiate_pll: Callable   # (m, platform, board, clk, locked): the PLL in module m
    weight_memory: str          # one of WEIGHT_MEMORIES
    weight_latency: int         # the weight memory's read latency (2 or 3)
    long_weight_latency: int    # … in a chip with ES units or wide lanes (Board.weight_latency)
    nextpnr: str                # "nextpnr-ice40": the place-and-route tool
    resources: dict             # REPORT_RESOURCES -> nextpnr's cell type, or None
    logic_unit: str             # what the report calls nextpnr's "luts" ("LCs", "LUTs")
    pack: str                   # "icepack": the bitstream packer
    bitstream_suffix: str       # ".bin"
    synth_opts: str             # options of Yosys's synth_<family>
    script_after_synth: tuple   # Yosys commands after synth; "{top}" is the design's name
    bram_output_registers: bool  # spikefab.bram_outreg's pass between Yosys and nextpnr
    programmer: tuple           # command line; "{bitstream}" and "{board}" are filled in

    def __post_init__(self):
        if not self.devices:
            raise ValueError(f"family {self.name}: no device prefixes")
        if self.weight_memory not in WEIGHT_MEMORIES:
            raise ValueError(f"family {self.name}: weight memory {self.weight_memory!r} is "
                             f"not one of {WEIGHT_MEMORIES}")
        if set(self.resources) != set(REPORT_RESOURCES):
            raise ValueError(f"family {self.name}: resources must name exactly "
                             f"{REPORT_RESOURCES}, not {tuple(self.resources)}")
        if (self.resources["spram"] is not None) != (self.weight_memory == SPRAM):
            raise ValueError(f"family {self.name}: an SPRAM cell is named exactly when the "
                             f"weights live in SPRAM")
        if not self.bitstream_suffix.startswith("."):
            raise ValueError(f"family {self.name}: bitstream suffix "
                             f"{self.bitstream_suffix!r} does not start with '.'")
        if "{bitstream}" not in self.programmer:
            raise ValueError(f"family {self.name}: the programmer's command "
                             f"{self.programmer} has no '{{bitstream}}' argument")

    def matches(self, device):
        """Whether an FPGA called ``device`` (a platform's ``device``) is of this family."""
        return str(device).startswith(self.devices)

    def tools(self):
        """The tools a build for this family runs after Yosys, by Amaranth's variable."""
        return {tool_variable(tool): tool for tool in (self.nextpnr, self.pack)}


def tool_variable(tool):
    """Amaranth's environment variable naming ``tool``'s command (``nextpnr-ice40`` →
    ``NEXTPNR_ICE40``)."""
    return tool.upper().replace("-", "_")


@dataclass(frozen=True)
class Board:
    """A supported board: its platform, clock plan, UART wiring and FPGA family."""
    name: str
    platform: str               # "module:Class" in amaranth_boards
    oscillator_hz: int
    target_hz: int              # the chip's clock, made by the PLL
    pll: dict                   # the family's pll_parameters, each given a value
    family: Family
    uart_enables: tuple = field(default=())   # outputs driven high to enable the UART

    def __post_init__(self):
        if not isinstance(self.family, Family):
            raise TypeError(f"board {self.name}: family must be a Family, "
                            f"not {self.family!r}")
        module, _, cls = self.platform.partition(":")
        if not module or not cls:
            raise ValueError(f"board {self.name}: platform {self.platform!r} is not "
                             f"'module:Class'")
        given, wanted = set(self.pll), set(self.family.pll_parameters)
        if given != wanted:
            raise ValueError(
                f"board {self.name}: the {self.family.pll_primitive} needs parameters "
                f"{', '.join(self.family.pll_parameters)}; missing "
                f"{sorted(wanted - given)}, unknown {sorted(given - wanted)}")
        output, vco = self.family.pll_output(self.oscillator_hz, self.pll)
        if output != self.target_hz:
            raise ValueError(f"board {self.name}: the PLL makes {float(output) / 1e6:g} MHz "
                             f"from {self.oscillator_hz / 1e6:g} MHz, not the target "
                             f"{self.target_hz / 1e6:g} MHz")
        low, high = self.family.vco_range_hz
        if not low <= vco <= high:
            raise ValueError(f"board {self.name}: the PLL's VCO runs at "
                             f"{float(vco) / 1e6:g} MHz, outside {self.family.name}'s "
                             f"{low / 1e6:g}–{high / 1e6:g} MHz")

    def weight_latency(self, config):
        """The weight memory's read latency (:class:`~spikefab.hw.memory.WeightMemory`)
        in ``config``'s chip: the family's, or its ``long_weight_latency`` in a chip whose
        weight words feed more than the synapse engine's add (ES units clamp each to its
        member's) or whose lanes spread the RAMs' outputs over the die
        (:attr:`~spikefab.layout.Layout.wide`)."""
        if config.es_on_chip or Layout(config).wide:
            return self.family.long_weight_latency
        return self.family.weight_latency

    def make_platform(self):
        import importlib
        module, cls = self.platform.split(":")
        platform = getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()
        if not self.family.matches(platform.device):
            raise ValueError(f"board {self.name}: {self.platform}'s device "
                             f"{platform.device} is not an {self.family.name}")
        return platform

    def programmer_command(self, bitstream):
        """The command line that loads ``bitstream`` onto this board."""
        return [arg.format(bitstream=bitstream, board=self.name)
                for arg in self.family.programmer]


# --- iCE40 UP ----------------------------------------------------------------------------

def _ice40_pll_output(oscillator_hz, pll):
    """SIMPLE feedback: VCO = f_in / (DIVR + 1) × (DIVF + 1), output = VCO / 2^DIVQ."""
    vco = Fraction(oscillator_hz, pll["DIVR"] + 1) * (pll["DIVF"] + 1)
    return vco / 2 ** pll["DIVQ"], vco


def _ice40_pll(m, platform, board, clk, locked):
    """``SB_PLL40_PAD``: the PLL sits on the clock pin itself, so it takes the pad."""
    from amaranth.hdl import Const, Instance

    clk_pin = platform.request(platform.default_clk, dir="-")
    m.submodules.pll = Instance(
        board.family.pll_primitive,
        p_FEEDBACK_PATH="SIMPLE",
        **{f"p_{name}": board.pll[name] for name in board.family.pll_parameters},
        io_PACKAGEPIN=clk_pin.io, i_RESETB=Const(1), i_BYPASS=Const(0),
        o_PLLOUTGLOBAL=clk, o_LOCK=locked)


ICE40_UP = Family(
    name="iCE40 UP",
    devices=("iCE40UP",),
    pll_primitive="SB_PLL40_PAD",
    pll_parameters=("DIVR", "DIVF", "DIVQ", "FILTER_RANGE"),
    pll_output=_ice40_pll_output,
    vco_range_hz=(533_000_000, 1_066_000_000),
    instantiate_pll=_ice40_pll,
    weight_memory=SPRAM,
    weight_latency=2,
    long_weight_latency=2,
    nextpnr="nextpnr-ice40",
    resources={"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
               "dsp": "ICESTORM_DSP"},
    logic_unit="LCs",
    pack="icepack",
    bitstream_suffix=".bin",
    # The UP5K's DSP blocks take the update unit's multipliers off its full fabric.
    synth_opts="-dsp",
    script_after_synth=(),
    bram_output_registers=False,    # the UP5K's block RAMs have no output register
    programmer=("iceprog", "{bitstream}"),
)


# --- ECP5 --------------------------------------------------------------------------------

def _ecp5_pll_output(oscillator_hz, pll):
    """Feedback from CLKOP: output = f_in / CLKI_DIV × CLKFB_DIV,
    VCO = output × CLKOP_DIV."""
    output = Fraction(oscillator_hz, pll["CLKI_DIV"]) * pll["CLKFB_DIV"]
    return output, output * pll["CLKOP_DIV"]


def _ecp5_pll(m, platform, board, clk, locked):
    """``EHXPLLL`` fed from the clock pin, its feedback taken from its own CLKOP."""
    from amaranth.hdl import Const, Instance, Signal

    clk_in = platform.request(platform.default_clk, dir="i")
    feedback = Signal()
    m.submodules.pll = Instance(
        board.family.pll_primitive,
        **{f"p_{name}": board.pll[name] for name in board.family.pll_parameters},
        p_CLKOP_FPHASE=0, p_CLKOP_ENABLE="ENABLED", p_FEEDBK_PATH="CLKOP",
        p_OUTDIVIDER_MUXA="DIVA", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
        p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
        a_FREQUENCY_PIN_CLKI=str(board.oscillator_hz / 1e6),
        a_FREQUENCY_PIN_CLKOP=str(board.target_hz / 1e6),
        i_CLKI=clk_in.i, i_CLKFB=feedback, i_RST=Const(0), i_STDBY=Const(0),
        i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0,
        i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0,
        o_CLKOP=feedback, o_LOCK=locked)
    m.d.comb += clk.eq(feedback)


ECP5 = Family(
    name="ECP5",
    devices=("LFE5U",),
    pll_primitive="EHXPLLL",
    pll_parameters=("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOP_CPHASE"),
    pll_output=_ecp5_pll_output,
    vco_range_hz=(400_000_000, 800_000_000),
    instantiate_pll=_ecp5_pll,
    weight_memory=BIT_SLICED_BLOCK_RAM,
    weight_latency=3,
    # The ES units clamp each weight read to its member's before the add (hw.memory); at
    # 16 lanes a RAM's output register sits far from it, among its readers (mnist-wide:
    # 5.6 ns clock to output and 4.5 ns of route, 99.2 MHz at latency 3).
    long_weight_latency=4,
    nextpnr="nextpnr-ecp5",
    resources={"luts": "TRELLIS_COMB", "bram": "DP16KD", "spram": None,
               "dsp": "MULT18X18D"},
    logic_unit="LUTs",
    pack="ecppack",
    bitstream_suffix=".bit",
    # Yosys 0.70's synth_ecp5 trips an assertion when it reintegrates the abc9 mapping
    # of this design; map the LUTs with abc instead and let synth_ecp5 finish.
    synth_opts="-run begin:map_luts",
    script_after_synth=("techmap -map +/lattice/latches_map.v", "abc -lut 4:7", "clean",
                        "synth_ecp5 -run map_cells: -top {top}"),
    # Flip-flops right behind a block RAM become its output register (5.8 ns clock to
    # output → a register's): the RAMs of the 16-lane presets spread over the die.
    bram_output_registers=True,
    programmer=("openFPGALoader", "-b", "{board}", "{bitstream}"),
)


FAMILIES = {family.name: family for family in (ICE40_UP, ECP5)}


def family_of(platform):
    """The family of ``platform``'s FPGA, or None (no platform, as in simulation, or an
    FPGA spikefab does not build for)."""
    device = getattr(platform, "device", None)
    return next((f for f in FAMILIES.values() if device and f.matches(device)), None)


BOARDS = {
    # icepll -i 12 -o 30: 12 MHz × 80 / 32, VCO 960 MHz.
    "icebreaker": Board("icebreaker", "icebreaker:ICEBreakerPlatform", 12_000_000,
                        30_000_000, {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1},
                        ICE40_UP),
    # ecppll -i 25 -o 100: 25 MHz / 1 × 4 (feedback from CLKOP at /6), VCO 600 MHz.
    # The FTDI's TX enable must be driven high for the chip's replies to reach the host.
    "ulx3s": Board("ulx3s", "ulx3s:ULX3S_85F_Platform", 25_000_000, 100_000_000,
                   {"CLKI_DIV": 1, "CLKFB_DIV": 4, "CLKOP_DIV": 6, "CLKOP_CPHASE": 2},
                   ECP5, uart_enables=("uart_tx_enable",)),
}

#: The board a command builds for when none is named.
DEFAULT_BOARD = "icebreaker"


def board(name):
    """The board called ``name``; an unknown name lists the valid ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; valid boards: "
                         f"{', '.join(sorted(BOARDS))}") from None
