"""The sparse-DFA update unit: the sequencer of the readout, the signal pass and the lanes.

Runs after the forward pass of a sample and implements :mod:`spikefab.golden.learning`
bit for bit, one block per golden function:

1. **Readout** (:class:`~spikefab.hw.readout.Readout`): the output spike counts are
   copied from the neuron memory, their argmax found, the error and margin test
   registered. Inference ends here, and so does a sample within the margin.
2. **Signals** (:class:`~spikefab.hw.signals.LearningSignals`): for each weight layer,
   output layer first, the postsynaptic signal ``p`` of every neuron goes to a small
   signal memory.
3. **Weights** For each presynaptic neuron ``i`` with count ``a ≠ 0`` (rows with
   ``a = 0`` cost one cycle to skip), every word of its row is read and goes through the
   :class:`~spikefab.hw.update_lanes.UpdateLanes`; the word is written back only when a
   lane changed. The memory has one port, so a word costs one read cycle, plus one write
   cycle when it changed. Reading the input layer's counts clears them for the next
   sample. For stochastic rounding the
   :class:`~spikefab.hw.rounding.RoundingGenerator` draws once per row with ``a ≠ 0``;
   ``reseed`` reloads it with ``rounding_seed``.

   With wide lanes (:attr:`~spikefab.layout.Layout.overlap_rows`) the rows overlap: a
   *row scanner* reads one presynaptic count a cycle and queues the rows with ``a ≠ 0``
   (their weight address and ``a``), and the word loop takes the next queued row as it
   reads the last word of the current one; each word carries its row's ``a``, dither and
   address through the :class:`~spikefab.hw.update_lanes.UpdateLanes`, so no row waits
   for the one before it to drain. A layer costs about ``max(rows, words read + words
   written)`` cycles instead of ``4·rows + Σ (words + L + 4)`` over its updated rows.

The cycle cost of each step is :func:`spikefab.hw.cost.update_cycles`.
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikefab.golden.learning import DITHER_STEP
from spikefab.hw.pipeline import delay_line, tag_layout
from spikefab.hw.ports import SHIFT_BITS
from spikefab.hw.readout import Readout
from spikefab.hw.rounding import RoundingGenerator
from spikefab.hw.signals import LearningSignals
from spikefab.hw.update_lanes import UpdateLanes, word_tag_layout
from spikefab.hw.weight_port import WeightPort


__all__ = ["UpdateUnit", "ROW_QUEUE_DEPTH"]

#: Rows the scanner may queue ahead of the word loop (``overlap_rows``), the scanner's
#: reads in flight included.
ROW_QUEUE_DEPTH = 4


class UpdateUnit(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    shapes : :class:`~spikefab.hw.ports.Shapes`
    weight_latency : int
        Cycles from a weight read's address to its data
        (:class:`~spikefab.hw.memory.WeightMemory`).
    """

    def __init__(self, config, layout, shapes, *, weight_latency=2):
        self._config = config
        self._layout = layout
        self._shapes = shapes
        self._weight_latency = weight_latency
        n_layers = len(config.weight_shapes)
        super().__init__({
            "start": In(1),
            "reseed": In(1),
            "train": In(1),
            "label": In(range(config.n_out)),
            "lr_shift": In(data.ArrayLayout(unsigned(SHIFT_BITS), n_layers)),
            "margin": In(range(config.timesteps + 1)),
            "done": Out(1),
            "skipped": Out(1),
            "prediction": Out(range(config.n_out)),
            "counts": Out(data.ArrayLayout(shapes.count, config.n_out)),
            "writes": Out(range(layout.lanes + 1)),
            "inputs_cleared": Out(1),
            # Neuron memory, read only.
            "n_raddr": Out(shapes.neuron_addr),
            "n_rdata": In(shapes.neuron_word),
            # Input spike counts: read, and cleared behind the read.
            "cnt_raddr": Out(range(config.n_in)),
            "cnt_ren": Out(1),
            "cnt_rdata": In(shapes.count),
            "cnt_waddr": Out(range(config.n_in)),
            "cnt_we": Out(1),
            "weights": Out(WeightPort.Signature(shapes, read_latency=weight_latency)),
            # The readout's error of the last sample (the ES fitness reads it), and the
            # rounding generator for another block's draws (the ES update's rows).
            "error": Out(data.ArrayLayout(shapes.error, config.n_out)),
            "extra_draw": In(1),
            "row_dither": Out(16),
        })
        self.memory_ports = []

    def elaborate(self, platform):
        m = Module()
        config, layout, shapes = self._config, self._layout, self._shapes
        lanes = layout.lanes
        out_layer = len(config.weight_shapes) - 1

        m.submodules.signal_memory = signals = Memory(
            shape=shapes.signal_word, depth=layout.max_layer_words, init=[])
        sig_r, sig_w = signals.read_port(), signals.write_port()
        self.memory_ports = [("signals", sig_r, sig_w)]
        m.submodules.readout = readout = Readout(config, layout, shapes)
        m.submodules.signals = signal_pass = LearningSignals(config, layout, shapes)
        m.submodules.rounding = rounding = RoundingGenerator(config.rounding_seed)
        k = Signal(range(layout.max_layer_words + 1))
        overlap = layout.overlap_rows
        m.submodules.lanes = lanes_ = UpdateLanes(
            config, shapes, lanes, k.shape(), per_word=overlap,
            addr_shape=self.weights.addr.shape(), lut_products=layout.wide,
            registered_sum=layout.wide)
        wiring.connect(m, signal_pass.signals, sig_w)

        layer = Signal(range(out_layer + 1))
        shift = Signal(SHIFT_BITS)
        words_per_row = Array(Const(w) for w in layout.words_per_row)[layer]
        # Reads in flight: stage n was issued n + 1 cycles ago; the last one's signals
        # arrive now, its weight word next cycle (see UpdateLanes).
        reading = Signal()
        if overlap:
            # Each word's tag carries its address, its row's activity and its dither.
            word = SimpleNamespace(addr=Signal.like(self.weights.addr, name="word_addr"),
                                   activity=Signal(shapes.count, name="word_activity"),
                                   dither=Signal(16, name="word_dither"))
            in_flight = delay_line(
                m, word_tag_layout(k.shape(), self.weights.addr.shape(), shapes.count),
                {"valid": reading, "index": k, "addr": word.addr,
                 "activity": word.activity, "dither": word.dither},
                self._weight_latency - 1, name="in_flight")
        else:
            in_flight = delay_line(m, tag_layout(k.shape()), {"valid": reading, "index": k},
                                   self._weight_latency - 1, name="in_flight")
        pending = lanes_.pending
        writing = lanes_.write if overlap else pending.valid & lanes_.changed.any()
        drained = ~(lanes_.busy | Cat(*(stage.valid for stage in in_flight)).any())

        m.d.comb += [
            readout.word.eq(k), readout.neuron_word.eq(self.n_rdata),
            readout.label.eq(self.label), readout.margin.eq(self.margin),
            self.prediction.eq(readout.prediction), self.counts.eq(readout.counts),
            signal_pass.layer.eq(layer), signal_pass.error.eq(readout.error),
            signal_pass.n_rdata.eq(self.n_rdata),
            rounding.reseed.eq(self.reseed), rounding.draw.eq(self.extra_draw),
            self.row_dither.eq(rounding.row_dither), self.error.eq(readout.error),
            lanes_.arriving.eq(in_flight[-1]), lanes_.signal_data.eq(sig_r.data),
            lanes_.weight_data.eq(self.weights.rdata),
            lanes_.shift.eq(shift), lanes_.row_dither.eq(rounding.row_dither),
            self.weights.wdata.eq(lanes_.new_word),
            sig_r.en.eq(0),
        ]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += k.eq(0)
                    m.next = "READ_COUNTS"
            with m.State("READ_COUNTS"):
                m.d.comb += self.n_raddr.eq(layout.neuron_base[out_layer] + k)
                m.next = "CAPTURE_COUNTS"
            with m.State("CAPTURE_COUNTS"):
                m.d.comb += readout.capture.eq(1)
                m.d.sync += k.eq(k + 1)
                with m.If(k == layout.neuron_words[out_layer] - 1):
                    m.d.comb += readout.start.eq(1)
                    m.next = "ARGMAX"
                with m.Else():
                    m.next = "READ_COUNTS"
            with m.State("ARGMAX"):
                # n_out ≥ 2 steps: the error and margin test settle meanwhile.
                m.d.comb += readout.step.eq(1)
                with m.If(readout.last):
                    m.next = "ERROR"
            with m.State("ERROR"):
                m.d.sync += self.skipped.eq(~self.train | readout.within)
                with m.If(~self.train | readout.within):
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += layer.eq(out_layer)
                    m.d.comb += [signal_pass.start.eq(1), signal_pass.output.eq(1)]
                    m.next = "SIGNALS"
            with m.State("SIGNALS"):
                m.d.comb += self.n_raddr.eq(signal_pass.n_raddr)
                with m.If(signal_pass.done):
                    m.next = "WEIGHTS_START"
            if overlap:
                self._overlapped_rows(m, SimpleNamespace(
                    layer=layer, shift=shift, k=k, words_per_row=words_per_row,
                    reading=reading, in_flight=in_flight, word=word, lanes=lanes_,
                    writing=writing, drained=drained, rounding=rounding,
                    signal_pass=signal_pass, sig_r=sig_r))
            else:
                self._row_by_row(m, SimpleNamespace(
                    layer=layer, shift=shift, k=k, words_per_row=words_per_row,
                    reading=reading, in_flight=in_flight, lanes=lanes_, writing=writing,
                    drained=drained, rounding=rounding, signal_pass=signal_pass,
                    sig_r=sig_r))
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m

    def _step_row(self, m, row, word, lane, base, words_per_row):
        """Move a presynaptic row position to the next row: its count (``row``), the
        neuron word and lane that hold it, and its first weight word (``base``)."""
        m.d.sync += [row.eq(row + 1), base.eq(base + words_per_row)]
        with m.If(lane == self._layout.lanes - 1):
            m.d.sync += [lane.eq(0), word.eq(word + 1)]
        with m.Else():
            m.d.sync += lane.eq(lane + 1)

    def _last_row(self, layer):
        """The index of ``layer``'s last presynaptic row."""
        return Array(Const(f - 1) for f, _ in self._config.weight_shapes)[layer]

    def _row_by_row(self, m, ns):
        """The weight loop of narrow configs: states ``WEIGHTS_START``, ``ROW``,
        ``ROW_TAKE``, ``ROW_CHECK``, ``WORDS`` and ``NEXT_ROW``. Four cycles a row, and a
        row's words drain through the lanes before the next row starts."""
        config, layout, shapes = self._config, self._layout, self._shapes
        lanes = layout.lanes
        layer, shift, k, lanes_ = ns.layer, ns.shift, ns.k, ns.lanes
        pending = lanes_.pending
        words_per_row, reading, writing = ns.words_per_row, ns.reading, ns.writing
        in_flight, drained, rounding = ns.in_flight, ns.drained, ns.rounding
        signal_pass, sig_r = ns.signal_pass, ns.sig_r
        row = Signal(range(max(f for f, _ in config.weight_shapes) + 1))
        row_word = Signal.like(self.n_raddr)
        row_lane = Signal(range(lanes))
        row_base = Signal.like(self.weights.addr)
        activity = Signal(shapes.count)
        m.d.comb += lanes_.activity.eq(activity)

        with m.State("WEIGHTS_START"):
            # Neuron-memory word of the presynaptic layer's first neuron (input: unused).
            pre_base = Array(Const(b) for b in (0,) + layout.neuron_base[:-1])[layer]
            m.d.sync += [row.eq(0), row_word.eq(pre_base), row_lane.eq(0),
                         row_base.eq(Array(Const(b) for b in layout.weight_base)[layer]),
                         shift.eq(self.lr_shift[layer])]
            m.next = "ROW"
        with m.State("ROW"):
            # Read the presynaptic count.
            m.d.comb += [self.cnt_raddr.eq(row), self.cnt_ren.eq(1),
                         self.n_raddr.eq(row_word)]
            m.next = "ROW_TAKE"
        with m.State("ROW_TAKE"):
            # The input layer's count is cleared once read (not in the cycle of the
            # read: no memory here is read and written at one address in a cycle).
            lane_counts = Array(self.n_rdata[lane].count for lane in range(lanes))
            m.d.comb += [self.cnt_waddr.eq(row), self.cnt_we.eq(layer == 0)]
            m.d.sync += activity.eq(Mux(layer == 0, self.cnt_rdata, lane_counts[row_lane]))
            m.next = "ROW_CHECK"
        with m.State("ROW_CHECK"):
            m.d.sync += k.eq(0)
            with m.If(activity == 0):
                m.next = "NEXT_ROW"
            with m.Else():
                if config.rounding == "stochastic":
                    m.d.comb += [rounding.draw.eq(1), lanes_.load_dither.eq(1)]
                m.next = "WORDS"
        with m.State("WORDS"):
            # A write takes the port; reads fill the other cycles.
            m.d.comb += reading.eq(~writing & (k != words_per_row))
            with m.If(writing):
                m.d.comb += [
                    self.weights.addr.eq(row_base + pending.index), self.weights.we.eq(1),
                    self.writes.eq(sum(lanes_.changed[lane] for lane in range(lanes))),
                ]
            with m.Elif(reading):
                m.d.comb += [self.weights.addr.eq(row_base + k), self.weights.en.eq(1)]
                m.d.sync += k.eq(k + 1)
            # The signals are read a cycle before the weight word arrives.
            if len(in_flight) == 1:
                m.d.comb += [sig_r.addr.eq(k), sig_r.en.eq(reading)]
            else:
                m.d.comb += [sig_r.addr.eq(in_flight[-2].index),
                             sig_r.en.eq(in_flight[-2].valid)]
            with m.If((k == words_per_row) & drained):
                m.next = "NEXT_ROW"
        with m.State("NEXT_ROW"):
            self._step_row(m, row, row_word, row_lane, row_base, words_per_row)
            with m.If(row == self._last_row(layer)):
                with m.If(layer == 0):
                    m.d.comb += self.inputs_cleared.eq(1)
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += layer.eq(layer - 1)
                    m.d.comb += signal_pass.start.eq(1)
                    m.next = "SIGNALS"
            with m.Else():
                m.next = "ROW"

    def _overlapped_rows(self, m, ns):
        """The weight loop of wide configs (``overlap_rows``): states ``WEIGHTS_START``
        and ``ROWS``. A row scanner queues the rows with a non-zero count, one row read a
        cycle; the word loop reads the queued rows' words back to back, each word's tag
        carrying its address, activity and dither, and the layer ends once every row
        was scanned and every word written."""
        config, layout, shapes = self._config, self._layout, self._shapes
        lanes = layout.lanes
        layer, k, word, lanes_ = ns.layer, ns.k, ns.word, ns.lanes
        pending = lanes_.pending
        addr_shape = self.weights.addr.shape()

        # -- the scanner: count read (issue) → count registered (taken) → queued ------------
        scanning = Signal()
        scan_row = Signal(range(max(f for f, _ in config.weight_shapes) + 1))
        scan_word = Signal.like(self.n_raddr)
        scan_lane = Signal(range(lanes))
        scan_base = Signal(addr_shape)
        taken = SimpleNamespace(valid=Signal(name="scan_taken"),
                                row=Signal.like(scan_row, name="scan_taken_row"),
                                lane=Signal.like(scan_lane, name="scan_taken_lane"),
                                base=Signal(addr_shape, name="scan_taken_base"))
        # The count arrives in ``taken``'s cycle and is registered as it is (the input's
        # from its block RAM, a hidden layer's chosen from its word): no logic between a
        # block RAM's output and its register, which the ECP5 places far from the RAM.
        checked = SimpleNamespace(valid=Signal(name="scan_checked"),
                                  base=Signal(addr_shape, name="scan_checked_base"),
                                  input_count=Signal(shapes.count, name="scan_checked_input"),
                                  layer_count=Signal(shapes.count, name="scan_checked_layer"))
        checked.activity = Mux(layer == 0, checked.input_count, checked.layer_count)
        # The queue: registers, not a memory (a FIFO's RAM would be read where written).
        depth = ROW_QUEUE_DEPTH
        queue_base = Array(Signal(addr_shape, name=f"queue_base{n}") for n in range(depth))
        queue_activity = Array(Signal(shapes.count, name=f"queue_activity{n}")
                               for n in range(depth))
        head = Signal(range(depth))
        tail = Signal(range(depth))
        level = Signal(range(depth + 1))
        push = Signal()
        pop = Signal()
        # Room for every count in flight, whatever it turns out to be.
        issue = scanning & (level + taken.valid + checked.valid < depth)

        # -- the word loop -----------------------------------------------------------------
        have_row = Signal()
        # The layer's last word index, registered: the choice by layer and the subtraction
        # stay off the path from ``k`` to the queue's pop (``layer`` is set cycles before
        # a layer's rows start).
        last_k = Signal.like(k, name="row_last_k")
        m.d.sync += last_k.eq(ns.words_per_row - 1)
        last_word = k == last_k
        rows_done = ~(scanning | taken.valid | checked.valid | (level != 0) | have_row)

        with m.State("WEIGHTS_START"):
            pre_base = Array(Const(b) for b in (0,) + layout.neuron_base[:-1])[layer]
            m.d.sync += [
                scanning.eq(1), scan_row.eq(0), scan_word.eq(pre_base), scan_lane.eq(0),
                scan_base.eq(Array(Const(b) for b in layout.weight_base)[layer]),
                ns.shift.eq(self.lr_shift[layer]),
            ]
            m.next = "ROWS"
        with m.State("ROWS"):
            # Scanner.
            m.d.comb += [self.cnt_raddr.eq(scan_row), self.cnt_ren.eq(issue),
                         self.n_raddr.eq(scan_word)]
            m.d.sync += [taken.valid.eq(issue), taken.row.eq(scan_row),
                         taken.lane.eq(scan_lane), taken.base.eq(scan_base)]
            with m.If(issue):
                self._step_row(m, scan_row, scan_word, scan_lane, scan_base,
                               ns.words_per_row)
                with m.If(scan_row == self._last_row(layer)):
                    m.d.sync += scanning.eq(0)
            # The input layer's count is cleared the cycle after its read (no memory
            # here is read and written at one address in a cycle).
            lane_counts = Array(self.n_rdata[lane].count for lane in range(lanes))
            m.d.comb += [self.cnt_waddr.eq(taken.row), self.cnt_we.eq(taken.valid & (layer == 0))]
            m.d.sync += [checked.valid.eq(taken.valid), checked.base.eq(taken.base),
                         checked.input_count.eq(self.cnt_rdata),
                         checked.layer_count.eq(lane_counts[taken.lane])]
            m.d.comb += push.eq(checked.valid & (checked.activity != 0))

            # Word loop: a write takes the port; reads fill the other cycles.
            m.d.comb += ns.reading.eq(~ns.writing & have_row)
            with m.If(ns.writing):
                m.d.comb += [
                    self.weights.addr.eq(pending.addr), self.weights.we.eq(1),
                    self.writes.eq(sum(lanes_.changed[lane] for lane in range(lanes))),
                ]
            with m.Elif(ns.reading):
                m.d.comb += [self.weights.addr.eq(word.addr), self.weights.en.eq(1)]
                m.d.sync += [k.eq(k + 1), word.addr.eq(word.addr + 1),
                             word.dither.eq(word.dither + lanes * DITHER_STEP)]
                with m.If(last_word):
                    m.d.sync += have_row.eq(0)
            # The next queued row is taken as the last word of this one is read.
            m.d.comb += pop.eq((level != 0) & (~have_row | (ns.reading & last_word)))
            with m.If(pop):
                m.d.sync += [have_row.eq(1), k.eq(0), word.addr.eq(queue_base[head]),
                             word.activity.eq(queue_activity[head])]
                if config.rounding == "stochastic":
                    m.d.comb += ns.rounding.draw.eq(1)
                    m.d.sync += word.dither.eq(ns.rounding.row_dither)
            # The queue.
            with m.If(push):
                m.d.sync += [queue_base[tail].eq(checked.base),
                             queue_activity[tail].eq(checked.activity), tail.eq(tail + 1)]
            with m.If(pop):
                m.d.sync += head.eq(head + 1)
            m.d.sync += level.eq(level + push - pop)
            # The signals are read a cycle before the weight word arrives.
            if len(ns.in_flight) == 1:
                m.d.comb += [ns.sig_r.addr.eq(k), ns.sig_r.en.eq(ns.reading)]
            else:
                m.d.comb += [ns.sig_r.addr.eq(ns.in_flight[-2].index),
                             ns.sig_r.en.eq(ns.in_flight[-2].valid)]
            with m.If(rows_done & ns.drained & ~pending.valid):
                with m.If(layer == 0):
                    m.d.comb += self.inputs_cleared.eq(1)
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += layer.eq(layer - 1)
                    m.d.comb += ns.signal_pass.start.eq(1)
                    m.next = "SIGNALS"
