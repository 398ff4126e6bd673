"""The sparse-DFA update unit: readout, output error, feedback, gate and weight updates.

Runs after the forward pass of a sample and implements :mod:`golden.learning` bit for bit.

1. **Readout** The output spike counts are copied from the neuron memory to registers
   and their argmax found (the lowest index wins a tie). Inference ends here.
2. **Error and margin** ``e = clip(count - T·onehot(label))`` per output, registered
   while the argmax runs; a sample with ``max |e| ≤ margin`` (the run-time margin
   register) is skipped.
3. **Signals** For each weight layer, output layer first: the postsynaptic signal ``p``
   of every neuron goes to a small signal memory. For the output layer ``p = e``; for a
   hidden layer the feedback table ROM (``k_fb`` entries of index and sign per neuron,
   one entry per cycle, ``P`` neurons at a time) selects and adds ``±e[index]``, and the
   neuron's own spike count gates it (two comparators).
4. **Weights** For each presynaptic neuron ``i`` with count ``a ≠ 0`` (rows with
   ``a = 0`` cost one cycle to skip), every word of its row is read, the ``P`` lanes get
   ``Δ = -sign(p)·((|p|·a + r) >> s)`` with the run-time shift ``s`` of the layer,
   saturated; the word is written back only when a lane changed. The memory has one
   port, so a word costs one read cycle, plus one write cycle when it changed. Reading
   the input layer's counts clears them for the next sample.

   The rounding offset ``r`` is ``2**(s-1)`` for round-to-nearest. For stochastic
   rounding, a xorshift32 *rounding generator* steps once per row with ``a ≠ 0`` (the
   row's dither ``R`` is the high half of its new state), a 16-bit accumulator adds
   ``P · 0x9E37`` per word, and lane ``l`` adds ``l · 0x9E37`` and keeps the top ``s``
   bits. ``reseed`` reloads the generator with ``rounding_seed``.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.learning import DITHER_STEP, feedback_table
from .ports import SHIFT_BITS


__all__ = ["UpdateUnit", "SHIFT_BITS"]


class UpdateUnit(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    shapes : :class:`~hw.ports.Shapes`
    weight_latency : int
        Cycles from a weight read's address to its data (:class:`~hw.memory.WeightMemory`).
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
            # Weight memory, the single port.
            "w_addr": Out(shapes.weight_addr),
            "w_en": Out(1),
            "w_rdata": In(shapes.weight_word),
            "w_wdata": Out(shapes.weight_word),
            "w_we": Out(1),
        })
        self.memory_ports = []

    def _feedback_rom(self):
        """Feedback table of every hidden layer, ``P`` neurons × one entry per word."""
        config, layout = self._config, self._layout
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

    def elaborate(self, platform):
        m = Module()
        config, layout, shapes = self._config, self._layout, self._shapes
        lanes = layout.lanes
        n_layers = len(config.weight_shapes)
        out_layer = n_layers - 1
        n_out = config.n_out

        m.submodules.signals = signals = Memory(shape=shapes.signal_word,
                                                depth=layout.max_layer_words, init=[])
        sig_r = signals.read_port()
        sig_w = signals.write_port()
        m.d.comb += sig_r.en.eq(0)   # read only by the weight pass (WORDS)
        self.memory_ports = [("signals", sig_r, sig_w)]
        rom, rom_bases = self._feedback_rom()
        m.submodules.feedback = rom
        rom_r = rom.read_port()
        last_post_word = Array(Const(w - 1) for w in layout.neuron_words)
        neuron_base = Array(Const(b) for b in layout.neuron_base)
        last_row = Array(Const(f - 1) for f, _ in config.weight_shapes)
        weight_base = Array(Const(b) for b in layout.weight_base)
        # Neuron-memory base of each weight layer's presynaptic layer (input: unused).
        pre_base = Array(Const(b) for b in (0,) + layout.neuron_base[:-1])
        words_per_row = Array(Const(w) for w in layout.words_per_row)

        # -- error and margin ---------------------------------------------------------------
        # Registered in two steps (errors, then each output's margin test) while ARGMAX
        # runs its n_out ≥ 2 cycles over the captured counts, so both are settled by ERROR.
        error = [Signal(shapes.error, name=f"error{j}") for j in range(n_out)]
        inside = Signal(n_out)      # |e[j]| ≤ margin, each output on its own
        within = inside.all()
        clip = config.error_clip
        for j in range(n_out):
            raw = self.counts[j] - Mux(self.label == j, config.target_count, 0)
            if clip:
                m.d.sync += error[j].eq(Mux(raw > clip, clip, Mux(raw < -clip, -clip, raw)))
            else:
                m.d.sync += error[j].eq(raw)
        # -margin is registered: the margin register changes only while the chip is idle.
        low = Signal(signed(len(self.margin) + 1))
        m.d.sync += low.eq(-self.margin)
        m.d.sync += inside.eq(Cat(*[(e <= self.margin) & (e >= low) for e in error]))
        error_by_index = Array(error)

        layer = Signal(range(n_layers))
        k = Signal(range(layout.max_layer_words + 1))
        j = Signal(range(n_out))
        best = Signal(shapes.count)

        # Weight pass state.
        row = Signal(range(max(f for f, _ in config.weight_shapes) + 1))
        row_word = Signal.like(self.n_raddr)
        row_lane = Signal(range(lanes))
        row_base = Signal.like(self.w_addr)
        activity = Signal(shapes.count)
        shift = Signal(SHIFT_BITS)
        stochastic = config.rounding == "stochastic"
        # Stochastic rounding: generator state, dither of the word now arriving, and the
        # right shift ``16 - s`` that leaves a dither's top ``s`` bits.
        rounding = Signal(32, init=config.rounding_seed)
        word_dither = Signal(16)
        dither_shift = Signal(range(17))
        drawn = Signal(32)
        if stochastic:
            x = rounding ^ (rounding << 13)[:32]
            x = x ^ (x >> 17)
            m.d.comb += drawn.eq(x ^ (x << 5)[:32])
            with m.If(self.reseed):
                m.d.sync += rounding.eq(config.rounding_seed)

        # -- per-lane weight change -----------------------------------------------------
        # A pipeline over the words of a row: (0) read weight word k, and its signals
        # ``L - 2`` cycles later (``L`` the weight memory's read latency); (1), ``L - 1``
        # cycles after the read: the signals arrive and are registered as they are (no
        # block-RAM output feeds logic); (2) so is the weight word, a cycle later, and
        # each lane's magnitude ``|p|`` and direction; (3) the product ``|p|·a`` (and
        # dither ``r``); (4) its step ``(|p|·a + r) >> s``; (5) the saturated new word
        # and which lanes changed; (6) write it if any did. Each arithmetic step gets a
        # cycle (100 MHz on the ECP5). A write takes the port, so reads fill the other
        # cycles: one cycle per unchanged word, two per written one, and the memory
        # output is always taken the cycle it arrives (an SPRAM's is undefined after a
        # write).
        prod_bits = shapes.signal.width + config.count_bits
        moved_bits = max(config.w_bits, prod_bits + 1) + 2
        # Reads in flight: in_flight[n] was issued n + 1 cycles ago; the last stage's
        # signals arrive (stage 1).
        in_flight = [Signal(name=f"in_flight{n}") for n in range(self._weight_latency - 1)]
        in_flight_k = [Signal.like(k, name=f"in_flight_k{n}") for n in range(len(in_flight))]
        arriving, arriving_k = in_flight[-1], in_flight_k[-1]
        taken = Signal()                          # stage 2: signals and old word
        taken_k = Signal.like(k)
        signal_word = Signal.like(sig_r.data)
        sized = Signal()                          # stage 3: magnitudes
        sized_k = Signal.like(k)
        multiplied = Signal()                     # stage 4: products
        multiplied_k = Signal.like(k)
        stepped = Signal()                        # stage 5: steps
        stepped_k = Signal.like(k)
        # The old word, from its arrival (stage 2) down to the step (stage 5).
        old_words = [Signal(shapes.weight_word, name=f"old_word{n}") for n in range(3)]
        pending = Signal()                        # stage 6: a word to write
        pending_k = Signal.like(k)
        pending_word = Signal(shapes.weight_word)
        pending_changed = Signal(lanes)
        new_word = Signal(shapes.weight_word)
        changed = Signal(lanes)
        m.d.sync += [signal_word.eq(sig_r.data), old_words[0].eq(self.w_rdata)]
        m.d.sync += [old_words[n].eq(old_words[n - 1]) for n in range(1, len(old_words))]
        if not stochastic:
            # 2**(s-1), 0 for s = 0: registered, as the shift holds over a layer.
            half = Signal(32)
            m.d.sync += half.eq((Const(1, 33) << shift)[1:33])
        steps = []
        for lane in range(lanes):
            p = signal_word[lane]
            magnitude = Signal(shapes.signal.width, name=f"magnitude{lane}")
            lowers = Signal(name=f"lowers{lane}")        # p > 0 lowers the weight
            m.d.sync += [magnitude.eq(abs(p)), lowers.eq(p >= 0)]
            if stochastic:
                # Registered with the product: the dither's add and shift are one stage,
                # the step's add and shift the next.
                offset = Signal(16, name=f"offset{lane}")
                m.d.sync += offset.eq((word_dither + lane * DITHER_STEP)[:16] >> dither_shift)
            else:
                offset = half
            product = Signal(prod_bits, name=f"product{lane}")
            product_down = Signal(name=f"product_down{lane}")
            step = Signal(prod_bits + 1, name=f"step{lane}")
            step_down = Signal(name=f"step_down{lane}")  # p > 0 lowers the weight
            m.d.sync += [product.eq(magnitude * activity), product_down.eq(lowers),
                         step.eq((product + offset) >> shift), step_down.eq(product_down)]
            steps.append((step, step_down))
        if stochastic:
            with m.If(sized):
                m.d.sync += word_dither.eq(word_dither + lanes * DITHER_STEP)
        old_word = old_words[-1]
        for lane, (step, step_down) in enumerate(steps):
            # The room to each rail is registered with the step, so the saturating
            # add is one carry chain per direction, side by side, then a choice.
            room_up = Signal(unsigned(config.w_bits), name=f"room_up{lane}")
            room_down = Signal(unsigned(config.w_bits), name=f"room_down{lane}")
            m.d.sync += [room_up.eq(config.w_max - old_words[-2][lane]),
                         room_down.eq(old_words[-2][lane] - config.w_min)]
            w = old_word[lane]
            up = Signal(signed(moved_bits), name=f"up{lane}")
            down = Signal(signed(moved_bits), name=f"down{lane}")
            m.d.comb += [up.eq(w + step), down.eq(w - step)]
            with m.If(step_down):
                m.d.comb += new_word[lane].eq(Mux(step > room_down, config.w_min, down))
            with m.Else():
                m.d.comb += new_word[lane].eq(Mux(step > room_up, config.w_max, up))
            # A step moves the weight unless it is zero or the weight sits on that rail.
            m.d.comb += changed[lane].eq((step != 0) & Mux(step_down, room_down != 0,
                                                            room_up != 0))
        m.d.comb += self.w_wdata.eq(pending_word)

        # -- hidden signal pass state ------------------------------------------------------
        m_fb = Signal(range(config.k_fb))
        m_fb_out = Signal(range(config.k_fb))
        rom_addr = Signal(range(max(1, sum(w * config.k_fb for w in layout.neuron_words)) + 1))
        issuing = Signal()
        out_valid = Signal()
        out_k = Signal.like(k)
        # The entry and neuron word of (out_k, m_fb_out), registered as they arrive.
        taken_valid = Signal()
        taken_entry_k = Signal.like(k)
        taken_m_fb = Signal(range(config.k_fb))
        rom_word = Signal.like(rom_r.data)
        count_word = Signal(data.ArrayLayout(shapes.count, lanes))
        # Each lane's term ``±e[index]`` and gate tests, registered before they are summed.
        termed_valid = Signal()
        termed_k = Signal.like(k)
        termed_m_fb = Signal(range(config.k_fb))
        terms = [Signal(shapes.signal, name=f"term{lane}") for lane in range(lanes)]
        opens = Signal(lanes)       # the neuron's count lies in the gate
        valids = Signal(lanes)      # the lane holds a neuron of the layer
        delta = [Signal(shapes.signal, name=f"delta{lane}") for lane in range(lanes)]
        gate = Signal(lanes)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += k.eq(0)
                    m.next = "READ_COUNTS"
            with m.State("READ_COUNTS"):
                m.d.comb += self.n_raddr.eq(neuron_base[out_layer] + k)
                m.next = "CAPTURE_COUNTS"
            with m.State("CAPTURE_COUNTS"):
                for jj in range(n_out):
                    with m.If(k == jj // lanes):
                        m.d.sync += self.counts[jj].eq(self.n_rdata[jj % lanes].count)
                m.d.sync += k.eq(k + 1)
                with m.If(k == layout.neuron_words[out_layer] - 1):
                    m.d.sync += [j.eq(0), best.eq(0), self.prediction.eq(0)]
                    m.next = "ARGMAX"
                with m.Else():
                    m.next = "READ_COUNTS"
            with m.State("ARGMAX"):
                count = Array(self.counts[jj] for jj in range(n_out))[j]
                with m.If(count > best):
                    m.d.sync += [best.eq(count), self.prediction.eq(j)]
                m.d.sync += j.eq(j + 1)
                with m.If(j == n_out - 1):
                    m.next = "ERROR"
            with m.State("ERROR"):
                m.d.sync += self.skipped.eq(~self.train | within)
                with m.If(~self.train | within):
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += [layer.eq(out_layer), k.eq(0)]
                    m.next = "OUTPUT_SIGNALS"
            with m.State("OUTPUT_SIGNALS"):
                m.d.comb += [sig_w.addr.eq(k), sig_w.en.eq(1)]
                for lane in range(lanes):
                    jj = [word * lanes + lane for word in range(layout.neuron_words[out_layer])]
                    options = Array(error[x] if x < n_out else Const(0, shapes.error) for x in jj)
                    m.d.comb += sig_w.data[lane].eq(options[k])
                m.d.sync += k.eq(k + 1)
                with m.If(k == layout.neuron_words[out_layer] - 1):
                    m.next = "WEIGHTS_START"
            with m.State("HIDDEN_SIGNALS_START"):
                m.d.sync += [
                    k.eq(0), m_fb.eq(0), issuing.eq(1),
                    rom_addr.eq(Array(Const(b) for b in rom_bases)[layer]),
                ]
                m.next = "HIDDEN_SIGNALS"
            with m.State("HIDDEN_SIGNALS"):
                # Issue: ROM entry (k, m_fb); neuron k read with its first entry.
                m.d.comb += [rom_r.addr.eq(rom_addr), self.n_raddr.eq(neuron_base[layer] + k)]
                m.d.sync += [out_valid.eq(issuing), out_k.eq(k), m_fb_out.eq(m_fb),
                             taken_valid.eq(out_valid), taken_entry_k.eq(out_k),
                             taken_m_fb.eq(m_fb_out), rom_word.eq(rom_r.data)]
                for lane in range(lanes):
                    m.d.sync += count_word[lane].eq(self.n_rdata[lane].count)
                with m.If(issuing):
                    m.d.sync += rom_addr.eq(rom_addr + 1)
                    with m.If(m_fb == config.k_fb - 1):
                        m.d.sync += [m_fb.eq(0), k.eq(k + 1)]
                        with m.If(k == last_post_word[layer]):
                            m.d.sync += issuing.eq(0)
                    with m.Else():
                        m.d.sync += m_fb.eq(m_fb + 1)
                # Select: entry (taken_entry_k, taken_m_fb) has been registered.
                m.d.sync += [termed_valid.eq(taken_valid), termed_k.eq(taken_entry_k),
                             termed_m_fb.eq(taken_m_fb)]
                layer_size = Array(Const(s) for s in config.hidden)[layer]
                for lane in range(lanes):
                    entry = rom_word[lane]
                    chosen = error_by_index[entry.index]
                    count = count_word[lane]
                    m.d.sync += [
                        terms[lane].eq(Mux(entry.negative, -chosen, chosen)),
                        opens[lane].eq((count >= config.gate_lo) & (count <= config.gate_hi)),
                        valids[lane].eq(taken_entry_k * lanes + lane < layer_size),
                    ]
                # Accumulate: the terms of (termed_k, termed_m_fb).
                first = termed_m_fb == 0
                last = termed_m_fb == config.k_fb - 1
                for lane in range(lanes):
                    total = Signal(shapes.signal, name=f"total{lane}")
                    lane_gate = Mux(first, opens[lane], gate[lane])
                    m.d.comb += [
                        total.eq(Mux(first, 0, delta[lane]) + terms[lane]),
                        sig_w.data[lane].eq(Mux(lane_gate & valids[lane], total, 0)),
                    ]
                    with m.If(termed_valid):
                        m.d.sync += [delta[lane].eq(total), gate[lane].eq(lane_gate)]
                m.d.comb += [sig_w.addr.eq(termed_k), sig_w.en.eq(termed_valid & last)]
                with m.If(termed_valid & ~taken_valid & ~out_valid & ~issuing & last):
                    m.next = "WEIGHTS_START"
            with m.State("WEIGHTS_START"):
                m.d.sync += [
                    row.eq(0), row_word.eq(pre_base[layer]),
                    row_lane.eq(0), row_base.eq(weight_base[layer]), shift.eq(self.lr_shift[layer]),
                ]
                if stochastic:
                    m.d.sync += dither_shift.eq(16 - self.lr_shift[layer])
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
                m.d.sync += [k.eq(0), taken.eq(0), sized.eq(0), multiplied.eq(0),
                             stepped.eq(0), pending.eq(0)]
                m.d.sync += [stage.eq(0) for stage in in_flight]
                with m.If(activity == 0):
                    m.next = "NEXT_ROW"
                with m.Else():
                    if stochastic:
                        m.d.sync += [rounding.eq(drawn), word_dither.eq(drawn[16:])]
                    m.next = "WORDS"
            with m.State("WORDS"):
                writing = pending & pending_changed.any()
                reading = ~writing & (k != words_per_row[layer])
                with m.If(writing):
                    m.d.comb += [
                        self.w_addr.eq(row_base + pending_k), self.w_we.eq(1),
                        self.writes.eq(sum(pending_changed[lane] for lane in range(lanes))),
                    ]
                with m.Elif(reading):
                    m.d.comb += [self.w_addr.eq(row_base + k), self.w_en.eq(1)]
                    m.d.sync += k.eq(k + 1)
                # The signals are read a cycle before the weight word arrives.
                if len(in_flight) == 1:
                    m.d.comb += [sig_r.addr.eq(k), sig_r.en.eq(reading)]
                else:
                    m.d.comb += [sig_r.addr.eq(in_flight_k[-2]), sig_r.en.eq(in_flight[-2])]
                m.d.sync += [in_flight[0].eq(reading), in_flight_k[0].eq(k)]
                m.d.sync += [in_flight[n].eq(in_flight[n - 1]) for n in range(1, len(in_flight))]
                m.d.sync += [in_flight_k[n].eq(in_flight_k[n - 1])
                             for n in range(1, len(in_flight))]
                m.d.sync += [
                    taken.eq(arriving), taken_k.eq(arriving_k),
                    sized.eq(taken), sized_k.eq(taken_k),
                    multiplied.eq(sized), multiplied_k.eq(sized_k),
                    stepped.eq(multiplied), stepped_k.eq(multiplied_k),
                    pending.eq(stepped), pending_k.eq(stepped_k),
                    pending_word.eq(new_word), pending_changed.eq(changed),
                ]
                idle = ~Cat(*in_flight, taken, sized, multiplied, stepped).any()
                with m.If((k == words_per_row[layer]) & idle):
                    m.next = "NEXT_ROW"
            with m.State("NEXT_ROW"):
                m.d.sync += [
                    row.eq(row + 1),
                    row_base.eq(row_base + words_per_row[layer]),
                ]
                with m.If(row_lane == lanes - 1):
                    m.d.sync += [row_lane.eq(0), row_word.eq(row_word + 1)]
                with m.Else():
                    m.d.sync += row_lane.eq(row_lane + 1)
                with m.If(row == last_row[layer]):
                    with m.If(layer == 0):
                        m.d.comb += self.inputs_cleared.eq(1)
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += layer.eq(layer - 1)
                        m.next = "HIDDEN_SIGNALS_START"
                with m.Else():
                    m.next = "ROW"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m
