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


def neuron_words(layout, counts):
    """Neuron-memory words (``P`` lanes of ``{v, count}``, padding lanes 0) holding the
    spike counts of each layer in ``counts``, layer after layer as the core lays them."""
    words = []
    for layer_counts in counts:
        for first in range(0, len(layer_counts), layout.lanes):
            lanes = range(first, first + layout.lanes)
            words.append([{"v": 0, "count": int(layer_counts[q]) if q < len(layer_counts)
                           else 0} for q in lanes])
    return words


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


__all__ = ["LearningCore", "simulate", "neuron_words", "set_registers", "run_sample",
           "peek_weights", "golden_expectation", "reported"]


# -- twin tests: one block alone against its golden function ---------------------------
# (tests/test_hw_lif.py, test_hw_framing.py, test_hw_encoder.py, test_hw_spikes.py)

def twin_message(block, case, rtl, ref, inputs=None):
    """Failure message of ``assert rtl == ref``: the block, the case, and the first item
    (of two sequences) where the RTL run and the golden function part, with the input
    that produced it when ``inputs`` lists them item for item."""
    def short(value):
        text = repr(value)
        return text if len(text) <= 400 else text[:400] + " …"

    where = ""
    if isinstance(rtl, (list, tuple)) and isinstance(ref, (list, tuple)):
        for n, (a, b) in enumerate(zip(rtl, ref)):
            if a != b:
                given = f" (input {inputs[n]!r})" if inputs is not None else ""
                where = f"; first difference at item {n}{given}: rtl {a!r} != golden {b!r}"
                break
        else:
            where = f"; rtl has {len(rtl)} items, golden {len(ref)}"
    return f"{block} {case}{where}; rtl {short(rtl)} != golden {short(ref)}"


async def take_spikes(ctx, spikes, rng, ready_p, *, block, limit=2_000):
    """One timestep of a spike stream (``spike_layout``): the indices taken until the
    ``end`` marker (taken too), with ``ready`` high with probability ``ready_p`` each
    cycle. An item offered and not taken must stay offered, unchanged, next cycle."""
    indices = []
    offered = None
    for _ in range(limit):
        ready = bool(rng.random() < ready_p)
        ctx.set(spikes.ready, ready)
        valid = ctx.get(spikes.valid)
        end = ctx.get(spikes.p.end)
        item = (end, None if end else ctx.get(spikes.p.index)) if valid else None
        if offered is not None:
            assert item == offered, \
                f"{block}: offered {offered} (end, index) was withdrawn or changed " \
                f"to {item} before it was taken"
        offered = item if valid and not ready else None
        await ctx.tick()
        if valid and ready:
            if item[0]:
                ctx.set(spikes.ready, 0)
                return indices
            indices.append(item[1])
    raise AssertionError(f"{block}: no end marker after {limit} cycles "
                         f"(the first indices: {indices[:20]})")
