"""LIF neurons in hardware: one lane and the time-multiplexed array pass.

Both implement :mod:`golden.lif` (leak by arithmetic shift, exact add, saturate, fire at
``≥ threshold``, reset) bit for bit.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["LIFLane", "LIFArray"]


class LIFLane(wiring.Component):
    """One neuron's timestep, ``(v, current) → (spike, v_next)``, in two halves: the leak
    and the add, registered; then saturation, threshold and reset. ``spike`` and
    ``v_next`` answer the ``v`` and ``current`` of the previous cycle; with
    ``registered_tests`` (wide configs), of two cycles before: the saturation and
    threshold compares and the reset's subtraction are registered in between.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
        Supplies ``v_bits``, ``threshold``, ``leak_shift`` and ``reset``.

    Members
    -------
    v : In(signed(v_bits))
        Membrane before the timestep.
    current : In(signed(v_bits + 1))
        This timestep's synaptic input (it fits ``v_bits + 1`` bits, see ``Config``).
    spike : Out(1)
    v_next : Out(signed(v_bits))
    """

    def __init__(self, config, *, registered_tests=False):
        self._config = config
        self._registered_tests = registered_tests
        super().__init__({
            "v": In(signed(config.v_bits)),
            "current": In(signed(config.v_bits + 1)),
            "spike": Out(1),
            "v_next": Out(signed(config.v_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self._config
        # Amaranth's >> on a signed value is arithmetic (rounds toward -inf), as golden's.
        leaked = Signal(signed(c.v_bits + 1))
        summed = Signal(signed(c.v_bits + 2))
        saturated = Signal(signed(c.v_bits))
        m.d.comb += leaked.eq(self.v - (self.v >> c.leak_shift))
        m.d.sync += summed.eq(leaked + self.current)
        # Saturation, threshold and reset are worked out side by side from ``summed``
        # (each rail's outcome is a constant), so no compare waits on another.
        over = summed > c.v_max
        under = summed < c.v_min
        at_threshold = above = None
        if self._registered_tests:
            # Wide configs: the compares and the reset value registered in a stage of
            # their own, so that only multiplexers stand between two registers.
            tests = [Signal.like(value, name=name) for value, name in
                     ((over, "over"), (under, "under"), (summed >= c.threshold, "at_threshold"))]
            kept = Signal.like(summed, name="summed_q")
            above_q = Signal(signed(c.v_bits + 3), name="above_q")
            m.d.sync += [tests[0].eq(over), tests[1].eq(under),
                         tests[2].eq(summed >= c.threshold), kept.eq(summed),
                         above_q.eq(summed - c.threshold)]
            over, under, at_threshold = tests
            summed, above = kept, above_q
        m.d.comb += saturated.eq(Mux(over, c.v_max, Mux(under, c.v_min, summed)))
        fires = Mux(over, int(c.v_max >= c.threshold),
                    Mux(under, int(c.v_min >= c.threshold),
                        summed >= c.threshold if at_threshold is None else at_threshold))
        if c.reset == "zero":
            reset = 0
        else:
            reset = Mux(over, c.v_max - c.threshold,
                        Mux(under, c.v_min - c.threshold,
                            summed - c.threshold if above is None else above))
        m.d.comb += [
            self.spike.eq(fires),
            self.v_next.eq(Mux(self.spike, reset, saturated)),
        ]
        return m


class LIFArray(wiring.Component):
    """The neuron pass of one layer and timestep: every neuron, ``P`` per cycle.

    After the synapse engine has summed a layer's input for a timestep, ``start`` walks the
    layer's words: it reads the accumulated current and the neuron state (membrane and
    spike count), runs ``P`` :class:`LIFLane` s, writes the state back, clears the
    accumulator for the next timestep and, when ``emit`` is set, appends each word that
    has spikes to the spike list (word index and a lane bitmap) that feeds the next
    layer. On the first timestep of a sample (``first``) the stored state is ignored and
    taken as zero, so membranes and counts need no clearing pass. Padding lanes past the
    layer's size never spike. Costs ``words + 5`` cycles (read, register, leak and add,
    saturate and fire, write); ``words + 6`` in wide configs
    (:attr:`~spikefab.layout.Layout.wide`), whose lanes register their tests.
    """

    def __init__(self, config, layout, shapes):
        self._config = config
        self._layout = layout
        self._shapes = shapes
        super().__init__({
            "start": In(1),
            "layer": In(range(len(config.weight_shapes))),
            "first": In(1),
            "emit": In(1),
            "done": Out(1),
            "ren": Out(1),   # acc_raddr and n_raddr are read this cycle
            "acc_raddr": Out(shapes.acc_addr),
            "acc_rdata": In(shapes.acc_word),
            "acc_waddr": Out(shapes.acc_addr),
            "acc_wdata": Out(shapes.acc_word),
            "acc_we": Out(1),
            "n_raddr": Out(shapes.neuron_addr),
            "n_rdata": In(shapes.neuron_word),
            "n_waddr": Out(shapes.neuron_addr),
            "n_wdata": Out(shapes.neuron_word),
            "n_we": Out(1),
            "list_waddr": Out(shapes.acc_addr),
            "list_wdata": Out(shapes.spike_list_entry),
            "list_we": Out(1),
            "list_length": Out(range(layout.max_layer_words + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        lanes = layout.lanes
        words = Array(Const(w - 1) for w in layout.neuron_words)
        base = Array(Const(b) for b in layout.neuron_base)
        size = Array(Const(s) for s in config.layer_sizes[1:])

        running = Signal()
        k = Signal.like(self.acc_raddr)
        out_valid = Signal()
        out_k = Signal.like(self.acc_raddr)

        with m.If(self.start):
            m.d.sync += [running.eq(1), k.eq(0), self.list_length.eq(0)]
        with m.Elif(running):
            m.d.sync += k.eq(k + 1)
            with m.If(k == words[self.layer]):
                m.d.sync += running.eq(0)
        m.d.comb += [
            self.ren.eq(running),
            self.acc_raddr.eq(k),
            self.n_raddr.eq(base[self.layer] + k),
        ]
        m.d.sync += [out_valid.eq(running), out_k.eq(k)]

        # Stage 1 (out_*): the state and current arrive and are registered as they are
        # (no block-RAM output feeds logic); stage 2 (read_*): each lane leaks and adds;
        # stage 3 (summed_*): saturate and fire, registered as the new state; stage 4
        # (written_*): write back. Each arithmetic step and the write-back get a cycle.
        read_valid = Signal()
        read_k = Signal.like(self.acc_raddr)
        state_word = Signal.like(self.n_rdata)
        current_word = Signal.like(self.acc_rdata)
        m.d.sync += [read_valid.eq(out_valid), read_k.eq(out_k),
                     state_word.eq(self.n_rdata), current_word.eq(self.acc_rdata)]
        summed_valid = Signal()
        summed_k = Signal.like(self.acc_raddr)
        m.d.sync += [summed_valid.eq(read_valid), summed_k.eq(read_k)]
        tested = layout.wide          # a stage more: the lanes' tests registered
        if tested:
            tested_valid = Signal()
            tested_k = Signal.like(self.acc_raddr)
            m.d.sync += [tested_valid.eq(summed_valid), tested_k.eq(summed_k)]
            last_valid, last_k = tested_valid, tested_k
        else:
            last_valid, last_k = summed_valid, summed_k
        spikes = Signal(lanes)
        written = Signal()
        written_k = Signal.like(self.acc_raddr)
        new_state = Signal(self._shapes.neuron_word)
        new_spikes = Signal(lanes)
        for lane in range(lanes):
            m.submodules[f"lane{lane}"] = lif = LIFLane(config, registered_tests=tested)
            state = state_word[lane]
            # The count and its increment are both ready by stage 3, so that a spike
            # only chooses between them (no adder behind the threshold compare).
            # A count never passes the timesteps, which count_bits holds.
            count = Signal(self._shapes.count, name=f"count{lane}")     # stage 2
            count_up = Signal(self._shapes.count, name=f"count_up{lane}")
            valid = Signal(name=f"valid{lane}")
            kept = Mux(self.first, 0, state.count)
            m.d.sync += [
                count.eq(kept), count_up.eq(kept + 1),
                valid.eq(read_k * lanes + lane < size[self.layer]),
            ]
            if tested:
                # Held a stage longer, beside the lane's registered tests.
                later = [Signal.like(x, name=f"{x.name}_q") for x in (count, count_up, valid)]
                m.d.sync += [q.eq(x) for q, x in zip(later, (count, count_up, valid))]
                count, count_up, valid = later
            m.d.comb += [
                lif.v.eq(Mux(self.first, 0, state.v)),
                lif.current.eq(current_word[lane]),
                spikes[lane].eq(lif.spike & valid),
            ]
            m.d.sync += [
                new_state[lane].v.eq(lif.v_next),
                new_state[lane].count.eq(Mux(spikes[lane], count_up, count)),
            ]
        m.d.sync += [written.eq(last_valid), written_k.eq(last_k),
                     new_spikes.eq(spikes)]
        m.d.comb += [
            self.n_wdata.eq(new_state),
            self.n_waddr.eq(base[self.layer] + written_k),
            self.n_we.eq(written),
            self.acc_waddr.eq(written_k),
            self.acc_we.eq(written),
            self.acc_wdata.eq(0),
            self.list_waddr.eq(self.list_length),
            self.list_wdata.word.eq(written_k),
            self.list_wdata.bits.eq(new_spikes),
            self.list_we.eq(written & self.emit & new_spikes.any()),
        ]
        with m.If(self.list_we):
            m.d.sync += self.list_length.eq(self.list_length + 1)
        if tested:
            m.d.comb += self.done.eq(written & ~tested_valid & ~summed_valid & ~read_valid
                                     & ~out_valid & ~running)
        else:
            m.d.comb += self.done.eq(written & ~summed_valid & ~read_valid & ~out_valid
                                     & ~running)
        return m
