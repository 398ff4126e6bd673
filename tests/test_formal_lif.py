"""Formal properties of :class:`~spikefab.hw.lif.LIFLane`: for every membrane ``v`` and
current of their widths, ``spike`` and ``v_next`` (one cycle later) are what
:func:`spikefab.golden.lif.lif_step` gives, restated below on wide signed values:
leak ``v - (v >> leak_shift)``, exact add, saturate to ``[v_min, v_max]``, fire at
``u ≥ threshold``, reset by subtraction or to 0.

The port's width already keeps ``v_next`` within ``[v_min, v_max]``; equality with the
rule is what shows it is the saturated value and not a wrapped one. The lane's only
state is its pipeline register, so k-induction proves this for every input sequence.
A cover shows that the lane can spike.
"""

import pytest
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Cover, Elaboratable, Module, Mux, Signal, signed

from spikefab.hw.lif import LIFLane

from conftest import small_config
from formal_support import prove


class LaneSpec(Elaboratable):
    def __init__(self, config):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        c = self.config
        m.submodules.dut = dut = LIFLane(c)
        m.d.comb += [dut.v.eq(AnySeq(dut.v.shape())),
                     dut.current.eq(AnySeq(dut.current.shape()))]
        v, current = Signal.like(dut.v), Signal.like(dut.current)
        m.d.sync += [v.eq(dut.v), current.eq(dut.current)]

        u = Signal(signed(c.v_bits + 4))
        m.d.comb += u.eq(v - (v >> c.leak_shift) + current)
        clipped = Mux(u > c.v_max, c.v_max, Mux(u < c.v_min, c.v_min, u))
        spike = clipped >= c.threshold
        reset = 0 if c.reset == "zero" else clipped - c.threshold
        m.d.comb += [Assert(dut.spike == spike),
                     Assert(dut.v_next == Mux(spike, reset, clipped)),
                     Cover(dut.spike)]
        return m


CONFIGS = {
    "subtract, threshold 1, strongest leak":
        small_config(v_bits=12, reset="subtract", threshold=1, leak_shift=1),
    "zero, threshold v_max, weakest leak":
        small_config(v_bits=12, reset="zero", threshold=2**11 - 1, leak_shift=11),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_lane_follows_golden_rule_and_saturates(config, tmp_path):
    prove(LaneSpec(config), tmp_path, mode="prove", depth=2)


def test_lane_can_spike(tmp_path):
    prove(LaneSpec(small_config()), tmp_path, mode="cover", depth=3)
