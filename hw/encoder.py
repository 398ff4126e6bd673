"""Spike sources of the input layer: the on-chip pixel encoders and the event reader.

Both read the sample from the core's input buffer (bytes, synchronous read port) and
emit, for one timestep per ``start``, the indices of the inputs that spike in increasing
order followed by an ``end`` marker. A malformed sample raises ``error`` and ends the
timestep early; the core then abandons the sample before anything is learned.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.rng import LFSR16_MASK, LFSR16_STEPS_PER_DRAW
from .ports import spike_layout


__all__ = ["PixelEncoder", "EventReader", "lfsr16_draw"]


def lfsr16_draw(state):
    """The LFSR state one draw later: the 8 Galois steps of :mod:`golden.rng`, unrolled."""
    for _ in range(LFSR16_STEPS_PER_DRAW):
        state = (state >> 1) ^ Mux(state[0], LFSR16_MASK, 0)
    return state[:16]


def _source_members(config, buffer_depth):
    """The ports every input spike source shares; the core multiplexes them."""
    return {
        "reload": In(1),
        "start": In(1),
        "offset": In(range(buffer_depth)),
        "error": Out(1),
        "spikes": Out(stream.Signature(spike_layout(config))),
        "buf_raddr": Out(range(buffer_depth)),
        "buf_rdata": In(8),
    }


class PixelEncoder(wiring.Component):
    """Rate (LFSR) or sigma-delta encoder, as ``config.encoding`` says (:mod:`golden.encoders`).

    ``reload`` (at the start of a sample) reloads the LFSR with ``lfsr_seed``; every
    ``start`` scans all ``n_in`` pixels of the buffer from ``offset`` for timestep
    ``first``/next, one pixel a cycle unless the synapse engine holds the stream. The
    sigma-delta accumulators live in a small memory, taken as ``2**(pixel_bits-1)`` on the
    first timestep. A pixel above ``2**pixel_bits - 1`` is an error.
    """

    def __init__(self, config, buffer_depth):
        self._config = config
        super().__init__({**_source_members(config, buffer_depth), "first": In(1)})

    def elaborate(self, platform):
        m = Module()
        config = self._config
        bits = config.pixel_bits
        n_in = config.n_in

        lfsr = Signal(16, init=config.lfsr_seed)
        pixel = Signal(range(n_in + 1))
        next_pixel = Signal.like(pixel)
        advance = Signal()
        spike = Signal()
        value = self.buf_rdata

        if config.encoding == "sigma-delta":
            m.submodules.sigma = sigma = Memory(shape=unsigned(bits), depth=n_in, init=[])
            sigma_r = sigma.read_port()
            sigma_w = sigma.write_port()
            old = Mux(self.first, 1 << (bits - 1), sigma_r.data)
            total = Signal(bits + 1)
            m.d.comb += [
                sigma_r.addr.eq(next_pixel),
                total.eq(old + value),
                spike.eq(total[bits]),
                sigma_w.addr.eq(pixel),
                sigma_w.data.eq(total[:bits]),
                sigma_w.en.eq(advance),
            ]
        else:
            drawn = lfsr16_draw(lfsr)
            m.d.comb += spike.eq(value > drawn[:bits])
            with m.If(self.reload):
                m.d.sync += lfsr.eq(config.lfsr_seed)
            with m.Elif(advance):
                m.d.sync += lfsr.eq(drawn)

        m.d.comb += [
            next_pixel.eq(Mux(advance, pixel + 1, pixel)),
            self.buf_raddr.eq(self.offset + next_pixel),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += next_pixel.eq(0)
                with m.If(self.start):
                    m.d.sync += self.error.eq(0)
                    m.next = "SCAN"
            with m.State("SCAN"):
                with m.If(pixel == n_in):
                    m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
                    with m.If(self.spikes.ready):
                        m.next = "IDLE"
                with m.Elif(value > config.pixel_max):
                    m.d.sync += self.error.eq(1)
                    m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
                    with m.If(self.spikes.ready):
                        m.next = "IDLE"
                with m.Else():
                    m.d.comb += [
                        self.spikes.valid.eq(spike),
                        self.spikes.p.index.eq(pixel),
                        advance.eq(~spike | self.spikes.ready),
                    ]
        m.d.sync += pixel.eq(next_pixel)
        return m


class EventReader(wiring.Component):
    """Event mode: address-events from the buffer (:mod:`golden.encoders`).

    The sample is a sequence of little-endian 16-bit words: the addresses that spike in
    timestep 0, strictly increasing, then ``0xFFFF``; then timestep 1, and so on. Each
    ``start`` reads one timestep on from where the last stopped (``reload`` rewinds to
    ``offset``). An address ``≥ n_in``, one not above its predecessor, or reading past
    ``offset + length`` is an error. After the last timestep the core checks
    ``at_end``: trailing bytes are an error too.
    """

    END = 0xFFFF

    def __init__(self, config, buffer_depth):
        self._config = config
        self._buffer_depth = buffer_depth
        super().__init__({
            **_source_members(config, buffer_depth),
            "length": In(range(buffer_depth + 1)),
            "at_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        # Room for offset + length and the two bytes looked ahead past the end.
        pointer = Signal(range(2 * self._buffer_depth + 2))
        end = Signal.like(pointer)
        low = Signal(8)
        address = Signal(16)
        previous = Signal(16)
        have_previous = Signal()

        m.d.comb += [
            self.buf_raddr.eq(pointer),
            self.at_end.eq(pointer == end),
        ]
        with m.If(self.reload):
            m.d.sync += [pointer.eq(self.offset), end.eq(self.offset + self.length)]

        def close(error):
            # End the timestep (early, on an error) so the synapse engine drains.
            if error:
                m.d.sync += self.error.eq(1)
            m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
            with m.If(self.spikes.ready):
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.error.eq(0), have_previous.eq(0)]
                    m.next = "LOW"
            with m.State("LOW"):
                with m.If(pointer + 2 > end):
                    close(error=True)
                with m.Else():
                    m.d.sync += pointer.eq(pointer + 1)
                    m.next = "HIGH"
            with m.State("HIGH"):
                m.d.sync += [low.eq(self.buf_rdata), pointer.eq(pointer + 1)]
                m.next = "WORD"
            with m.State("WORD"):
                m.d.sync += address.eq(Cat(low, self.buf_rdata))
                m.next = "EMIT"
            with m.State("EMIT"):
                with m.If(address == self.END):
                    close(error=False)
                with m.Elif((address >= config.n_in) | (have_previous & (address <= previous))):
                    close(error=True)
                with m.Else():
                    m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.index.eq(address)]
                    with m.If(self.spikes.ready):
                        m.d.sync += [previous.eq(address), have_previous.eq(1)]
                        m.next = "LOW"
        return m
