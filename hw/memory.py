"""The weight memory: one single-port RAM of ``P``-lane words.

Single-ported on purpose: the iCE40 UP5K's SPRAM (``SB_SPRAM256KA``) has one port, and
every block of the core is scheduled so that one read *or* one write happens per cycle.
Each request (address, ``en`` to read, ``we`` to write) is registered, then performed:
a read's data arrives ``read_latency`` cycles after its address; a write cycle returns
no data; a cycle with neither keeps the last data read.

``read_latency`` is 2 (request register, RAM) or 3: then each RAM's output is registered
too, before the words of several RAMs are chosen from. On the ECP5 a block RAM's clock to
output (5.6 ns) and the route from RAMs spread over the die leave too little of a
100 MHz cycle for that choice. At 4 the chosen word is registered as well: a chip with
ES units makes each word read its member's weight (a compare and a clamp) before the
synapse engine's add register, and on the ECP5 the bank choice and that clamp do not fit
one cycle together (``mnist-es``: 84 MHz at 3); a wide chip's RAM outputs are registered
among the lanes they feed, far from the RAMs (``mnist-wide``: 99.2 MHz at 3; see
:meth:`~spikefab.hw.families.Board.weight_latency`). The blocks that read the memory take its latency from
:attr:`WeightMemory.read_latency`.

On an iCE40 UP5K platform the words live in ``SB_SPRAM256KA`` blocks (16K × 16 bits
each, four on the chip): ``ceil(width / 16)`` blocks side by side make a word, and
``ceil(depth / 16384)`` such banks are selected by the high address bits. A bitstream
cannot initialise SPRAM, so there the host writes the initial weights
(:meth:`~spikefab.driver.Chip.write_weights`) before the chip learns. On other FPGAs the
memory is block RAM holding golden's initial weights, one bit of the word per RAM (see
:meth:`WeightMemory._bit_slices`); in simulation, one word-wide memory.
"""

from amaranth.hdl import Cat, ClockSignal, Instance, MemoryData, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from spikefab.hw.families import SPRAM, family_of
from spikefab.hw.weight_port import WeightPort


__all__ = ["WeightMemory", "READ_LATENCIES", "SPRAM_BLOCKS", "spram_blocks", "has_spram",
           "COLLISION_FREE"]

#: Yosys commands that let every inferred block RAM be mapped as it is. Amaranth's read
#: ports return the old word when the same address is written in that cycle, and block
#: RAMs do not promise that across ports, so Yosys would add soft logic to every memory:
#: a delayed write, an address compare and a bypass mux behind the RAM's output (about a
#: tenth of the UP5K, on the critical paths of both FPGAs). No memory of the core is
#: ever read at the address it is written in the same cycle (forwarding covers the
#: accumulators; tests watch :attr:`LearningCore.memory_ports` every cycle), so such
#: collisions are declared undefined instead.
COLLISION_FREE = "setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2"

SPRAM_ADDR_BITS = 14
SPRAM_DEPTH = 1 << SPRAM_ADDR_BITS
SPRAM_WIDTH = 16
SPRAM_BLOCKS = 4  # on the iCE40 UP5K
BLOCK_RAM_BITS = 16384  # an ECP5 DP16KD as 16K × 1
MAX_SLICE_BITS = 4      # … or 8K × 2, 4K × 4
READ_LATENCIES = (2, 3, 4)


