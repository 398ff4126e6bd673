"""The chip's evolution-strategy units (``Config.es_on_chip``; the rule is
:mod:`spikefab.golden.es`).

:class:`ESUnit` holds what ES adds to the learning core beside DFA:

- the **factor memories**: every pair's Rademacher factor bits, ``A`` rows as words of
  ``P`` lanes laid out as the neuron memory, ``B`` rows one a presynaptic neuron
  (:attr:`~spikefab.layout.Layout.factor_b_base`): ``K · r · (Σ fan_out + Σ fan_in)``
  bits, never a weight;
- :class:`FactorWriter`, which fills them from the generation's pair seeds (rule 2);
- the member's pair bases and sign for the :class:`~spikefab.hw.synapse.SynapseEngine`,
  which reads ``a`` and ``b`` here and perturbs each weight it reads (rules 3–4);
- a :class:`~spikefab.hw.es_fitness.FitnessAccumulator` (rule 5);
- :class:`ESUpdater`, which applies ``Σ_k d_k A_k B_kᵀ`` to every weight (rules 7–8).
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spikefab.golden.es import ES_SIGNAL_MAX
from spikefab.golden.learning import DITHER_STEP
from spikefab.hw.es_factors import FactorStream
from spikefab.hw.es_fitness import FitnessAccumulator, fitness_bits
from spikefab.hw.es_update import ACCUMULATE_LATENCY, STEP_LATENCY, ESUpdateLanes
from spikefab.hw.ports import SHIFT_BITS
from spikefab.hw.weight_port import WeightPort


__all__ = ["ESUnit", "FactorWriter", "ESUpdater", "factor_shapes"]


def factor_shapes(config, layout):
    """``(a word, a address, b row, b address)`` shapes of the factor memories."""
    pairs = config.es_population // 2
    a_word = data.ArrayLayout(unsigned(config.es_rank), layout.lanes)
    a_addr = unsigned(max(1, ceil_log2(pairs * layout.factor_a_depth)))
    b_addr = unsigned(max(1, ceil_log2(pairs * layout.factor_b_depth)))
    return a_word, a_addr, unsigned(config.es_rank), b_addr


class FactorWriter(wiring.Component):
    """Rule 2 for the whole generation: for each pair ``k`` in turn, its seed (4 bytes,
    little-endian, at ``offset + 4k`` in the input buffer) starts a
    :class:`~spikefab.hw.es_factors.FactorStream`, whose rows are written where
    :attr:`~spikefab.layout.Layout.factor_b_base` says: ``B`` rows one a write, ``A`` rows
    gathered ``P`` to a word (the word of a matrix's last row written as it is).

    Members
    -------
    start : In(1); offset : In(range(buffer_depth)); done : Out(1)
    buf_raddr : Out; buf_rdata : In(8)
    a_waddr, a_wdata, a_we; b_waddr, b_wdata, b_we : Out
    """

    def __init__(self, config, layout, buffer_depth):
        self._config = config
        self._layout = layout
        a_word, a_addr, b_row, b_addr = factor_shapes(config, layout)
        super().__init__({
            "start": In(1),
            "offset": In(range(buffer_depth)),
            "done": Out(1),
            "buf_raddr": Out(range(buffer_depth)),
            "buf_rdata": In(8),
            "a_waddr": Out(a_addr), "a_wdata": Out(a_word), "a_we": Out(1),
            "b_waddr": Out(b_addr), "b_wdata": Out(b_row), "b_we": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        lanes = layout.lanes
        pairs = config.es_population // 2
        m.submodules.stream = stream = FactorStream(config)
        row = stream.rows.payload

        pair = Signal(range(pairs))
        seed = Signal(32)
        n = Signal(range(5))                      # seed bytes asked for
        addr = Signal.like(self.buf_raddr)
        a_base = Signal.like(self.a_waddr)        # pair · factor_a_depth
        b_base = Signal.like(self.b_waddr)        # pair · factor_b_depth
        lane = Signal(range(lanes))
        a_word_index = Signal(range(max(layout.neuron_words) + 1))
        gathered = Signal.like(self.a_wdata)
        with_row = Signal.like(self.a_wdata)      # gathered, this row in its lane
        neuron_base = Array(Const(b) for b in layout.neuron_base)[row.layer]
        b_layer_base = Array(Const(b) for b in layout.factor_b_base)[row.layer]
        fan_out = Array(Const(f) for _, f in config.weight_shapes)[row.layer]
        last_of_matrix = row.row == fan_out - 1

        m.d.comb += with_row.eq(gathered)
        for q in range(lanes):
            with m.If(lane == q):
                m.d.comb += with_row[q].eq(row.bits)
        m.d.comb += [
            stream.seed.eq(seed),
            self.a_waddr.eq(a_base + neuron_base + a_word_index), self.a_wdata.eq(with_row),
            self.b_waddr.eq(b_base + b_layer_base + row.row), self.b_wdata.eq(row.bits),
        ]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [pair.eq(0), n.eq(0), addr.eq(self.offset), a_base.eq(0),
                                 b_base.eq(0), lane.eq(0), a_word_index.eq(0),
                                 gathered.eq(0)]
                    m.next = "SEED"
            with m.State("SEED"):
                # Byte j arrives the cycle after its address.
                m.d.comb += self.buf_raddr.eq(addr)
                with m.If(n != 4):
                    m.d.sync += [addr.eq(addr + 1), n.eq(n + 1)]
                for j in range(4):
                    with m.If(n == j + 1):
                        m.d.sync += seed[8 * j:8 * j + 8].eq(self.buf_rdata)
                with m.If(n == 4):
                    m.next = "GO"
            with m.State("GO"):
                m.d.comb += stream.start.eq(1)
                m.next = "ROWS"
            with m.State("ROWS"):
                m.d.comb += stream.rows.ready.eq(1)
                with m.If(stream.rows.valid):
                    with m.If(row.matrix == 0):
                        with m.If((lane == lanes - 1) | last_of_matrix):
                            m.d.comb += self.a_we.eq(1)
                            m.d.sync += [lane.eq(0), gathered.eq(0),
                                         a_word_index.eq(Mux(last_of_matrix, 0,
                                                             a_word_index + 1))]
                        with m.Else():
                            m.d.sync += [lane.eq(lane + 1), gathered.eq(with_row)]
                    with m.Else():
                        m.d.comb += self.b_we.eq(1)
                    with m.If(row.last):
                        m.d.sync += [pair.eq(pair + 1), n.eq(0),
                                     a_base.eq(a_base + layout.factor_a_depth),
                                     b_base.eq(b_base + layout.factor_b_depth)]
                        with m.If(pair == pairs - 1):
                            m.next = "DONE"
                        with m.Else():
                            m.next = "SEED"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m


class ESUpdater(wiring.Component):
    """Rules 7–8 on every weight: the generation's update from the factors held.

    ``start`` first reads the ``K`` pair signals (bytes at ``offset`` in the input
    buffer) and refuses (``done`` with ``refused``, nothing written) unless each is in
    ``-ES_SIGNAL_MAX … ES_SIGNAL_MAX``. Then for every weight layer, input side first,
    every row ``i`` (drawing the row's dither with stochastic rounding) and every word of
    the row: the word is read; the pairs' ``d_k``, ``a_k`` word and ``b_k[i]`` are read one
    pair a cycle, registered, and summed by :class:`~spikefab.hw.es_update.ESUpdateLanes`,
    whose sum and step take ``ACCUMULATE_LATENCY + STEP_LATENCY`` cycles; the new word and its changed lanes are
    registered; the word is written when a lane
    of a real neuron changed (padding lanes never are). Every memory output and every
    sum meets a register before it goes on (100 MHz on the ECP5). Cycles:
    :func:`spikefab.cost.es_update_cycles`.

    Members
    -------
    start : In(1); offset : In(range(buffer_depth)); done, refused : Out(1)
    buf_raddr : Out; buf_rdata : In(8)
    a_raddr : Out; a_rdata : In; b_raddr : Out; b_rdata : In; f_ren : Out(1)
        The factor memories' read ports (data a cycle after the address).
    lr_shift : In(layers × SHIFT_BITS)
    draw : Out(1); row_dither : In(16)
        The rounding generator, drawn once a row (stochastic rounding).
    weights : Out(WeightPort.Signature); writes : Out(range(P + 1))
    """

    def __init__(self, config, layout, shapes, buffer_depth, *, weight_latency=2):
        self._config = config
        self._layout = layout
        self._latency = weight_latency
        a_word, a_addr, b_row, b_addr = factor_shapes(config, layout)
        super().__init__({
            "start": In(1),
            "offset": In(range(buffer_depth)),
            "done": Out(1),
            "refused": Out(1),
            "buf_raddr": Out(range(buffer_depth)),
            "buf_rdata": In(8),
            "a_raddr": Out(a_addr), "a_rdata": In(a_word),
            "b_raddr": Out(b_addr), "b_rdata": In(b_row),
            "f_ren": Out(1),
            "lr_shift": In(data.ArrayLayout(unsigned(SHIFT_BITS), len(config.weight_shapes))),
            "draw": Out(1),
            "row_dither": In(16),
            "weights": Out(WeightPort.Signature(shapes, read_latency=weight_latency)),
            "writes": Out(range(layout.lanes + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        lanes, pairs = layout.lanes, config.es_population // 2
        n_layers = len(config.weight_shapes)
        m.submodules.lanes = update = ESUpdateLanes(config, lanes)

        layer = Signal(range(n_layers))
        row = Signal(range(max(f for f, _ in config.weight_shapes)))
        word = Signal(range(max(layout.words_per_row)))
        pair = Signal(range(pairs))
        addr = Signal.like(self.buf_raddr)
        bad = Signal()
        a_pair = Signal.like(self.a_raddr)        # pair · factor_a_depth
        b_pair = Signal.like(self.b_raddr)
        a_word_base = Signal.like(self.a_raddr)   # neuron_base[layer] + word
        b_row_base = Signal.like(self.b_raddr)    # factor_b_base[layer] + row
        waddr = Signal.like(self.weights.addr)
        shift = Signal(SHIFT_BITS)
        real = Signal(lanes)                      # the word's lanes of real neurons
        # A pair's data: read (fetched: they arrive), registered (summed next cycle).
        fetched, summing = Signal(), Signal()
        signal = Signal(signed(8))
        d, a, b = Signal.like(update.d), Signal.like(self.a_rdata), Signal.like(self.b_rdata)
        checking = Signal()                       # a signal byte arrives, registered …
        checked = Signal()                        # … and is checked
        signal_q = Signal(signed(8))
        arrived = Signal()                        # the word is in `stored`
        stored = Signal.like(self.weights.rdata)
        new_word = Signal.like(update.new_weights)
        changed = Signal(lanes)
        dither = Signal(16)
        last_row = Array(Const(f - 1) for f, _ in config.weight_shapes)[layer]
        last_word = Array(Const(w - 1) for w in layout.words_per_row)[layer]
        tail = Array(Const((1 << (f - (w - 1) * lanes)) - 1, lanes)
                     for (_, f), w in zip(config.weight_shapes, layout.words_per_row))[layer]
        m.d.comb += signal.eq(self.buf_rdata)

        weight_arrives = [Signal(name=f"weight_arrives{n}") for n in range(self._latency)]
        m.d.sync += [weight_arrives[0].eq(0), fetched.eq(0), checking.eq(0),
                     checked.eq(checking), signal_q.eq(signal)]
        m.d.sync += [later.eq(earlier) for earlier, later in zip(weight_arrives,
                                                                  weight_arrives[1:])]
        with m.If(weight_arrives[-1]):
            m.d.sync += [stored.eq(self.weights.rdata), arrived.eq(1)]
        m.d.sync += [summing.eq(fetched), d.eq(signal), a.eq(self.a_rdata),
                     b.eq(self.b_rdata)]
        m.d.comb += [
            update.d.eq(d), update.a.eq(a), update.b.eq(b), update.accumulate.eq(summing),
            update.weights.eq(stored), update.shift.eq(shift), update.dither.eq(dither),
            self.a_raddr.eq(a_pair + a_word_base), self.b_raddr.eq(b_pair + b_row_base),
            self.weights.addr.eq(waddr), self.weights.wdata.eq(new_word),
        ]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [pair.eq(0), addr.eq(self.offset), bad.eq(0)]
                    m.next = "CHECK"
            with m.State("CHECK"):
                # Signal k arrives the cycle after its address (the buffer's address is
                # driven only while read: the factor writer shares it).
                m.d.comb += self.buf_raddr.eq(addr)
                m.d.sync += [addr.eq(addr + 1), pair.eq(pair + 1), checking.eq(1)]
                with m.If(pair == pairs - 1):
                    m.next = "CHECKED"
            with m.State("CHECKED"):
                m.d.sync += [layer.eq(0), row.eq(0), word.eq(0), waddr.eq(0),
                             a_word_base.eq(0), b_row_base.eq(0)]
                m.next = "LAST_CHECKED"
            with m.State("LAST_CHECKED"):
                m.next = "VERDICT"
            with m.State("VERDICT"):
                with m.If(bad):
                    m.d.comb += [self.done.eq(1), self.refused.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.next = "ROW"
            with m.State("ROW"):
                m.d.sync += shift.eq(self.lr_shift[layer])
                if config.rounding == "stochastic":
                    m.d.comb += self.draw.eq(1)
                    m.d.sync += dither.eq(self.row_dither)
                m.next = "WORD"
            with m.State("WORD"):
                m.d.comb += [self.weights.en.eq(1), update.clear.eq(1)]
                m.d.sync += [weight_arrives[0].eq(1), arrived.eq(0), pair.eq(0),
                             a_pair.eq(0), b_pair.eq(0), addr.eq(self.offset),
                             real.eq(Mux(word == last_word, tail, (1 << lanes) - 1))]
                m.next = "PAIRS"
            with m.State("PAIRS"):
                m.d.comb += [self.f_ren.eq(1), self.buf_raddr.eq(addr)]
                m.d.sync += [fetched.eq(1), pair.eq(pair + 1), addr.eq(addr + 1),
                             a_pair.eq(a_pair + layout.factor_a_depth),
                             b_pair.eq(b_pair + layout.factor_b_depth)]
                with m.If(pair == pairs - 1):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                # The last pair's data are registered now, summed the next cycle.
                m.next = "SUM"
            with m.State("SUM"):
                m.next = "STEP0"
            # The last pair reaches Z, then Z's step goes through the update lanes.
            wait = ACCUMULATE_LATENCY + STEP_LATENCY
            for n in range(wait):
                with m.State(f"STEP{n}"):
                    m.next = f"STEP{n + 1}" if n + 1 < wait else "STEP"
            with m.State("STEP"):
                with m.If(arrived):
                    m.d.sync += [new_word.eq(update.new_weights),
                                 changed.eq(update.changed & real)]
                    m.next = "APPLY"
            with m.State("APPLY"):
                with m.If(changed.any()):
                    m.d.comb += [self.weights.we.eq(1),
                                 self.writes.eq(sum(changed[q] for q in range(lanes)))]
                m.d.sync += [waddr.eq(waddr + 1), word.eq(word + 1),
                             a_word_base.eq(a_word_base + 1),
                             dither.eq(dither + lanes * DITHER_STEP)]
                with m.If(word != last_word):
                    m.next = "WORD"
                with m.Else():
                    self._next_row(m, layer, row, word, a_word_base, b_row_base,
                                   last_row, n_layers)

        # The signals' check: every byte read in CHECK arrives while `checking` and is
        # checked from its register the cycle after.
        with m.If(checked & ~((signal_q >= -ES_SIGNAL_MAX) & (signal_q <= ES_SIGNAL_MAX))):
            m.d.sync += bad.eq(1)
        return m

    def _next_row(self, m, layer, row, word, a_word_base, b_row_base, last_row, n_layers):
        layout = self._layout
        m.d.sync += [word.eq(0), row.eq(row + 1), b_row_base.eq(b_row_base + 1)]
        # The row's A words start again at its layer's neuron base.
        m.d.sync += a_word_base.eq(Array(Const(b) for b in layout.neuron_base)[layer])
        with m.If(row == last_row):
            m.d.sync += row.eq(0)
            with m.If(layer == n_layers - 1):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
            with m.Else():
                following = Array(Const(b) for b in layout.neuron_base[1:] + (0,))[layer]
                m.d.sync += [layer.eq(layer + 1), a_word_base.eq(following)]
                m.next = "ROW"
        with m.Else():
            m.next = "ROW"


class ESUnit(wiring.Component):
    """The ES units of a learning core and their memories (see the module's docstring).

    Members
    -------
    factors_start, update_start : In(1); data_offset : In; done, refused : Out(1)
        Fill the factor memories from the seeds, or apply the update of the signals,
        read from the input buffer at ``data_offset`` (``buf_raddr``, ``buf_rdata``).
    member : In(range(N))
        The member a perturbed sample runs: ``a_base``, ``b_base`` (its pair's blocks,
        registered) and ``negative`` (odd) for the synapse engine, which reads the
        factor memories through ``engine_a_raddr``/``engine_b_raddr`` (with
        ``engine_a_ren``/``engine_b_ren``) and gets ``a_rdata``, ``b_rdata`` a cycle later.
    fitness_clear, fitness_add, error, label, margin : In; fitness_busy, energy : Out
        The member's error energy (:class:`~spikefab.hw.es_fitness.FitnessAccumulator`).
    lr_shift, draw, row_dither, weights, writes
        The update's (:class:`ESUpdater`).
    """

    def __init__(self, config, layout, shapes, buffer_depth, *, weight_latency=2):
        self._config = config
        self._layout = layout
        self._shapes = shapes
        self._buffer_depth = buffer_depth
        self._latency = weight_latency
        a_word, a_addr, b_row, b_addr = factor_shapes(config, layout)
        n_layers = len(config.weight_shapes)
        super().__init__({
            "factors_start": In(1),
            "update_start": In(1),
            "data_offset": In(range(buffer_depth)),
            "done": Out(1),
            "refused": Out(1),
            "buf_raddr": Out(range(buffer_depth)),
            "buf_rdata": In(8),
            "member": In(range(config.es_population)),
            "a_base": Out(a_addr), "b_base": Out(b_addr), "negative": Out(1),
            "engine_a_raddr": In(a_addr), "engine_a_ren": In(1),
            "engine_b_raddr": In(b_addr), "engine_b_ren": In(1),
            "a_rdata": Out(a_word), "b_rdata": Out(b_row),
            "fitness_clear": In(1), "fitness_add": In(1),
            "error": In(data.ArrayLayout(shapes.error, config.n_out)),
            "label": In(range(config.n_out)),
            "margin": In(range(config.timesteps + 1)),
            "fitness_busy": Out(1),
            "energy": Out(fitness_bits(config)),
            "lr_shift": In(data.ArrayLayout(unsigned(SHIFT_BITS), n_layers)),
            "draw": Out(1),
            "row_dither": In(16),
            "weights": Out(WeightPort.Signature(shapes, read_latency=weight_latency)),
            "writes": Out(range(layout.lanes + 1)),
        })
        self.memory_ports = []

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        pairs = config.es_population // 2
        a_word, _, b_row, _ = factor_shapes(config, layout)
        m.submodules.factor_a = a_mem = Memory(shape=a_word,
                                               depth=pairs * layout.factor_a_depth, init=[])
        m.submodules.factor_b = b_mem = Memory(shape=b_row,
                                               depth=pairs * layout.factor_b_depth, init=[])
        a_r, a_w = a_mem.read_port(), a_mem.write_port()
        b_r, b_w = b_mem.read_port(), b_mem.write_port()
        self.memory_ports = [("factor_a", a_r, a_w), ("factor_b", b_r, b_w)]
        self.factor_memories = (a_mem, b_mem)
        m.submodules.writer = writer = FactorWriter(config, layout, self._buffer_depth)
        m.submodules.updater = updater = ESUpdater(config, layout, self._shapes,
                                                   self._buffer_depth,
                                                   weight_latency=self._latency)
        m.submodules.fitness = fitness = FitnessAccumulator(config, self._shapes.error)

        updating = Signal()
        with m.If(self.update_start):
            m.d.sync += updating.eq(1)
        with m.Elif(updater.done):
            m.d.sync += updating.eq(0)
        m.d.comb += [
            writer.start.eq(self.factors_start), writer.offset.eq(self.data_offset),
            updater.start.eq(self.update_start), updater.offset.eq(self.data_offset),
            writer.buf_rdata.eq(self.buf_rdata), updater.buf_rdata.eq(self.buf_rdata),
            # Each drives 0 while idle: the two never run together.
            self.buf_raddr.eq(writer.buf_raddr | updater.buf_raddr),
            self.done.eq(writer.done | updater.done), self.refused.eq(updater.refused),
            a_w.addr.eq(writer.a_waddr), a_w.data.eq(writer.a_wdata), a_w.en.eq(writer.a_we),
            b_w.addr.eq(writer.b_waddr), b_w.data.eq(writer.b_wdata), b_w.en.eq(writer.b_we),
            a_r.addr.eq(Mux(updating, updater.a_raddr, self.engine_a_raddr)),
            b_r.addr.eq(Mux(updating, updater.b_raddr, self.engine_b_raddr)),
            a_r.en.eq(Mux(updating, updater.f_ren, self.engine_a_ren)),
            b_r.en.eq(Mux(updating, updater.f_ren, self.engine_b_ren)),
            self.a_rdata.eq(a_r.data), self.b_rdata.eq(b_r.data),
            updater.a_rdata.eq(a_r.data), updater.b_rdata.eq(b_r.data),
            updater.lr_shift.eq(self.lr_shift), updater.row_dither.eq(self.row_dither),
            self.draw.eq(updater.draw), self.writes.eq(updater.writes),
            fitness.clear.eq(self.fitness_clear), fitness.add.eq(self.fitness_add),
            fitness.error.eq(self.error), fitness.label.eq(self.label),
            fitness.margin.eq(self.margin), self.fitness_busy.eq(fitness.busy),
            self.energy.eq(-fitness.fitness),
        ]
        wiring.connect(m, updater.weights, wiring.flipped(self.weights))
        # The member's pair blocks: products by constants, registered (the member is set
        # before its sample starts and holds through it).
        pair = self.member >> 1
        m.d.sync += [self.a_base.eq(pair * layout.factor_a_depth),
                     self.b_base.eq(pair * layout.factor_b_depth),
                     self.negative.eq(self.member[0])]
        return m
