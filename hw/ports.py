"""Shapes shared by the blocks of the learning core, all derived from one config."""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spikefab.config import MAX_LR_SHIFT
from spikefab.cost import sample_counter_bits
from spikefab.hw.weight_port import WeightPort


__all__ = ["Shapes", "spike_layout", "host_signature", "COUNTER_BITS", "SAMPLE_COUNT_BITS",
           "SHIFT_BITS", "ES_OP_SAMPLE", "ES_OP_FACTORS", "ES_OP_UPDATE"]

#: ``host.es_op`` (chips with ``es_on_chip``): what ``start`` runs.
ES_OP_SAMPLE, ES_OP_FACTORS, ES_OP_UPDATE = 0, 1, 2

#: Totals since ``clear_counters``: 48 bits last 32 days of cycles at 100 MHz; the sample
#: count's 40 bits, 17 years at 2,000 samples/s. The wire carries each as u64.
COUNTER_BITS = 48
SAMPLE_COUNT_BITS = 40
#: Width of a learning-rate shift register: enough for the largest shift.
SHIFT_BITS = MAX_LR_SHIFT.bit_length()


def spike_layout(config):
    """Payload of a spike stream: a presynaptic index, or the ``end`` of a timestep."""
    return data.StructLayout({
        "index": unsigned(ceil_log2(max(config.layer_sizes[:-1]) + 1)),
        "end": 1,
    })


class Shapes:
    """Widths of every memory word and address of the core.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    """

    def __init__(self, config, layout):
        lanes = layout.lanes
        self.count = unsigned(config.count_bits)
        self.weight = signed(config.w_bits)
        self.weight_word = data.ArrayLayout(self.weight, lanes)
        self.weight_addr = unsigned(max(1, ceil_log2(layout.weight_depth)))
        # The synaptic input of one timestep fits v_bits + 1 bits (Config checks it).
        self.acc_word = data.ArrayLayout(signed(config.v_bits + 1), lanes)
        self.acc_addr = unsigned(max(1, ceil_log2(layout.max_layer_words)))
        self.neuron = data.StructLayout({
            "v": signed(config.v_bits),
            "count": self.count,
        })
        self.neuron_word = data.ArrayLayout(self.neuron, lanes)
        self.count_word = data.ArrayLayout(self.count, lanes)
        self.neuron_addr = unsigned(max(1, ceil_log2(layout.neuron_depth)))
        # Output error |e| ≤ T; feedback δ = Σ of k_fb errors.
        self.error = signed(config.count_bits + 1)
        self.signal = signed((config.k_fb * config.timesteps).bit_length() + 1)
        self.signal_word = data.ArrayLayout(self.signal, lanes)
        self.spike_list_entry = data.StructLayout({
            "word": unsigned(max(1, ceil_log2(layout.max_layer_words))),
            "bits": lanes,
        })


def host_signature(config, shapes, buffer_depth, weight_latency):
    """What the host side (the command bridge) drives on the learning core, seen from the
    bridge: ``Out`` members are requests and registers, ``In`` members are results.

    A sample: ``start`` with ``train``, ``events``, ``label`` and the sample's place in the
    input buffer; ``done`` with ``error``, ``prediction`` and ``counts``. Run-time
    registers ``lr_shift`` (per layer) and ``margin``; ``reseed`` reloads the rounding
    generator (stochastic rounding) while idle. While idle, the weight memory
    (``weights``) and the input buffer (``buf_r*``). Counters since ``clear_counters``, and the
    same figures of the last sample.
    """
    n_layers = len(config.weight_shapes)
    es = {}
    if config.es_on_chip:
        from spikefab.hw.es_fitness import fitness_bits
        es = {
            # What a start runs: a sample, or the ES factors or update (ES_OPS).
            "es_op": Out(2),
            "member": Out(range(config.es_population)),
            "perturb": Out(1),          # the sample runs member `member`
            "first": Out(1),            # … and starts its error energy from 0
            "energy": In(fitness_bits(config)),
        }
    return wiring.Signature({
        **es,
        "start": Out(1), "train": Out(1), "events": Out(1),
        "label": Out(range(config.n_out)),
        "data_offset": Out(range(buffer_depth)),
        "data_length": Out(range(buffer_depth + 1)),
        "done": In(1), "error": In(1),
        "prediction": In(range(config.n_out)),
        "counts": In(data.ArrayLayout(shapes.count, config.n_out)),
        "lr_shift": Out(data.ArrayLayout(SHIFT_BITS, n_layers), init=list(config.lr_shifts)),
        "margin": Out(range(config.timesteps + 1), init=config.margin),
        "reseed": Out(1),
        "weights": Out(WeightPort.Signature(shapes, read_latency=weight_latency)),
        "buf_raddr": Out(range(buffer_depth)), "buf_rdata": In(8),
        "clear_counters": Out(1),
        "cycles": In(COUNTER_BITS), "sops": In(COUNTER_BITS), "writes": In(COUNTER_BITS),
        "samples": In(SAMPLE_COUNT_BITS),
        # The last sample's figures, as wide as their worst case (spikefab.cost).
        **{f"sample_{name}": In(bits)
           for name, bits in sample_counter_bits(config, weight_latency).items()},
    })
