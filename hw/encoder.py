"""Spike sources of the input layer: the on-chip pixel encoders and the event reader.

Both read the sample from the core's input buffer (bytes, synchronous read port) and
emit, for one timestep per ``start``, the indices of the inputs that spike in increasing
order followed by an ``end`` marker. A malformed sample raises ``error`` and ends the
timestep early; the core then abandons the sample before anything is learned.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikefab.golden.rng import LFSR16_MASK, LFSR16_STEPS_PER_DRAW, lfsr16_step
from spikefab.hw.ports import spike_layout
from spikefab.protocol import EVENT_END


__all__ = ["PixelEncoder", "WidePixelEncoder", "EventReader", "lfsr16_draw", "lfsr16_jump"]


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

    Pipeline: **fetch** (the buffer and the sigma-delta memory are read at a counted
    address) → **read** (their outputs go straight into registers) → **encode** (compare,
    emit). A stalled encode stage holds the two before it (``buf_ren`` low keeps the
    buffer's output), so no block-RAM output feeds logic and no decision feeds an
    address through an adder.
    """

    def __init__(self, config, buffer_depth):
        self._config = config
        super().__init__({**_source_members(config, buffer_depth), "first": In(1),
                          "buf_ren": Out(1)})
        self.memory_ports = []

    def elaborate(self, platform):
        m = Module()
        config = self._config
        bits = config.pixel_bits
        n_in = config.n_in

        scanning = Signal()
        # Fetch: the next pixel to read; index n_in is the end of the timestep.
        fetch = Signal(range(n_in + 2))
        fetch_addr = Signal.like(self.buf_raddr)
        fetching = Signal()
        # Read: the memories' outputs hold pixel read_index.
        read_valid = Signal()
        read_index = Signal.like(fetch)
        # Encode: the registered pixel.
        valid = Signal()
        pixel = Signal.like(fetch)
        value = Signal(8)
        over = value[bits:].any() if bits < 8 else Const(0)  # above 2**bits - 1
        counted = Signal()         # a pixel leaves the encode stage: the LFSR draws
        advance = Signal()         # the encode stage's pixel is done (or the stage is empty)
        spike = Signal()
        hold = valid & ~advance

        m.d.comb += [
            fetching.eq(scanning & (fetch <= n_in)),
            self.buf_raddr.eq(fetch_addr),
            self.buf_ren.eq(~hold),
        ]
        with m.If(~hold):
            m.d.sync += [
                read_valid.eq(fetching), read_index.eq(fetch),
                valid.eq(read_valid), pixel.eq(read_index), value.eq(self.buf_rdata),
            ]
            with m.If(fetching):
                m.d.sync += [fetch.eq(fetch + 1), fetch_addr.eq(fetch_addr + 1)]

        if config.encoding == "sigma-delta":
            m.submodules.sigma = sigma = Memory(shape=unsigned(bits), depth=n_in, init=[])
            sigma_r = sigma.read_port()
            sigma_w = sigma.write_port()
            self.memory_ports = [("sigma", sigma_r, sigma_w)]
            held = Signal(bits)
            with m.If(~hold):
                m.d.sync += held.eq(sigma_r.data)
            old = Mux(self.first, 1 << (bits - 1), held)
            total = Signal(bits + 1)
            m.d.comb += [
                sigma_r.addr.eq(fetch),
                # Read only for a real pixel: the end index may alias one being written.
                sigma_r.en.eq(~hold & fetching & (fetch != n_in)),
                total.eq(old + value[:bits]),
                spike.eq(total[bits]),
                sigma_w.addr.eq(pixel),
                sigma_w.data.eq(total[:bits]),
                sigma_w.en.eq(counted),
            ]
        else:
            # ``draw`` is the LFSR state after the current pixel's 8 steps.
            seed_draw = config.lfsr_seed
            for _ in range(LFSR16_STEPS_PER_DRAW):
                seed_draw = lfsr16_step(seed_draw)
            draw = Signal(16, init=seed_draw)
            m.d.comb += spike.eq(value[:bits] > draw[:bits])
            with m.If(self.reload):
                m.d.sync += draw.eq(seed_draw)
            with m.Elif(counted):
                m.d.sync += draw.eq(lfsr16_draw(draw))

        def close():
            m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
            with m.If(self.spikes.ready):
                m.d.sync += [scanning.eq(0), read_valid.eq(0), valid.eq(0)]

        with m.If(self.start):
            m.d.sync += [scanning.eq(1), fetch.eq(0), fetch_addr.eq(self.offset),
                         self.error.eq(0)]
        with m.If(~valid):
            m.d.comb += advance.eq(1)
        with m.Elif(pixel == n_in):
            close()
        with m.Elif(over):
            m.d.sync += self.error.eq(1)
            close()
        with m.Else():
            m.d.comb += [
                self.spikes.valid.eq(spike),
                self.spikes.p.index.eq(pixel),
                advance.eq(~spike | self.spikes.ready),
                counted.eq(~spike | self.spikes.ready),
            ]
        return m


