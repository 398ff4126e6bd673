"""Event-driven synapse engine: adds one weight row per presynaptic spike.

For every spike it receives, the engine reads the spike's row of the current weight
layer, ``words_per_row`` memory words of ``P`` lanes, and adds each word into the
synaptic-current accumulator of the postsynaptic neurons: work is proportional to the
spikes, ``P`` synapses per cycle. Rows follow each other without a bubble (one spike of
look-ahead), so a layer costs ``spikes × words_per_row`` cycles plus ``L + 2`` to drain
(``L`` the weight memory's read latency).

Pipeline: **accept** (the spike enters the look-ahead slot; its row address is computed
and, for the input layer of a training sample, its input spike count is read the next
cycle, incremented and written back) → **issue** (weight word ``k`` is read; the weight
memory answers ``L`` cycles later) → **accumulator issue** ``L - 1`` cycles on
(accumulator word ``k`` is read; the accumulators answer in one) → **read** (both words
go straight into registers) → **add** (the sum is written back). A word read while one
of the two adds ahead of it writes the same accumulator word takes that sum instead
(forwarding), so rows of one or two words may follow each other with no hazard.

An ``end`` marker closes the timestep: once every add has landed, ``done`` pulses.

With ``es`` (``Config.es_on_chip``) the engine runs an ES member when ``perturb`` is
set: the spiking row's factor bits ``b[i]`` are read as its row is loaded and travel with
each of its words; each word's ``A`` factor word (the lanes' ``a[j]``) is read the cycle
before the word issues; their rank sums (:class:`~spikefab.hw.es_perturb.RankSums`) are
registered and carried beside the word, and the word read goes through
:class:`~spikefab.hw.es_perturb.MemberWeights` into the add stage's register, so the
member weight ``clamp(w + s·(S << σ))`` is summed and never stored.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.es_perturb import MemberWeights, RankSums, bound_shape, saturation_bounds
from spikefab.hw.es_unit import factor_shapes
from spikefab.hw.pipeline import delay_line, tag_layout
from spikefab.hw.ports import spike_layout
from spikefab.hw.weight_port import WeightPort


__all__ = ["SynapseEngine"]


class SynapseEngine(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    shapes : :class:`~hw.ports.Shapes`
    weight_latency : int
        Cycles from a weight read's address to its data (:class:`~hw.memory.WeightMemory`).
    """

    def __init__(self, config, layout, shapes, *, weight_latency=2, es=False):
        self._config = config
        self._layout = layout
        self._shapes = shapes
        self._weight_latency = weight_latency
        self._es = es
        es_members = {}
        if es:
            a_word, a_addr, b_row, b_addr = factor_shapes(config, layout)
            es_members = {
                "perturb": In(1), "negative": In(1),
                "a_base": In(a_addr), "b_base": In(b_addr),
                "a_raddr": Out(a_addr), "a_ren": Out(1), "a_rdata": In(a_word),
                "b_raddr": Out(b_addr), "b_ren": Out(1), "b_rdata": In(b_row),
            }
        super().__init__({
            **es_members,
            "spikes": In(stream.Signature(spike_layout(config))),
            "layer": In(range(len(config.weight_shapes))),
            "count_inputs": In(1),
            "done": Out(1),
            "sops": Out(range(max(config.layer_sizes) + 1)),
            # Weight memory, read only.
            "weights": Out(WeightPort.Signature(shapes, read_latency=weight_latency)),
            # Synaptic-current accumulators.
            "acc_raddr": Out(shapes.acc_addr),
            "acc_ren": Out(1),
            "acc_rdata": In(shapes.acc_word),
            "acc_waddr": Out(shapes.acc_addr),
            "acc_wdata": Out(shapes.acc_word),
            "acc_we": Out(1),
            # Input spike counts (read-modify-write).
            "cnt_raddr": Out(range(config.n_in)),
            "cnt_ren": Out(1),
            "cnt_rdata": In(shapes.count),
            "cnt_waddr": Out(range(config.n_in)),
            "cnt_wdata": Out(shapes.count),
            "cnt_we": Out(1),
        })

    def _row_base(self, index, weight_base, words_per_row):
        """The weight address of row ``index`` of the current layer. Wide configs work
        out every layer's (a product by a constant: shifts and adds) and choose among
        them, so the layer's choice does not reach a multiplier (100 MHz on the ECP5)."""
        layout = self._layout
        if layout.wide:
            return Array(Const(b) + index * w for b, w in
                         zip(layout.weight_base, layout.words_per_row))[self.layer]
        return weight_base[self.layer] + index * words_per_row[self.layer]

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        words_per_row = Array(Const(w) for w in layout.words_per_row)
        weight_base = Array(Const(b) for b in layout.weight_base)
        fan_out = Array(Const(f) for _, f in config.weight_shapes)

        last_k = Array(Const(w - 1) for w in layout.words_per_row)[self.layer]

        # Look-ahead slot.
        pend_valid = Signal()
        pend_end = Signal()
        pend_base = Signal.like(self.weights.addr)
        # Issue stage.
        busy = Signal()
        row_base = Signal.like(self.weights.addr)
        k = Signal.like(self.acc_raddr)
        at_last = Signal()          # k is the row's last word (registered with k)
        # Accumulator issue: ``L - 1`` cycles behind the weight read (the weight memory
        # answers ``L`` cycles after its address, the accumulators one), through a chain
        # whose last stage reads.
        issued = delay_line(m, tag_layout(self.acc_raddr.shape()), {"valid": busy, "index": k},
                            self._weight_latency - 1, name="issued")
        acc_issue, acc_k = issued[-1].valid, issued[-1].index
        # Read stage: both memories answer word read_k.
        read_valid = Signal()
        read_k = Signal.like(self.acc_raddr)
        # Add stage: the registered weight and accumulator words.
        add_valid = Signal()
        add_k = Signal.like(self.acc_raddr)
        weight_word = Signal.like(self.weights.rdata)
        acc_word = Signal.like(self.acc_rdata)
        # The sum written last cycle, and where the read stage's word must come from
        # when one of the two adds ahead of it writes the same accumulator word.
        last_sum = Signal.like(self.acc_wdata)
        forward = Signal()          # not from memory
        forward_add = Signal()      # from the add stage (else from last_sum)
        # Input-count increment: the accepted index registered, read, registered, written.
        cnt_issue = Signal()
        cnt_index = Signal.like(self.cnt_raddr)
        cnt_valid = Signal()
        cnt_addr = Signal.like(self.cnt_waddr)
        cnt_add_valid = Signal()
        cnt_add_addr = Signal.like(self.cnt_waddr)
        cnt_word = Signal.like(self.cnt_rdata)

        issue_free = ~busy | at_last
        load = issue_free & pend_valid & ~pend_end

        m.d.comb += self.spikes.ready.eq(~pend_valid | load)
        with m.If(load):
            m.d.sync += [busy.eq(1), row_base.eq(pend_base), k.eq(0), pend_valid.eq(0),
                         at_last.eq(last_k == 0)]
        with m.Elif(busy):
            m.d.sync += [k.eq(k + 1), at_last.eq(k + 1 == last_k)]
            with m.If(at_last):
                m.d.sync += busy.eq(0)

        # The count is read a cycle after its spike is accepted, so that the read port's
        # address does not wait on the stream's handshake.
        m.d.sync += [cnt_issue.eq(0), cnt_valid.eq(cnt_issue), cnt_addr.eq(cnt_index),
                     cnt_add_valid.eq(cnt_valid), cnt_add_addr.eq(cnt_addr),
                     cnt_word.eq(self.cnt_rdata)]
        m.d.comb += [self.cnt_raddr.eq(cnt_index), self.cnt_ren.eq(cnt_issue)]
        if self._es:
            pend_b = Signal.like(self.b_raddr)
            m.d.comb += [self.b_raddr.eq(pend_b), self.b_ren.eq(load)]
        with m.If(self.spikes.valid & self.spikes.ready):
            index = self.spikes.p.index
            m.d.sync += [
                pend_valid.eq(1),
                pend_end.eq(self.spikes.p.end),
                pend_base.eq(self._row_base(index, weight_base, words_per_row)),
            ]
            if self._es:
                b_layer = Array(Const(b) for b in layout.factor_b_base)[self.layer]
                m.d.sync += pend_b.eq(self.b_base + b_layer + index)
            with m.If(~self.spikes.p.end):
                m.d.comb += self.sops.eq(fan_out[self.layer])
                with m.If(self.count_inputs):
                    m.d.sync += [cnt_issue.eq(1), cnt_index.eq(index)]
        m.d.comb += [
            self.cnt_waddr.eq(cnt_add_addr),
            self.cnt_wdata.eq(cnt_word + 1),
            self.cnt_we.eq(cnt_add_valid),
        ]

        # The add two words ahead writes now: a read of that word would collide with the
        # write, and forwarding replaces it anyway, so it is not made.
        writes_k_now = add_valid & (add_k == acc_k)
        read_stage_has_k = read_valid & (read_k == acc_k)
        m.d.comb += [
            self.weights.addr.eq(row_base + k),
            self.weights.en.eq(busy),
            self.acc_raddr.eq(acc_k),
            self.acc_ren.eq(acc_issue & ~writes_k_now),
        ]
        sums = Signal.like(self.acc_wdata)
        for lane in range(layout.lanes):
            m.d.comb += sums[lane].eq(acc_word[lane] + weight_word[lane])
        # No block-RAM output feeds an adder: both words are registered first; the
        # accumulator word is forwarded from the adds ahead when they write it.
        m.d.sync += [
            read_valid.eq(acc_issue), read_k.eq(acc_k),
            forward.eq(read_stage_has_k | writes_k_now),
            forward_add.eq(read_stage_has_k),
            add_valid.eq(read_valid), add_k.eq(read_k),
            weight_word.eq(self._member_word(m, load, busy, k, at_last)),
            acc_word.eq(Mux(forward, Mux(forward_add, sums, last_sum), self.acc_rdata)),
            last_sum.eq(sums),
        ]
        m.d.comb += [
            self.acc_waddr.eq(add_k),
            self.acc_wdata.eq(sums),
            self.acc_we.eq(add_valid),
        ]

        # The end marker retires once the last add has landed.
        in_flight = Cat(busy, *(stage.valid for stage in issued), read_valid, add_valid,
                        cnt_issue, cnt_valid, cnt_add_valid).any()
        with m.If(pend_valid & pend_end & ~in_flight):
            m.d.comb += self.done.eq(1)
            m.d.sync += pend_valid.eq(0)
        return m

    def _member_word(self, m, load, busy, k, at_last):
        """The word the add stage takes: the weights read, or with ``es`` the member's.

        A word issued at cycle ``c`` has its ``A`` word read at ``c - 1`` (the next word's
        index is known a cycle ahead) and registered; at ``c + 1`` its rank sums come from
        that and the row's ``b`` (carried from the issue) and are registered, then carried
        to ``c + L``, where the weight read is made the member's on its way into the add
        stage's register: no RAM output feeds an adder, and the rank sums and the add
        are a cycle each."""
        if not self._es:
            return self.weights.rdata
        config, layout = self._config, self._layout
        first_word = Signal()           # the loaded row's first word issues: its b arrives
        row_b = Signal.like(self.b_rdata)
        m.d.sync += first_word.eq(load)
        with m.If(first_word):
            m.d.sync += row_b.eq(self.b_rdata)
        word_b = Signal.like(self.b_rdata)
        m.d.sync += word_b.eq(Mux(first_word, self.b_rdata, row_b))
        neuron_base = Array(Const(b) for b in layout.neuron_base)[self.layer]
        a_word = Signal.like(self.a_rdata)
        m.d.comb += [self.a_raddr.eq(self.a_base + neuron_base + Mux(load, 0, k + 1)),
                     self.a_ren.eq(load | (busy & ~at_last))]
        m.d.sync += a_word.eq(self.a_rdata)
        m.submodules.rank_sums = sums = RankSums(config, layout.lanes)
        m.d.comb += [sums.a.eq(a_word), sums.b.eq(word_b), sums.negative.eq(self.negative)]
        stages = delay_line(m, sums.shifted.shape(), sums.shifted,
                            self._weight_latency - 1, name="shifted")
        # The clamp's bounds from the first stage, carried beside the sums (registered
        # where the pipeline has a stage for them: the ECP5's latency 3).
        bounds = data.ArrayLayout(bound_shape(config), layout.lanes)
        high, low = Signal(bounds, name="high_bounds"), Signal(bounds, name="low_bounds")
        for lane in range(layout.lanes):
            lane_high, lane_low = saturation_bounds(config, stages[0][lane])
            m.d.comb += [high[lane].eq(lane_high), low[lane].eq(lane_low)]
        later = len(stages) - 1
        if later:
            high = delay_line(m, bounds, high, later, name="high")[-1]
            low = delay_line(m, bounds, low, later, name="low")[-1]
        m.submodules.member_weights = member = MemberWeights(config, layout.lanes)
        m.d.comb += [member.weights.eq(self.weights.rdata), member.shifted.eq(stages[-1]),
                     member.high.eq(high), member.low.eq(low),
                     member.enable.eq(self.perturb)]
        return member.member
