"""The learning-signal pass: the postsynaptic signal ``p`` of one weight layer.

Twin of :func:`spikefab.golden.learning.learning_signals` for one layer: ``p = e`` for
the output layer; for a hidden layer :func:`~spikefab.golden.learning.hidden_signal`
``p[j] = g[j] · Σ_m sign[j, m] · e[index[j, m]]`` with the feedback table of
:func:`~spikefab.golden.learning.feedback_table` held in a ROM (``k_fb`` entries of index
and sign per neuron, ``P`` neurons a word) and the gate ``gate_lo ≤ a[j] ≤ gate_hi`` on
the neuron's own spike count. ``p`` goes to the signal memory, a word of ``P`` lanes per
cycle (output layer) or per ``k_fb`` cycles (hidden layer).

A hidden layer's pass is a pipeline over (word, entry): **issue** the ROM entry and, with
a word's first entry, the neuron word's read; **take** both as they arrive; **select**
each lane's term ``±e[index]`` and its gate test, registered; **accumulate** the terms of
a word and write its signals with its last entry.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spikefab.golden.learning import feedback_table


__all__ = ["LearningSignals", "feedback_rom"]


def feedback_rom(config, layout):
    """The feedback ROM: ``(memory, bases)``, each hidden layer's ``k_fb`` entries per word
    of ``P`` neurons from ``bases[layer]`` on (padding lanes hold entry 0, +)."""
    lanes = layout.lanes
    entry = data.StructLayout({"index": range(config.n_out), "negative": 1})
    words, bases = [], []
    for (index, sign), n_words in zip(feedback_table(config), layout.neuron_words):
        bases.append(len(words))
        for word in range(n_words):
            for m in range(config.k_fb):
                lanes_init = []
                for lane in range(lanes):
                    j = word * lanes + lane
                    if j < len(index):
                        lanes_init.append({"index": int(index[j, m]),
                                           "negative": int(sign[j, m] < 0)})
                    else:
                        lanes_init.append({"index": 0, "negative": 0})
                words.append(lanes_init)
    shape = data.ArrayLayout(entry, lanes)
    return Memory(shape=shape, depth=max(1, len(words)), init=words), bases


class LearningSignals(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    shapes : :class:`~spikefab.hw.ports.Shapes`

    Members
    -------
    start : In(1)
        Begin the pass of layer ``layer`` (read in the cycle after ``start`` for a hidden
        layer), or of the output layer when ``output`` is set with ``start``.
    output : In(1); layer : In(range(n_layers))
    error : In(n_out × error)
        The output error, held from ``start`` to ``done``.
    done : Out(1)
        The pass's last cycle: its last word is written in it.
    n_raddr : Out; n_rdata : In
        The neuron memory's read port (spike counts), data a cycle after the address.
    signals : In(WritePort.Signature)
        The signal memory's write port.
    """

    def __init__(self, config, layout, shapes):
        self._config = config
        self._layout = layout
        self._shapes = shapes
        super().__init__({
            "start": In(1),
            "output": In(1),
            "layer": In(range(len(config.weight_shapes))),
            "error": In(data.ArrayLayout(shapes.error, config.n_out)),
            "done": Out(1),
            "n_raddr": Out(shapes.neuron_addr),
            "n_rdata": In(shapes.neuron_word),
            # As the signal memory's (one word per neuron word of the largest layer).
            "signals": In(WritePort.Signature(addr_width=ceil_log2(layout.max_layer_words),
                                              shape=shapes.signal_word)),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._config, self._layout
        n_out, lanes = config.n_out, layout.lanes
        out_words = layout.neuron_words[-1]
        write = self.signals
        error = [self.error[j] for j in range(n_out)]

        k = Signal(range(layout.max_layer_words + 1))
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += k.eq(0)
                    with m.If(self.output):
                        m.next = "OUTPUT"
                    with m.Else():
                        m.next = "HIDDEN_START"
            with m.State("OUTPUT"):
                m.d.comb += [write.addr.eq(k), write.en.eq(1)]
                for lane in range(lanes):
                    options = Array(error[j] if j < n_out else Const(0, self._shapes.error)
                                    for j in range(lane, out_words * lanes, lanes))
                    m.d.comb += write.data[lane].eq(options[k])
                m.d.sync += k.eq(k + 1)
                with m.If(k == out_words - 1):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
            self._hidden_pass(m, k, error)
        return m

    def _hidden_pass(self, m, k, error):
        """States HIDDEN_START and HIDDEN of the FSM being built in ``m``."""
        config, layout, shapes = self._config, self._layout, self._shapes
        lanes, k_fb = layout.lanes, config.k_fb
        write = self.signals
        rom, rom_bases = feedback_rom(config, layout)
        m.submodules.feedback = rom
        rom_r = rom.read_port()
        last_word = Array(Const(w - 1) for w in layout.neuron_words)[self.layer]
        neuron_base = Array(Const(b) for b in layout.neuron_base)[self.layer]
        layer_size = Array(Const(s) for s in config.hidden)[self.layer]
        error_by_index = Array(error)
        negated_by_index = None
        if layout.wide:
            # Wide configs: each error's negative registered (the error holds from
            # ``start`` on), so that a lane's term is a choice of two registers, with no
            # negation behind its choice of error (10.4 ns on the ECP5 at 16 lanes).
            negated = [Signal(shapes.signal, name=f"negated{j}") for j in range(len(error))]
            m.d.sync += [n.eq(-e) for n, e in zip(negated, error)]
            negated_by_index = Array(negated)

        m_fb = Signal(range(k_fb))
        rom_addr = Signal(range(max(1, sum(w * k_fb for w in layout.neuron_words)) + 1))
        issuing = Signal()
        # Stage tags: (valid, word, entry) of what each stage holds.
        tag = data.StructLayout({"valid": 1, "word": k.shape(), "entry": m_fb.shape()})
        out, taken, termed = (Signal(tag, name=n) for n in ("out", "taken", "termed"))
        rom_word = Signal.like(rom_r.data)
        count_word = Signal(shapes.count_word)
        terms = [Signal(shapes.signal, name=f"term{lane}") for lane in range(lanes)]
        opens = Signal(lanes)       # the neuron's count lies in the gate
        valids = Signal(lanes)      # the lane holds a neuron of the layer
        delta = [Signal(shapes.signal, name=f"delta{lane}") for lane in range(lanes)]
        gate = Signal(lanes)

        with m.State("HIDDEN_START"):
            m.d.sync += [m_fb.eq(0), issuing.eq(1),
                         rom_addr.eq(Array(Const(b) for b in rom_bases)[self.layer])]
            m.next = "HIDDEN"
        with m.State("HIDDEN"):
            # Issue: ROM entry (k, m_fb); neuron word k read with its first entry.
            m.d.comb += [rom_r.addr.eq(rom_addr), self.n_raddr.eq(neuron_base + k)]
            m.d.sync += [out.valid.eq(issuing), out.word.eq(k), out.entry.eq(m_fb),
                         taken.eq(out), termed.eq(taken), rom_word.eq(rom_r.data)]
            for lane in range(lanes):
                m.d.sync += count_word[lane].eq(self.n_rdata[lane].count)
            with m.If(issuing):
                m.d.sync += rom_addr.eq(rom_addr + 1)
                with m.If(m_fb == k_fb - 1):
                    m.d.sync += [m_fb.eq(0), k.eq(k + 1)]
                    with m.If(k == last_word):
                        m.d.sync += issuing.eq(0)
                with m.Else():
                    m.d.sync += m_fb.eq(m_fb + 1)
            # Select: the entry and the neuron word of ``taken`` have been registered.
            for lane in range(lanes):
                entry, count = rom_word[lane], count_word[lane]
                chosen = error_by_index[entry.index]
                if negated_by_index is None:
                    term = Mux(entry.negative, -chosen, chosen)
                else:
                    term = Mux(entry.negative, negated_by_index[entry.index], chosen)
                m.d.sync += [
                    terms[lane].eq(term),
                    opens[lane].eq((count >= config.gate_lo) & (count <= config.gate_hi)),
                    valids[lane].eq(taken.word * lanes + lane < layer_size),
                ]
            # Accumulate the terms of ``termed``; its last entry writes the word.
            first, last = termed.entry == 0, termed.entry == k_fb - 1
            firsts = [first] * lanes
            if layout.wide:
                # Wide configs: whether ``termed`` holds a word's first entry, registered
                # with it in a copy per lane, beside the lane's adder (one compare
                # feeding sixteen lanes across the ECP5: 4 ns of route before the add,
                # mnist-deep 98.5 MHz).
                firsts = [Signal(name=f"first{lane}") for lane in range(lanes)]
                m.d.sync += [f.eq(taken.entry == 0) for f in firsts]
            for lane in range(lanes):
                total = Signal(shapes.signal, name=f"total{lane}")
                lane_gate = Mux(firsts[lane], opens[lane], gate[lane])
                m.d.comb += [
                    total.eq(Mux(firsts[lane], 0, delta[lane]) + terms[lane]),
                    write.data[lane].eq(Mux(lane_gate & valids[lane], total, 0)),
                ]
                with m.If(termed.valid):
                    m.d.sync += [delta[lane].eq(total), gate[lane].eq(lane_gate)]
            m.d.comb += [write.addr.eq(termed.word), write.en.eq(termed.valid & last)]
            with m.If(termed.valid & ~taken.valid & ~out.valid & ~issuing & last):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