class EventReader(wiring.Component):
    """Event mode: address-events from the buffer (:mod:`golden.encoders`).

    The sample is a sequence of little-endian 16-bit words: the addresses that spike in
    timestep 0, strictly increasing, then ``EVENT_END``; then timestep 1, and so on. Each
    ``start`` reads one timestep on from where the last stopped (``reload`` rewinds to
    ``offset``). An address ``≥ n_in``, one not above its predecessor, or reading past
    ``offset + length`` is an error. After the last timestep the core checks
    ``at_end``: trailing bytes are an error too.
    """

    END = EVENT_END

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
        # Decisions are taken on registered tests: the pointer holds still for a cycle
        # before LOW reads ``short``, and CHECK registers the address's tests for EMIT.
        short = Signal()            # fewer than two bytes left
        is_end = Signal()
        is_bad = Signal()
        m.d.sync += short.eq(pointer + 2 > end)

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
                with m.If(short):
                    close(error=True)
                with m.Else():
                    m.d.sync += pointer.eq(pointer + 1)
                    m.next = "HIGH"
            with m.State("HIGH"):
                m.d.sync += [low.eq(self.buf_rdata), pointer.eq(pointer + 1)]
                m.next = "WORD"
            with m.State("WORD"):
                m.d.sync += address.eq(Cat(low, self.buf_rdata))
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [
                    is_end.eq(address == self.END),
                    is_bad.eq((address >= config.n_in) | (have_previous & (address <= previous))),
                ]
                m.next = "EMIT"
            with m.State("EMIT"):
                with m.If(is_end):
                    close(error=False)
                with m.Elif(is_bad):
                    close(error=True)
                with m.Else():
                    m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.index.eq(address)]
                    with m.If(self.spikes.ready):
                        m.d.sync += [previous.eq(address), have_previous.eq(1)]
                        m.next = "LOW"
        return m


def lfsr16_jump(state, draws):
    """The LFSR state ``draws`` draws later (each 8 Galois steps), as one XOR of state
    bits per bit: the steps are linear over GF(2), so their product is a 16 × 16 matrix,
    worked out here from :func:`~spikefab.golden.rng.lfsr16_step`."""
    columns = []
    for bit in range(16):
        x = 1 << bit
        for _ in range(draws * LFSR16_STEPS_PER_DRAW):
            x = lfsr16_step(x)
        columns.append(x)
    out = []
    for i in range(16):
        terms = [state[j] for j in range(16) if columns[j] >> i & 1]
        value = Const(0, 1)
        for term in terms:
            value = value ^ term
        out.append(value)
    return Cat(*out)


