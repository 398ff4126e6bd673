"""The weight memory: one single-port RAM of ``P``-lane words.

Single-ported on purpose: the iCE40 UP5K's SPRAM (``SB_SPRAM256KA``) has one port, and
every block of the core is scheduled so that one read *or* one write happens per cycle.
Each request (address, ``en`` to read, ``we`` to write) is registered, then performed:
a read's data arrives two cycles after its address; a write cycle returns no data; a
cycle with neither keeps the last data read.

On an iCE40 UP5K platform the words live in ``SB_SPRAM256KA`` blocks (16K × 16 bits
each, four on the chip): ``ceil(width / 16)`` blocks side by side make a word, and
``ceil(depth / 16384)`` such banks are selected by the high address bits. A bitstream
cannot initialise SPRAM, so there the host writes the initial weights
(:meth:`~spikefab.driver.Chip.write_weights`) before the chip learns. Elsewhere the memory
is inferred block RAM holding golden's initial weights.
"""

from amaranth.hdl import Cat, ClockSignal, Instance, MemoryData, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


__all__ = ["WeightMemory", "SPRAM_BLOCKS", "spram_blocks", "has_spram", "COLLISION_FREE"]

#: Yosys commands that let every inferred block RAM be mapped as it is. Amaranth's read
#: ports return the old word when the same address is written in that cycle, and block
#: RAMs do not promise that across ports, so Yosys would add soft logic to every memory:
#: a delayed write, an address compare and a bypass mux behind the RAM's output (about a
#: tenth of the UP5K, on the critical paths of both FPGAs). No memory of the core is
#: ever read at the address it is written in the same cycle (forwarding covers the
#: accumulators; tests watch :attr:`LearningCore.memory_ports` every cycle), so such
#: collisions are declared undefined instead.
COLLISION_FREE = "setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2"

SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16
SPRAM_BLOCKS = 4  # on the iCE40 UP5K


def spram_blocks(width, depth):
    """``(columns, banks)`` of SPRAM blocks that hold ``depth`` words of ``width`` bits."""
    return -(-width // SPRAM_WIDTH), -(-depth // SPRAM_DEPTH)


def has_spram(platform):
    """Whether ``platform`` is an iCE40 UP part, whose weights go to SPRAM."""
    return str(getattr(platform, "device", "")).startswith("iCE40UP")


class WeightMemory(wiring.Component):
    """Parameters
    ----------
    shapes : :class:`~hw.ports.Shapes`
    depth : int
        Words.
    init : list of list of int
        Initial words (lane values), e.g. :meth:`Layout.pack_weights` of golden's init.
    """

    def __init__(self, shapes, depth, init, *, bit_sliced=None):
        self._shapes = shapes
        self.depth = depth
        # None: bit-sliced on FPGAs with block RAM only (see _bit_slices).
        self._bit_sliced = bit_sliced
        #: The contents, readable by simulator testbenches (``ctx.get(data[addr])``);
        #: a bit-sliced memory keeps its words in its slices instead.
        self.data = MemoryData(shape=shapes.weight_word, depth=depth, init=init)
        self._init_words = init
        self.memory_ports = []
        super().__init__({
            "addr": In(shapes.weight_addr),
            "en": In(1),
            "rdata": Out(shapes.weight_word),
            "wdata": In(shapes.weight_word),
            "we": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        # The requests are registered before they reach the RAM, so that the path from
        # any client's logic ends at a flip-flop, not at a RAM pin across the die (the
        # UP5K's SPRAMs sit in its corners).
        addr = Signal.like(self.addr, name="addr_q")
        en = Signal(name="en_q")
        we = Signal(name="we_q")
        wdata = Signal.like(self.wdata.as_value(), name="wdata_q")
        m.d.sync += [addr.eq(self.addr), en.eq(self.en & ~self.we), we.eq(self.we),
                     wdata.eq(self.wdata)]
        if has_spram(platform):
            self._spram(m, addr, en, we, wdata)
            return m
        bit_sliced = platform is not None if self._bit_sliced is None else self._bit_sliced
        words = self._bit_slices() if bit_sliced else [Memory(data=self.data)]
        self.memory_ports = []
        outputs = []
        for n, ram in enumerate(words):
            m.submodules[f"ram{n}" if bit_sliced else "ram"] = ram
            read = ram.read_port()
            write = ram.write_port()
            self.memory_ports.append((f"weights{n}", read, write))
            m.d.comb += [
                read.addr.eq(addr), read.en.eq(en),
                write.addr.eq(addr), write.en.eq(we),
                write.data.eq(wdata[n] if bit_sliced else wdata),
            ]
            outputs.append(read.data)
        m.d.comb += self.rdata.eq(Cat(*outputs))
        return m

    def _bit_slices(self):
        """One memory per bit of the word. A word-wide memory deeper than one block RAM
        is split by address, and its output is a wide multiplexer of many RAMs (50 on the
        ECP5 for ``mnist``): too slow after a block RAM's clock-to-output. A 1-bit-wide
        memory uses each RAM at its full depth (16K × 1 on the ECP5), so the output is
        chosen from ``ceil(depth / 16K)`` RAMs, a single LUT level."""
        packed = [self._shapes.weight_word.const(list(word)).as_value().value
                  for word in self._init_words]
        width = len(self.wdata.as_value())
        return [Memory(shape=1, depth=self.depth, init=[(word >> b) & 1 for word in packed])
                for b in range(width)]

    def _spram(self, m, addr, en, we, wdata):
        width = len(wdata)
        columns, banks = spram_blocks(width, self.depth)
        if columns * banks > SPRAM_BLOCKS:
            raise ValueError(
                f"{self.depth} weight words of {width} bits need {columns * banks} SPRAM "
                f"blocks; the iCE40 UP5K has {SPRAM_BLOCKS}")
        padded = Signal(columns * SPRAM_WIDTH)
        m.d.comb += padded.eq(wdata)
        low_addr = addr[:14]
        # Chip selects are registered with the request (no decode before the pins).
        request_bank = self.addr[14:] if banks > 1 else 0
        selects = Signal(banks)
        for b in range(banks):
            m.d.sync += selects[b].eq((self.en | self.we) & (request_bank == b))
        # The bank whose output holds the last data read (outputs keep it until the next
        # access of that bank).
        read_bank = Signal(range(banks))
        with m.If(en):
            m.d.sync += read_bank.eq(addr[14:] if banks > 1 else 0)
        outputs = []
        for b in range(banks):
            word = []
            for c in range(columns):
                out = Signal(SPRAM_WIDTH, name=f"spram_b{b}_c{c}")
                m.submodules[f"spram_b{b}_c{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=low_addr,
                    i_DATAIN=padded[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    i_MASKWREN=0b1111,
                    i_WREN=we,
                    i_CHIPSELECT=selects[b],
                    i_CLOCK=ClockSignal("sync"),
                    i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=out)
                word.append(out)
            outputs.append(Signal(columns * SPRAM_WIDTH, name=f"spram_b{b}"))
            m.d.comb += outputs[-1].eq(Cat(*word))
        rdata = outputs[0]
        for b in range(1, banks):
            rdata = Mux(read_bank == b, outputs[b], rdata)
        m.d.comb += self.rdata.eq(rdata[:width])
