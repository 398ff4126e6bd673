"""The learning core: forward pass, readout and on-chip sparse-DFA learning of one sample.

One :class:`~spikefab.config.Config` fixes everything; the memories are laid out as
:class:`~spikefab.layout.Layout` says, and the weights start as golden's initialisation.

Pipeline of a sample (``start``; the input sits in the input buffer)
-------------------------------------------------------------------
For each timestep ``t`` and each weight layer ``l``:

1. **Synapse phase** — the spike source (the pixel encoder or event reader for ``l = 0``,
   the spike list of layer ``l - 1`` otherwise) feeds the :class:`~hw.synapse.SynapseEngine`,
   which adds one weight row per spike into the accumulators: ``words_per_row`` cycles
   per spike, no bubbles between rows, ``L + 2`` to drain (``L`` the weight memory's
   read latency).
2. **Neuron phase** — :class:`~hw.lif.LIFArray` updates the layer's neurons, ``P`` per
   cycle, and writes the spike list of the next layer: ``words + 5`` cycles.

Then the :class:`~hw.learning.UpdateUnit` reads out the output counts and the prediction
and, for a training sample outside the margin, updates every layer: a cycle per word read,
one more per word written, a few per presynaptic row.

The weight memory has a single port, shared in turn by the synapse engine, the update
unit and (while idle) the host. A malformed sample (bad pixel or event) stops after the
synapse phase that found it: the accumulators are cleared, ``error`` is raised, and no
weight is touched.

Counters: busy cycles, synaptic operations (``fan_out`` per presynaptic spike, as
golden), weight writes and samples, all since ``clear_counters``; and the same three
figures of the last sample.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikefab.golden.network import init_weights
from spikefab.hw.encoder import EventReader, PixelEncoder, WidePixelEncoder
from spikefab.hw.es_unit import ESUnit
from spikefab.hw.learning import UpdateUnit
from spikefab.hw.lif import LIFArray
from spikefab.hw.memory import WeightMemory
from spikefab.hw.counters import Counters
from spikefab.hw.ports import (COUNTER_BITS, ES_OP_FACTORS, ES_OP_UPDATE, Shapes,
                               host_signature, spike_layout)
from spikefab.hw.skid import SkidBuffer
from spikefab.hw.spikes import SpikeListReader
from spikefab.hw.synapse import SynapseEngine
from spikefab.hw.weight_port import WeightArbiter
from spikefab.layout import Layout


__all__ = ["LearningCore", "COUNTER_BITS"]



def default_buffer_depth(config):
    """Input buffer bytes: a pixel sample (or with ``es_on_chip`` the pair seeds) with
    headroom, at least 1 KiB, a power of two."""
    need = max(1024, config.n_in + 64)
    if config.es_on_chip:
        need = max(need, 4 * (config.es_population // 2) + 64)
    return 1 << (need - 1).bit_length()


class LearningCore(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    buffer_depth : int, optional
        Bytes of the input buffer (pixels or events of one sample, or a host frame).
    weights : list of arrays, optional
        Initial weights; golden's initialisation by default.
    weight_latency : int
        The weight memory's read latency (:class:`~hw.memory.WeightMemory`): 2, or 3 for
        FPGAs whose block RAMs need a register behind them to reach their clock.
    """

    def __init__(self, config, *, buffer_depth=None, weights=None, weight_latency=2):
        self.config = config
        self.layout = layout = Layout(config)
        self.shapes = shapes = Shapes(config, layout)
        self.buffer_depth = buffer_depth or default_buffer_depth(config)
        if weights is None:
            weights = init_weights(config)
        init_words = [[int(v) for v in word] for word in layout.pack_weights(weights)]
        self.weight_memory = WeightMemory(shapes, layout.weight_depth, init_words,
                                          read_latency=weight_latency)
        # The ES units (es_on_chip): factor memories, fitness, update.
        self.es_unit = ESUnit(config, layout, shapes, self.buffer_depth,
                              weight_latency=weight_latency) if config.es_on_chip else None
        self._memory_ports = []
        self._port_owners = []
        buf = self.buffer_depth
        super().__init__({
            "host": In(host_signature(config, shapes, buf, weight_latency)),
            "busy": Out(1),
            "skipped": Out(1),
            # The frame receiver fills the input buffer.
            "buf_waddr": In(range(buf)),
            "buf_wdata": In(8),
            "buf_we": In(1),
        })

    @property
    def memory_ports(self):
        """``(name, read port, write port)`` of every memory with both, once elaborated.

        No memory is ever read at the address it is written in the same cycle (see
        :data:`~hw.memory.COLLISION_FREE`); tests watch these ports to prove it.
        """
        ports = list(self._memory_ports)
        for block in self._port_owners:
            ports += block.memory_ports
        return ports

    def elaborate(self, platform):
        m = Module()
        config, layout, shapes = self.config, self.layout, self.shapes
        n_layers = len(config.weight_shapes)
        last_layer = n_layers - 1

        m.submodules.weights = weights = self.weight_memory
        ports = self._memories(m)

        # -- blocks ----------------------------------------------------------------------
        if layout.pixels_per_cycle > 1:
            pixels = WidePixelEncoder(config, self.buffer_depth, layout.pixels_per_cycle)
        else:
            pixels = PixelEncoder(config, self.buffer_depth)
        m.submodules.pixels = pixels
        m.submodules.events = events = EventReader(config, self.buffer_depth)
        m.submodules.spike_list_reader = reader = SpikeListReader(config, layout, shapes)
        latency = self.weight_memory.read_latency
        es = config.es_on_chip
        m.submodules.synapses = engine = SynapseEngine(config, layout, shapes,
                                                       weight_latency=latency, es=es)
        m.submodules.neuron_array = lif = LIFArray(config, layout, shapes)
        m.submodules.update = update = UpdateUnit(config, layout, shapes,
                                                  weight_latency=latency)
        # The weight port, in turn: the engine, the update unit, the host (while idle),
        # the ES update.
        m.submodules.weight_arbiter = arbiter = WeightArbiter(weights.signature.flip(),
                                                              4 if es else 3)
        wiring.connect(m, arbiter.memory, weights)
        wiring.connect(m, engine.weights, arbiter.clients[0])
        wiring.connect(m, update.weights, arbiter.clients[1])
        wiring.connect(m, wiring.flipped(self.host.weights), arbiter.clients[2])
        self._port_owners = [weights, pixels, update]
        es_unit = None
        if es:
            m.submodules.es = es_unit = self.es_unit
            wiring.connect(m, es_unit.weights, arbiter.clients[3])
            self._port_owners.append(es_unit)

        t = Signal(range(config.timesteps))
        layer = Signal(range(n_layers))
        train = Signal()
        event_mode = Signal()
        counting = Signal()         # input counts are being (or were) accumulated
        clear_addr = Signal(range(max(config.n_in, layout.max_layer_words) + 1))
        # Whose turn it is at the memories (see _route_ports).
        phases = SimpleNamespace(**{name: Signal(name=f"phase_{name}") for name in
                                    ("syn", "neu", "upd", "clear_inputs", "clear_acc",
                                     "es")})
        perturb = Signal()          # the sample runs an ES member
        es_request = Signal()       # the run is an ES request, not a sample

        m.d.comb += [
            engine.layer.eq(layer), lif.layer.eq(layer),
            lif.first.eq(t == 0), lif.emit.eq(layer != last_layer),
            engine.count_inputs.eq(train & (layer == 0)),
            reader.length.eq(lif.list_length),
            pixels.offset.eq(self.host.data_offset), pixels.first.eq(t == 0),
            events.offset.eq(self.host.data_offset), events.length.eq(self.host.data_length),
            update.train.eq(train), update.label.eq(self.host.label),
            update.lr_shift.eq(self.host.lr_shift), update.margin.eq(self.host.margin),
            update.reseed.eq(self.host.reseed & ~self.busy),
            self.host.prediction.eq(update.prediction), self.host.counts.eq(update.counts),
            self.skipped.eq(update.skipped),
        ]

        # Spike stream into the engine: the input source for layer 0, else the list,
        # through a register stage (the sources read block RAM; the engine multiplies).
        m.submodules.spike_stage = stage = SkidBuffer(spike_layout(config))
        wiring.connect(m, stage.o, engine.spikes)
        sources = [(pixels.spikes, ~event_mode & (layer == 0)),
                   (events.spikes, event_mode & (layer == 0)),
                   (reader.spikes, layer != 0)]
        if self.layout.wide:
            # Wide configs: the pixel encoder sees the stage's ready whatever the layer
            # (it only offers spikes in layer 0), so that the layer's choice does not
            # stand before its stall and the buffer banks' read enable (mnist-deep:
            # layer → ready → hold → a bank RAM's CEB across the die, 96.7 MHz).
            m.d.comb += pixels.spikes.ready.eq(stage.i.ready)
        for source, selected in sources:
            with m.If(selected):
                m.d.comb += [
                    stage.i.valid.eq(source.valid),
                    stage.i.payload.eq(source.payload),
                    source.ready.eq(stage.i.ready),
                ]

        if es:
            self._connect_es(m, es_unit, engine, update, perturb)
        blocks = SimpleNamespace(pixels=pixels, events=events, engine=engine, lif=lif,
                                 update=update, reader=reader, arbiter=arbiter, es=es_unit)
        self._route_ports(m, ports, blocks, phases, event_mode=event_mode,
                          clear_addr=clear_addr)

        # -- controller ------------------------------------------------------------------
        self._control(m, SimpleNamespace(
            t=t, layer=layer, train=train, event_mode=event_mode, counting=counting,
            clear_addr=clear_addr, phases=phases, perturb=perturb, es_request=es_request,
            last_layer=last_layer, **vars(blocks)))

        self._count(m, engine, update, es_unit, phases, es_request)
        return m

    def _control(self, m, ns):
        """The controller: a sample's timesteps × layers, its update, or an ES request;
        whose phase it is (``ns.phases``) follows its state."""
        config, layout = self.config, self.layout
        t, layer, train, event_mode = ns.t, ns.layer, ns.train, ns.event_mode
        counting, clear_addr, phases = ns.counting, ns.clear_addr, ns.phases
        perturb, es_request, last_layer = ns.perturb, ns.es_request, ns.last_layer
        pixels, events, reader, engine = ns.pixels, ns.events, ns.reader, ns.engine
        lif, update, es_unit = ns.lif, ns.update, ns.es
        es = es_unit is not None
        running = self.busy
        source_error = Mux(event_mode, events.error, pixels.error)
        with m.FSM() as controller:
            with m.State("IDLE"):
                with m.If(self.host.start):
                    m.d.sync += [
                        train.eq(self.host.train), event_mode.eq(self.host.events),
                        t.eq(0), layer.eq(0), clear_addr.eq(0), self.host.error.eq(0),
                        es_request.eq(0), perturb.eq(0),
                    ]
                    m.d.comb += [pixels.reload.eq(1), events.reload.eq(1)]
                    with m.If(self.host.train & counting):
                        m.next = "CLEAR_INPUTS"
                    with m.Else():
                        m.next = "SOURCE"
                    if es:
                        self._start_es(m, es_unit, perturb, es_request)
            with m.State("CLEAR_INPUTS"):
                # Counts left by a sample that skipped its update (or was abandoned).
                m.d.comb += phases.clear_inputs.eq(1)
                m.d.sync += clear_addr.eq(clear_addr + 1)
                with m.If(clear_addr == config.n_in - 1):
                    m.d.sync += counting.eq(0)
                    m.next = "SOURCE"
            with m.State("SOURCE"):
                with m.If(layer == 0):
                    m.d.comb += [pixels.start.eq(~event_mode), events.start.eq(event_mode)]
                    with m.If(train):
                        m.d.sync += counting.eq(1)
                with m.Else():
                    m.d.comb += reader.start.eq(1)
                m.next = "SYNAPSES"
            with m.State("SYNAPSES"):
                m.d.comb += phases.syn.eq(1)
                with m.If(engine.done):
                    with m.If((layer == 0) & source_error):
                        m.d.sync += clear_addr.eq(0)
                        m.next = "ABANDON"
                    with m.Else():
                        m.d.comb += lif.start.eq(1)
                        m.next = "NEURONS"
            with m.State("NEURONS"):
                m.d.comb += phases.neu.eq(1)
                with m.If(lif.done):
                    with m.If(layer != last_layer):
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "SOURCE"
                    with m.Elif(t != config.timesteps - 1):
                        m.d.sync += [layer.eq(0), t.eq(t + 1)]
                        m.next = "SOURCE"
                    with m.Elif(event_mode & ~events.at_end):
                        m.d.sync += self.host.error.eq(1)   # trailing event data
                        m.next = "FINISH"
                    with m.Else():
                        m.d.comb += update.start.eq(1)
                        m.next = "UPDATE"
            with m.State("UPDATE"):
                m.d.comb += phases.upd.eq(1)
                with m.If(update.inputs_cleared):
                    m.d.sync += counting.eq(0)
                with m.If(update.done):
                    m.next = "FINISH"
                    if es:
                        # A member's sample adds its error to the member's energy.
                        with m.If(perturb):
                            m.d.comb += es_unit.fitness_add.eq(1)
                            m.next = "FITNESS"
            if es:
                with m.State("FITNESS"):
                    with m.If(~es_unit.fitness_busy):
                        m.next = "FINISH"
                with m.State("ES"):
                    m.d.comb += phases.es.eq(1)
                    with m.If(es_unit.done):
                        m.d.sync += self.host.error.eq(es_unit.refused)
                        m.next = "FINISH"
            with m.State("ABANDON"):
                m.d.comb += phases.clear_acc.eq(1)
                m.d.sync += clear_addr.eq(clear_addr + 1)
                with m.If(clear_addr == layout.max_layer_words - 1):
                    m.d.sync += self.host.error.eq(1)
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.host.done.eq(1)
                m.next = "IDLE"
        m.d.comb += running.eq(~controller.ongoing("IDLE"))

    def _start_es(self, m, es_unit, perturb, es_request):
        """IDLE's ``start`` with ES: an ES request instead of a sample, or a member's
        sample (its energy cleared on its first)."""
        host = self.host
        with m.Switch(host.es_op):
            with m.Case(ES_OP_FACTORS):
                m.d.comb += es_unit.factors_start.eq(1)
                m.d.sync += es_request.eq(1)
                m.next = "ES"
            with m.Case(ES_OP_UPDATE):
                m.d.comb += es_unit.update_start.eq(1)
                m.d.sync += es_request.eq(1)
                m.next = "ES"
            with m.Default():
                m.d.sync += perturb.eq(host.perturb)
                m.d.comb += es_unit.fitness_clear.eq(host.perturb & host.first)

    def _connect_es(self, m, es_unit, engine, update, perturb):
        """The ES unit's connections to the engine, the update unit and the host."""
        host = self.host
        m.d.comb += [
            engine.perturb.eq(perturb), engine.negative.eq(es_unit.negative),
            engine.a_base.eq(es_unit.a_base), engine.b_base.eq(es_unit.b_base),
            es_unit.engine_a_raddr.eq(engine.a_raddr), es_unit.engine_a_ren.eq(engine.a_ren),
            es_unit.engine_b_raddr.eq(engine.b_raddr), es_unit.engine_b_ren.eq(engine.b_ren),
            engine.a_rdata.eq(es_unit.a_rdata), engine.b_rdata.eq(es_unit.b_rdata),
            es_unit.member.eq(host.member), es_unit.error.eq(update.error),
            es_unit.label.eq(host.label), es_unit.margin.eq(host.margin),
            es_unit.lr_shift.eq(host.lr_shift), es_unit.row_dither.eq(update.row_dither),
            update.extra_draw.eq(es_unit.draw), host.energy.eq(es_unit.energy),
            es_unit.data_offset.eq(host.data_offset),
        ]

    def _memories(self, m):
        """The core's memories but the weights: their ports, read and write in pairs."""
        config, layout, shapes = self.config, self.layout, self.shapes
        m.submodules.acc = acc_mem = Memory(shape=shapes.acc_word,
                                            depth=layout.max_layer_words, init=[])
        acc_w = acc_mem.write_port()
        acc_r = acc_mem.read_port()
        m.submodules.neurons = neuron_mem = Memory(shape=shapes.neuron_word,
                                                   depth=layout.neuron_depth, init=[])
        n_r = neuron_mem.read_port()
        n_w = neuron_mem.write_port()
        m.submodules.input_counts = cnt_mem = Memory(shape=shapes.count, depth=config.n_in,
                                                     init=[])
        cnt_r = cnt_mem.read_port()
        cnt_w = cnt_mem.write_port()
        self._update_copies = None
        if layout.wide:
            # Wide configs: the update unit reads the spike counts, its layers' and the
            # input's, from copies of its own, written with the memories they copy. One
            # reader per memory leaves no choice of address in front of the 16-lane
            # neuron memory, LUT RAM spread over the ECP5 die (with the LIF array's and
            # the update unit's addresses chosen between, mnist-wide stopped at 87 MHz),
            # and lets each input-count RAM sit beside its reader (one RAM between the
            # synapse engine and the update unit: 4.9 ns of route, mnist-deep 87.7 MHz).
            m.submodules.neuron_counts = copy = Memory(
                shape=shapes.count_word, depth=layout.neuron_depth, init=[])
            m.submodules.input_counts_update = in_copy = Memory(
                shape=shapes.count, depth=config.n_in, init=[])
            self._update_copies = SimpleNamespace(
                neuron_r=copy.read_port(), neuron_w=copy.write_port(),
                input_r=in_copy.read_port(), input_w=in_copy.write_port())
        m.submodules.spike_list = list_mem = Memory(shape=shapes.spike_list_entry,
                                                    depth=layout.max_layer_words, init=[])
        list_r = list_mem.read_port()
        list_w = list_mem.write_port()
        m.submodules.buffer = buf_mem = Memory(shape=8, depth=self.buffer_depth, init=[])
        buf_r = buf_mem.read_port()
        buf_w = buf_mem.write_port()
        n_banks = layout.pixels_per_cycle
        self._buffer_banks = []
        if n_banks > 1:
            # Wide: a copy of the buffer in banks, from which the wide pixel encoder
            # reads a byte of every bank a cycle (the host and the event reader keep the
            # byte-wide buffer: no bank choice behind a RAM on their paths).
            for b in range(n_banks):
                m.submodules[f"buffer_b{b}"] = bank = Memory(
                    shape=8, depth=self.buffer_depth // n_banks, init=[])
                self._buffer_banks.append((f"buffer_b{b}", bank.read_port(),
                                           bank.write_port()))

        copies = self._update_copies
        self._memory_ports = [("acc", acc_r, acc_w), ("neurons", n_r, n_w),
                              ("input_counts", cnt_r, cnt_w), ("spike_list", list_r, list_w),
                              ("buffer", buf_r, buf_w), *self._buffer_banks]
        if copies is not None:
            self._memory_ports += [("neuron_counts", copies.neuron_r, copies.neuron_w),
                                   ("input_counts_update", copies.input_r, copies.input_w)]

        return acc_r, acc_w, n_r, n_w, cnt_r, cnt_w, list_r, list_w, buf_r, buf_w

    def _route_ports(self, m, ports, blocks, phases, *, event_mode, clear_addr):
        """Give each memory port to the block whose phase it is."""
        acc_r, acc_w, n_r, n_w, cnt_r, cnt_w, list_r, list_w, buf_r, buf_w = ports
        pixels, events, engine, lif = blocks.pixels, blocks.events, blocks.engine, blocks.lif
        update, reader, arbiter = blocks.update, blocks.reader, blocks.arbiter
        running = self.busy
        # Wide configs: the update unit reads the spike counts from copies of its own.
        copied = self._update_copies is not None
        update_n_rdata = [] if copied else [update.n_rdata.eq(n_r.data)]
        update_cnt_rdata = [] if copied else [update.cnt_rdata.eq(cnt_r.data)]
        update_reads = [] if copied else [n_r.addr.eq(update.n_raddr), n_r.en.eq(1),
                                          cnt_r.addr.eq(update.cnt_raddr),
                                          cnt_r.en.eq(update.cnt_ren)]
        if self._buffer_banks:
            self._route_banks(m, self._buffer_banks, pixels, event_mode)
            pixel_raddr, pixel_ren, pixel_rdata = 0, 0, []
        else:
            pixel_raddr, pixel_ren = pixels.buf_raddr, pixels.buf_ren
            pixel_rdata = [pixels.buf_rdata.eq(buf_r.data)]
        source_raddr = Mux(event_mode, events.buf_raddr, pixel_raddr)
        source_ren = event_mode | pixel_ren
        if blocks.es is not None:
            # The ES requests read their seeds or signals; they run while no source does.
            m.d.comb += blocks.es.buf_rdata.eq(buf_r.data)
            source_raddr = Mux(phases.es, blocks.es.buf_raddr, source_raddr)
            source_ren = phases.es | source_ren
        m.d.comb += [
            buf_w.addr.eq(self.buf_waddr), buf_w.data.eq(self.buf_wdata),
            buf_w.en.eq(self.buf_we & ~running),
            buf_r.addr.eq(Mux(running, source_raddr, self.host.buf_raddr)),
            # The pixel encoder holds the buffer's output while its pipeline stalls; the
            # host's port rests while the receiver writes.
            buf_r.en.eq(Mux(running, source_ren, ~self.buf_we)),
            *pixel_rdata, events.buf_rdata.eq(buf_r.data),
            self.host.buf_rdata.eq(buf_r.data),
            engine.acc_rdata.eq(acc_r.data), lif.acc_rdata.eq(acc_r.data),
            lif.n_rdata.eq(n_r.data), *update_n_rdata,
            engine.cnt_rdata.eq(cnt_r.data), *update_cnt_rdata,
            list_r.addr.eq(reader.list_raddr), reader.list_rdata.eq(list_r.data),
            list_w.addr.eq(lif.list_waddr), list_w.data.eq(lif.list_wdata),
            list_w.en.eq(lif.list_we),
            n_w.addr.eq(lif.n_waddr), n_w.data.eq(lif.n_wdata), n_w.en.eq(lif.n_we),
        ]
        # Every read port is enabled only when its data is used, so that none is read
        # where it is written in the same cycle (see hw.memory.COLLISION_FREE).
        m.d.comb += [acc_r.en.eq(0), n_r.en.eq(0), cnt_r.en.eq(0),
                     list_r.en.eq(phases.syn)]
        with m.If(phases.syn):
            m.d.comb += [
                arbiter.grant.eq(0b001),
                acc_r.addr.eq(engine.acc_raddr), acc_r.en.eq(engine.acc_ren),
                cnt_r.en.eq(engine.cnt_ren),
                acc_w.addr.eq(engine.acc_waddr), acc_w.data.eq(engine.acc_wdata),
                acc_w.en.eq(engine.acc_we),
                cnt_r.addr.eq(engine.cnt_raddr),
                cnt_w.addr.eq(engine.cnt_waddr), cnt_w.data.eq(engine.cnt_wdata),
                cnt_w.en.eq(engine.cnt_we),
            ]
        with m.Elif(phases.neu):
            m.d.comb += [
                acc_r.addr.eq(lif.acc_raddr), acc_r.en.eq(lif.ren), n_r.en.eq(lif.ren),
                acc_w.addr.eq(lif.acc_waddr), acc_w.data.eq(lif.acc_wdata),
                acc_w.en.eq(lif.acc_we),
                n_r.addr.eq(lif.n_raddr),
            ]
        with m.Elif(phases.upd):
            m.d.comb += [
                arbiter.grant.eq(0b010),
                *update_reads,
                cnt_w.addr.eq(update.cnt_waddr), cnt_w.data.eq(0), cnt_w.en.eq(update.cnt_we),
            ]
        with m.Elif(phases.clear_inputs):
            m.d.comb += [cnt_w.addr.eq(clear_addr), cnt_w.data.eq(0), cnt_w.en.eq(1)]
        with m.Elif(phases.clear_acc):
            m.d.comb += [acc_w.addr.eq(clear_addr), acc_w.data.eq(0), acc_w.en.eq(1)]
        with m.Elif(phases.es):
            m.d.comb += arbiter.grant.eq(0b1000)
        with m.Elif(~running):
            m.d.comb += arbiter.grant.eq(0b100)
        if copied:
            self._route_update_copies(m, n_r, cnt_w, lif, update, phases)

    def _route_update_copies(self, m, n_r, cnt_w, lif, update, phases):
        """The update unit's copies of the spike counts (wide configs): written with the
        neuron memory and the input counts, read by the update unit in its phase (its
        neuron words' membranes are left 0: it reads counts only). The neuron memory's
        address is then the LIF array's, with no phase gate in front of the RAM."""
        copies = self._update_copies
        lanes = range(self.layout.lanes)
        m.d.comb += [
            n_r.addr.eq(lif.n_raddr),
            copies.neuron_w.addr.eq(lif.n_waddr), copies.neuron_w.en.eq(lif.n_we),
            *(copies.neuron_w.data[lane].eq(lif.n_wdata[lane].count) for lane in lanes),
            copies.neuron_r.addr.eq(update.n_raddr), copies.neuron_r.en.eq(phases.upd),
            *(update.n_rdata[lane].count.eq(copies.neuron_r.data[lane]) for lane in lanes),
            copies.input_w.addr.eq(cnt_w.addr), copies.input_w.data.eq(cnt_w.data),
            copies.input_w.en.eq(cnt_w.en),
            copies.input_r.addr.eq(update.cnt_raddr),
            copies.input_r.en.eq(phases.upd & update.cnt_ren),
            update.cnt_rdata.eq(copies.input_r.data),
        ]

    def _route_banks(self, m, banks, pixels, event_mode):
        """The buffer's copy in banks (wide configs): byte ``a`` in bank ``a mod n`` at
        row ``a // n``, written with the buffer; the wide pixel encoder reads every bank
        at its own row."""
        running = self.busy
        low = len(banks).bit_length() - 1
        for b, (_, read, write) in enumerate(banks):
            m.d.comb += [
                write.addr.eq(self.buf_waddr[low:]), write.data.eq(self.buf_wdata),
                write.en.eq(self.buf_we & ~running & (self.buf_waddr[:low] == b)),
                read.addr.eq(pixels.bank_raddr[b]),
                # The pixel encoder holds the banks' outputs while its pipeline stalls.
                read.en.eq(running & ~event_mode & pixels.buf_ren),
                pixels.bank_rdata[b].eq(read.data),
            ]

    def _count(self, m, engine, update, es_unit, phases, es_request):
        """The host's counters, from the blocks' events (an ES request is no sample)."""
        m.submodules.counters = counters = Counters(self.config, self.weight_memory.read_latency)
        host = self.host
        writes = update.writes
        if es_unit is not None:
            writes = Mux(phases.es, es_unit.writes, update.writes)
        m.d.comb += [
            counters.busy.eq(self.busy), counters.sops.eq(engine.sops),
            counters.writes.eq(writes),
            counters.sample_done.eq(host.done & ~host.error & ~es_request),
            counters.clear.eq(host.clear_counters),
            counters.sample_start.eq(host.start & ~self.busy),
            host.cycles.eq(counters.cycles), host.sops.eq(counters.sops_total),
            host.writes.eq(counters.writes_total), host.samples.eq(counters.samples),
            host.sample_cycles.eq(counters.sample_cycles),
            host.sample_sops.eq(counters.sample_sops),
            host.sample_writes.eq(counters.sample_writes),
        ]