class WidePixelEncoder(wiring.Component):
    """The pixel encoder of wide configs: ``pixels`` inputs examined a cycle
    (:attr:`~spikefab.layout.Layout.pixels_per_cycle`), the same spikes as
    :class:`PixelEncoder` (:mod:`golden.encoders`), in the same order.

    The input buffer is ``pixels`` byte-wide banks, byte ``a`` in bank ``a mod pixels``
    at row ``a // pixels`` (the core's buffer when the encoder is wide). A *group* is
    ``pixels`` consecutive inputs; the sample may start at any ``offset``, so each bank
    reads its own row (``bank_raddr``), and bank ``b`` holds input ``(b - offset) mod
    pixels`` of the group. Everything per input is worked out in bank order: each bank's
    LFSR draw is kept (the draws of a group are ``pixels`` successive draws,
    :func:`lfsr16_jump` steps them all at once), the sigma-delta memory holds a group per
    word in bank order (the order is fixed for a sample, and the first timestep does not
    read it); only the group's spike mask is rotated into input order.

    Pipeline: **fetch** (every bank and the sigma-delta memory read at counted rows) →
    **read** (their outputs registered) → **encode** (compare; the spikes in input order,
    up to the first input above ``2**pixel_bits - 1``) → **emit** (the group's spikes,
    lowest index first, one a cycle). A group without spikes takes a cycle; a group with
    ``s`` takes ``s``. A stalled emit stage holds the stages before it (``buf_ren``).
    """

    def __init__(self, config, buffer_depth, pixels):
        if pixels < 2 or pixels & (pixels - 1) or buffer_depth % pixels:
            self._MustUse__silence = True
            raise ValueError(f"pixels must be a power of two from 2 that divides the "
                             f"buffer's {buffer_depth} bytes, not {pixels!r}")
        self._config = config
        self._pixels = pixels
        self.bank_depth = buffer_depth // pixels
        super().__init__({
            "reload": In(1),
            "start": In(1),
            "first": In(1),
            "offset": In(range(buffer_depth)),
            "error": Out(1),
            "spikes": Out(stream.Signature(spike_layout(config))),
            "bank_raddr": Out(data.ArrayLayout(range(self.bank_depth), pixels)),
            "bank_rdata": In(data.ArrayLayout(8, pixels)),
            "buf_ren": Out(1),
        })
        self.memory_ports = []

    def elaborate(self, platform):
        m = Module()
        config, N = self._config, self._pixels
        bits, n_in = config.pixel_bits, config.n_in
        nb = N.bit_length() - 1
        groups = -(-n_in // N)
        last_count = n_in - (groups - 1) * N       # inputs in the last group

        scanning = Signal()
        rot = Signal(nb)                           # offset mod N: bank of the group's input 0
        # Fetch: the next group to read; group ``groups`` is the end of the timestep.
        fetch = Signal(range(groups + 2))
        rows = [Signal(range(self.bank_depth), name=f"row{b}") for b in range(N)]
        fetching = Signal()
        # Read: the banks' outputs hold group read_group.
        read_valid = Signal()
        read_group = Signal.like(fetch)
        # Encode: the registered bytes, in bank order.
        valid = Signal()
        group = Signal.like(fetch)
        raw = Signal(data.ArrayLayout(8, N))
        # Emit: the spikes of a group not yet sent, in input order.
        e_valid = Signal()
        e_group = Signal.like(fetch)
        e_mask = Signal(N)
        e_end = Signal()
        e_error = Signal()
        advance = Signal()                         # the encode stage's group moves on
        hold = valid & ~advance

        m.d.comb += [
            fetching.eq(scanning & (fetch <= groups)),
            self.buf_ren.eq(~hold),
        ]
        m.d.comb += [self.bank_raddr[b].eq(rows[b]) for b in range(N)]
        with m.If(~hold):
            m.d.sync += [
                read_valid.eq(fetching), read_group.eq(fetch),
                valid.eq(read_valid), group.eq(read_group), raw.eq(self.bank_rdata),
            ]
            with m.If(fetching):
                m.d.sync += fetch.eq(fetch + 1)
                m.d.sync += [row.eq(row + 1) for row in rows]

        # -- encode: each bank's spike and range test, then in input order -----------------
        counted = Signal()          # a group leaves the encode stage: its draws are used
        is_end = group == groups
        spike_bank = Signal(N)
        over_bank = Signal(N)
        for b in range(N):
            m.d.comb += over_bank[b].eq(raw[b][bits:].any() if bits < 8 else 0)
        if config.encoding == "sigma-delta":
            m.submodules.sigma = sigma = Memory(shape=data.ArrayLayout(unsigned(bits), N),
                                                depth=groups, init=[])
            sigma_r = sigma.read_port()
            sigma_w = sigma.write_port()
            self.memory_ports = [("sigma", sigma_r, sigma_w)]
            held = Signal.like(sigma_r.data)
            with m.If(~hold):
                m.d.sync += held.eq(sigma_r.data)
            totals = Signal(data.ArrayLayout(unsigned(bits + 1), N))
            for b in range(N):
                old = Mux(self.first, 1 << (bits - 1), held[b])
                m.d.comb += [totals[b].eq(old + raw[b][:bits]), spike_bank[b].eq(totals[b][bits])]
            m.d.comb += [
                sigma_r.addr.eq(fetch),
                # Read only for a real group: the end index may alias one being written.
                sigma_r.en.eq(~hold & fetching & (fetch != groups)),
                sigma_w.addr.eq(group),
                sigma_w.en.eq(counted),
            ]
            m.d.comb += [sigma_w.data[b].eq(totals[b][:bits]) for b in range(N)]
        else:
            seed_draw = config.lfsr_seed
            for _ in range(LFSR16_STEPS_PER_DRAW):
                seed_draw = lfsr16_step(seed_draw)
            draws = [Signal(16, name=f"draw{b}") for b in range(N)]
            for b, draw in enumerate(draws):
                m.d.comb += spike_bank[b].eq(raw[b][:bits] > draw[:bits])
                # Bank b holds input (b - rot) mod N of every group of the sample.
                at_reload = Array(Const(self._jump_const(seed_draw, (b - o) % N), 16)
                                  for o in range(N))
                with m.If(self.reload):
                    m.d.sync += draw.eq(at_reload[self.offset[:nb]])
                with m.Elif(counted):
                    if last_count == N:
                        m.d.sync += draw.eq(lfsr16_jump(draw, N))
                    else:
                        m.d.sync += draw.eq(Mux(group == groups - 1,
                                                lfsr16_jump(draw, last_count),
                                                lfsr16_jump(draw, N)))

        spike_banks = Array(spike_bank[b] for b in range(N))
        over_banks = Array(over_bank[b] for b in range(N))
        spikes = Signal(N)
        over = Signal(N)
        for i in range(N):
            in_range = 1 if i < last_count else group != groups - 1
            bank = (rot + i)[:nb]
            m.d.comb += [spikes[i].eq(spike_banks[bank] & in_range),
                         over[i].eq(over_banks[bank] & in_range)]
        # The spikes before the first input out of range (all of them if none is).
        before = Cat(*(~over[:i + 1].any() for i in range(N)))

        # -- emit ---------------------------------------------------------------------------
        rest = Signal(N)            # the mask without its lowest spike
        m.d.comb += rest.eq(e_mask & (e_mask - 1)[:N])
        lowest_index = Signal(range(N))
        for i in reversed(range(N)):
            with m.If(e_mask[i]):
                m.d.comb += lowest_index.eq(i)
        free = Signal()             # the emit stage takes a group this cycle
        m.d.comb += [free.eq(~e_valid | ((e_mask == 0) | ((rest == 0) & self.spikes.ready))
                             & ~e_end & ~e_error),
                     advance.eq(~valid | free),
                     counted.eq(valid & free & ~is_end)]
        with m.If(valid & free):
            m.d.sync += [e_valid.eq(1), e_group.eq(group), e_end.eq(is_end),
                         e_error.eq(~is_end & over.any()),
                         e_mask.eq(Mux(is_end, 0, spikes & before))]
        with m.Elif(free):
            m.d.sync += e_valid.eq(0)
        with m.Elif(e_valid & (e_mask != 0) & self.spikes.ready):
            m.d.sync += e_mask.eq(rest)

        index = Cat(lowest_index, e_group)
        with m.If(e_valid & (e_mask != 0)):
            m.d.comb += [self.spikes.valid.eq(1),
                         self.spikes.p.index.eq(index[:len(self.spikes.p.index)])]
        with m.Elif(e_valid & (e_end | e_error)):
            m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
            with m.If(self.spikes.ready):
                m.d.sync += [scanning.eq(0), read_valid.eq(0), valid.eq(0), e_valid.eq(0),
                             e_end.eq(0), e_error.eq(0)]
                with m.If(e_error):
                    m.d.sync += self.error.eq(1)

        with m.If(self.start):
            m.d.sync += [scanning.eq(1), fetch.eq(0), rot.eq(self.offset[:nb]),
                         self.error.eq(0)]
            row0 = self.offset[nb:]
            m.d.sync += [row.eq(row0 + (b < self.offset[:nb])) for b, row in enumerate(rows)]
        return m

    @staticmethod
    def _jump_const(state, draws):
        for _ in range(draws * LFSR16_STEPS_PER_DRAW):
            state = lfsr16_step(state)
        return state