def spram_blocks(width, depth):
    """``(columns, banks)`` of SPRAM blocks that hold ``depth`` words of ``width`` bits."""
    return -(-width // SPRAM_WIDTH), -(-depth // SPRAM_DEPTH)


def has_spram(platform):
    """Whether ``platform``'s FPGA family keeps the weights in SPRAM (the iCE40 UP's,
    :data:`spikefab.hw.families.ICE40_UP`)."""
    family = family_of(platform)
    return family is not None and family.weight_memory == SPRAM


class WeightMemory(wiring.Component):
    """Parameters
    ----------
    shapes : :class:`~hw.ports.Shapes`
    depth : int
        Words.
    init : list of list of int
        Initial words (lane values), e.g. :meth:`Layout.pack_weights` of golden's init.
    read_latency : int
        2, 3 or 4: cycles from a read's address to its data (see the module's text).
    bit_sliced : bool, optional
        One RAM per bit of the word; by default on FPGAs without SPRAM (``platform`` not
        None), else one word-wide memory.
    bank_depth : int
        Bits of one block RAM as a 1-bit-wide RAM (16K × 1 is an ECP5 DP16KD); deeper
        memories are split into banks of it, memories at most half or a quarter as deep
        use it two or four bits wide.
    """

    def __init__(self, shapes, depth, init, *, read_latency=2, bit_sliced=None,
                 bank_depth=BLOCK_RAM_BITS):
        if read_latency not in READ_LATENCIES:
            self._MustUse__silence = True   # refused, so never to be elaborated
            raise ValueError(f"read_latency must be one of {READ_LATENCIES}, "
                             f"not {read_latency!r}")
        if bank_depth < 1 or bank_depth & (bank_depth - 1):
            self._MustUse__silence = True
            raise ValueError(f"bank_depth must be a power of two, not {bank_depth!r}")
        self._shapes = shapes
        self.depth = depth
        self.read_latency = read_latency
        self._bit_sliced = bit_sliced
        self._bank_depth = bank_depth
        #: The contents, readable by simulator testbenches (``ctx.get(data[addr])``);
        #: a bit-sliced memory keeps its words in its slices instead.
        self.data = MemoryData(shape=shapes.weight_word, depth=depth, init=init)
        self._init_words = init
        self.memory_ports = []
        # The port's responder: clients reach it through a WeightArbiter.
        super().__init__(WeightPort.Signature(shapes, read_latency=read_latency).flip())

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
        self.memory_ports = []
        if has_spram(platform):
            rdata = self._spram(m, addr, en, we, wdata)
        elif platform is not None if self._bit_sliced is None else self._bit_sliced:
            rdata = self._bit_slices(m, addr, en, we, wdata)
        else:
            m.submodules.ram = ram = Memory(data=self.data)
            read, write = ram.read_port(), ram.write_port()
            self.memory_ports.append(("weights", read, write))
            m.d.comb += [
                read.addr.eq(addr), read.en.eq(en),
                write.addr.eq(addr), write.en.eq(we), write.data.eq(wdata),
            ]
            rdata = self._bank_select(m, [read.data.as_value()], addr, en, bank_bits=0)
        m.d.comb += self.rdata.eq(rdata)
        return m

    def _bank_select(self, m, outputs, addr, en, *, bank_bits):
        """The word last read, from ``outputs`` (each bank's RAM output, which holds the
        bank's last read); with a read latency of 3, each is registered first, with 4 the
        chosen word too."""
        banks = len(outputs)
        read_bank = Signal(range(banks), name="read_bank")
        if banks > 1:
            with m.If(en):
                m.d.sync += read_bank.eq(addr[bank_bits:])
        if self.read_latency >= 3:
            registered = [Signal.like(out, name=f"{out.name}_q") for out in outputs]
            m.d.sync += [q.eq(out) for q, out in zip(registered, outputs)]
            bank_q = Signal.like(read_bank, name="read_bank_q")
            m.d.sync += bank_q.eq(read_bank)
            outputs, read_bank = registered, bank_q
        rdata = outputs[0]
        for b in range(1, banks):
            rdata = Mux(read_bank == b, outputs[b], rdata)
        if self.read_latency == 4:
            chosen = Signal.like(outputs[0], name="rdata_q")
            m.d.sync += chosen.eq(rdata)
            rdata = chosen
        return rdata

    def _bit_slices(self, m, addr, en, we, wdata):
        """One memory per bit of the word and bank of ``bank_depth`` words. A word-wide
        memory deeper than one block RAM is split by address, and its output is a wide
        multiplexer of many RAMs (50 on the ECP5 for ``mnist``): too slow after a block
        RAM's clock-to-output. A 1-bit-wide memory uses each RAM at its full depth
        (16K × 1 on the ECP5), so a bit is chosen from ``ceil(depth / 16K)`` RAMs, a
        single LUT level. A memory at most half as deep as a RAM takes two or four bits
        a RAM instead: ``mnist`` at 16 lanes (6,352 words of 128 bits) fits 64 RAMs of
        8K × 2 rather than 128 of 16K × 1, and its build met 100 MHz (104.5 MHz, where
        the 128 one-bit RAMs spread over the die left registers 82 columns from their
        RAM: 95.3 MHz)."""
        packed = [self._shapes.weight_word.const(list(word)).as_value().value
                  for word in self._init_words]
        width = len(wdata)
        bank_depth, slice_bits = self._bank_depth, 1
        # A memory at most half a RAM deep takes two bits a RAM, at most a quarter four
        # (the ECP5's DP16KD as 8K × 2, 4K × 4): half or a quarter of the RAMs, so less
        # of the die between a RAM and the lanes it feeds.
        while slice_bits < MAX_SLICE_BITS and self.depth <= bank_depth // 2:
            bank_depth, slice_bits = bank_depth // 2, slice_bits * 2
        bank_bits = (bank_depth - 1).bit_length()
        banks = -(-self.depth // bank_depth)
        bank = addr[bank_bits:] if banks > 1 else 0
        columns = [[] for _ in range(banks)]
        for b in range(banks):
            first, depth = b * bank_depth, min(bank_depth, self.depth - b * bank_depth)
            for low in range(0, width, slice_bits):
                bits = min(slice_bits, width - low)
                name = f"ram_b{b}_bit{low}"
                mask = (1 << bits) - 1
                m.submodules[name] = ram = Memory(
                    shape=bits, depth=depth,
                    init=[(word >> low) & mask for word in packed[first:first + depth]])
                read, write = ram.read_port(), ram.write_port()
                self.memory_ports.append((f"weights_b{b}_bit{low}", read, write))
                selected = bank == b
                m.d.comb += [
                    read.addr.eq(addr), read.en.eq(en & selected),
                    write.addr.eq(addr), write.en.eq(we & selected),
                    write.data.eq(wdata[low:low + bits]),
                ]
                columns[b].append(read.data)
        outputs = []
        for b, bits in enumerate(columns):
            outputs.append(Signal(width, name=f"ram_b{b}"))
            m.d.comb += outputs[-1].eq(Cat(*bits))
        return self._bank_select(m, outputs, addr, en, bank_bits=bank_bits)

    def _spram(self, m, addr, en, we, wdata):
        width = len(wdata)
        columns, banks = spram_blocks(width, self.depth)
        if columns * banks > SPRAM_BLOCKS:
            raise ValueError(
                f"{self.depth} weight words of {width} bits need {columns * banks} SPRAM "
                f"blocks; the iCE40 UP5K has {SPRAM_BLOCKS}")
        padded = Signal(columns * SPRAM_WIDTH)
        m.d.comb += padded.eq(wdata)
        # Chip selects are registered with the request (no decode before the pins).
        request_bank = self.addr[SPRAM_ADDR_BITS:] if banks > 1 else 0
        selects = Signal(banks)
        for b in range(banks):
            m.d.sync += selects[b].eq((self.en | self.we) & (request_bank == b))
        outputs = []
        for b in range(banks):
            word = []
            for c in range(columns):
                out = Signal(SPRAM_WIDTH, name=f"spram_b{b}_c{c}")
                m.submodules[f"spram_b{b}_c{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr[:SPRAM_ADDR_BITS],
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
        return self._bank_select(m, outputs, addr, en, bank_bits=SPRAM_ADDR_BITS)[:width]
