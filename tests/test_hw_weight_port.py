"""The weight port's arbiter: the granted client's request, and only it, reaches the
memory; every client sees the read data. And the pipeline delay line it relies on."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from spikefab.hw.pipeline import delay_line, tag_layout
from spikefab.hw.ports import Shapes
from spikefab.hw.weight_port import WeightArbiter, WeightPort
from spikefab.layout import Layout

from conftest import small_config
from hw_support import simulate


def port_signature(lanes=2, latency=2):
    config = small_config(lanes=lanes, w_bits=6)
    return WeightPort.Signature(Shapes(config, Layout(config)), read_latency=latency)


request = st.fixed_dictionaries({"addr": st.integers(0, 7), "en": st.booleans(),
                                 "we": st.booleans(),
                                 "wdata": st.lists(st.integers(-32, 31), min_size=2,
                                                   max_size=2)})


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(request, min_size=3, max_size=3),
                          st.sampled_from([0, 1, 2, None]),
                          st.lists(st.integers(-32, 31), min_size=2, max_size=2)),
                min_size=1, max_size=10))
def test_arbiter_passes_the_granted_request(cycles):
    dut = WeightArbiter(port_signature(), 3)

    async def testbench(ctx):
        for requests, granted, rdata in cycles:
            for client, req in zip(dut.clients, requests):
                for name, value in req.items():
                    ctx.set(getattr(client, name), value)
            ctx.set(dut.grant, 0 if granted is None else 1 << granted)
            ctx.set(dut.memory.rdata, rdata)
            expected = requests[granted] if granted is not None else \
                {"addr": 0, "en": False, "we": False, "wdata": [0, 0]}
            got = {"addr": ctx.get(dut.memory.addr), "en": bool(ctx.get(dut.memory.en)),
                   "we": bool(ctx.get(dut.memory.we)),
                   "wdata": [int(v) for v in ctx.get(dut.memory.wdata)]}
            assert got == expected, f"WeightArbiter grant {granted}: {got} != {expected}"
            for client in dut.clients:
                assert [int(v) for v in ctx.get(client.rdata)] == rdata, \
                    "WeightArbiter: a client does not see the read data"
            await ctx.delay(1e-6)

    sim = Simulator(dut)            # combinational: no clock
    sim.add_testbench(testbench)
    sim.run()


def test_clients_connect_to_the_arbiter_and_memory_side():
    sig = port_signature(latency=3)
    assert sig.read_latency == 3
    assert sig == port_signature(latency=3) and sig != port_signature(latency=2)

    class Client(wiring.Component):
        weights: Out(sig)

        def elaborate(self, platform):
            return Module()

    arbiter = WeightArbiter(sig, 1)
    m = Module()
    m.submodules.client, m.submodules.arbiter = client, _ = Client(), arbiter
    wiring.connect(m, client.weights, arbiter.clients[0])   # raises on a mismatch


def test_init_wrong_signature():
    with pytest.raises(TypeError, match="must be a WeightPort.Signature"):
        WeightArbiter(wiring.Signature({"addr": Out(4)}), 2)


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_init_wrong_n_clients(n):
    with pytest.raises(ValueError, match="n_clients must be a positive integer"):
        WeightArbiter(port_signature(), n)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_delay_line_carries_a_tag_depth_cycles(depth):
    class Line(wiring.Component):
        valid: In(1)
        index: In(4)
        out_valid: Out(1)
        out_index: Out(4)

        def elaborate(self, platform):
            m = Module()
            stages = delay_line(m, tag_layout(4), {"valid": self.valid, "index": self.index},
                                depth, name="stage")
            assert len(stages) == depth
            m.d.comb += [self.out_valid.eq(stages[-1].valid),
                         self.out_index.eq(stages[-1].index)]
            return m

    dut = Line()
    sent = [(n % 3 != 0, n) for n in range(12)]

    async def testbench(ctx):
        seen = []
        for valid, index in sent + [(False, 0)] * depth:
            ctx.set(dut.valid, valid)
            ctx.set(dut.index, index)
            seen.append((bool(ctx.get(dut.out_valid)), ctx.get(dut.out_index)))
            await ctx.tick()
        assert seen[depth:] == sent, "delay_line: the tag did not arrive depth cycles later"

    simulate(dut, testbench)


def test_delay_line_edge_depths():
    m = Module()
    assert delay_line(m, 1, Signal(), 0, name="none") == []
    with pytest.raises(ValueError, match="depth must be at least 0"):
        delay_line(m, 1, Signal(), -1, name="bad")
