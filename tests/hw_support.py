"""Amaranth-simulator harness for the learning core: load a sample, run it, read results."""

import numpy as np
from amaranth.sim import Simulator

from spikefab.hw.core import LearningCore


def simulate(dut, testbench, *, watch_collisions=False):
    """Run ``testbench``; with ``watch_collisions``, also fail if any memory of the core
    is read at the address written in the same cycle (what the FPGA builds assume, see
    :data:`spikefab.hw.memory.COLLISION_FREE`)."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    collisions = []
    if watch_collisions:
        sim.add_process(_collision_watch(dut, collisions))
    sim.run()
    assert not collisions, f"read-during-write at one address: {collisions[:5]}"


def _collision_watch(core, collisions):
    async def watch(ctx):
        ports = core.memory_ports
        assert ports, "the core has not been elaborated"
        signals = [s for _, r, w in ports for s in (r.addr, r.en, w.addr, w.en)]
        cycle = 0
        async for _clock, _reset, *values in ctx.tick().sample(*signals):
            for n, (name, _, _) in enumerate(ports):
                raddr, ren, waddr, wen = values[4 * n:4 * n + 4]
                if ren and wen and raddr == waddr:
                    collisions.append((cycle, name, raddr))
            cycle += 1
    return watch


async def set_registers(ctx, core, lr_shifts, margin):
    ctx.set(core.host.lr_shift, list(lr_shifts))
    ctx.set(core.host.margin, margin)


async def run_sample(ctx, core, payload, *, label=0, train=True, events=False):
    """Write ``payload`` to the input buffer, run one sample, return the core's results."""
    for addr, byte in enumerate(payload):
        ctx.set(core.buf_waddr, addr)
        ctx.set(core.buf_wdata, byte)
        ctx.set(core.buf_we, 1)
        await ctx.tick()
    ctx.set(core.buf_we, 0)
    ctx.set(core.host.data_offset, 0)
    ctx.set(core.host.data_length, len(payload))
    ctx.set(core.host.label, int(label))
    ctx.set(core.host.train, train)
    ctx.set(core.host.events, events)
    ctx.set(core.host.start, 1)
    await ctx.tick()
    ctx.set(core.host.start, 0)
    await ctx.tick().until(core.host.done)
    n_out = core.config.n_out
    return {
        "counts": [ctx.get(core.host.counts[j]) for j in range(n_out)],
        "prediction": ctx.get(core.host.prediction),
        "error": ctx.get(core.host.error),
        "cycles": ctx.get(core.host.sample_cycles),
        "sops": ctx.get(core.host.sample_sops),
        "writes": ctx.get(core.host.sample_writes),
    }


def peek_weights(ctx, core):
    """The weight matrices held by the core's memory (read without using its port)."""
    data = core.weight_memory.data
    lanes = core.layout.lanes
    words = np.array([[ctx.get(data[i])[q] for q in range(lanes)]
                      for i in range(core.layout.weight_depth)])
    return core.layout.unpack_weights(words)


def golden_expectation(result):
    """The fields of a golden ``TrainResult`` that the core reports."""
    return {
        "counts": [int(c) for c in result.output_counts],
        "prediction": result.prediction,
        "error": 0,
        "sops": result.sops,
        "writes": getattr(result, "weight_writes", 0),
    }


def reported(hw):
    return {key: hw[key] for key in ("counts", "prediction", "error", "sops", "writes")}


__all__ = ["LearningCore", "simulate", "set_registers", "run_sample", "peek_weights",
           "golden_expectation", "reported"]
