"""Shapes shared by the blocks of the learning core, all derived from one config."""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.utils import ceil_log2


__all__ = ["Shapes", "spike_layout"]


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
        self.neuron_addr = unsigned(max(1, ceil_log2(layout.neuron_depth)))
        # Output error |e| ≤ T; feedback δ = Σ of k_fb errors.
        self.error = signed(config.count_bits + 1)
        self.signal = signed((config.k_fb * config.timesteps).bit_length() + 1)
        self.signal_word = data.ArrayLayout(self.signal, lanes)
        self.spike_list_entry = data.StructLayout({
            "word": unsigned(max(1, ceil_log2(layout.max_layer_words))),
            "bits": lanes,
        })
