"""Training through a noisy wire: the host driver and the chip in Amaranth's simulator,
with :class:`~spikefab.sim.lossy.LossyTransport` between them dropping, flipping,
duplicating and delaying bytes in both directions.

Every sample must be trained exactly once (the core starts once per sample, the chip's
``samples`` counter counts each once, every reply equals golden's) and the weights read
back over the same wire must equal golden's bit for bit, although requests were lost and
sent again, ``TRAIN`` among them. The run prints what it sent and what went wrong:
bytes, faults by kind and direction, retries and their causes.

The short run (``make test``) trains 12 digits samples on a narrowed digits network at a
fault rate of 1 in 150 bytes; the long one (``make bench``, ``-m slow``) a full digits
epoch.
"""

import json

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikefab.driver import Chip
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.config import preset
from spikefab.hw.top import SpikefabTop
from spikefab.protocol import Op, Status
from spikefab.sim.amaranth_transport import AmaranthTransport
from spikefab.sim.lossy import KINDS, LossyTransport


#: The digits preset, narrowed so that Amaranth's simulator runs a sample in a blink.
CONFIG = preset("digits").replace(name="digits-narrow", hidden=(16,), timesteps=8,
                                  target_count=6, gate_hi=7, lanes=4)
CHIP_TIMEOUT = 64


def lossy_training(config, samples, *, rate, seed, tries=8, limit=4000,
                   write_weights=False):
    """Train the first ``samples`` digits training samples through a lossy wire, each
    checked against golden (after writing golden's initial weights over it, with
    ``write_weights``); the figures of the run.

    ``limit``: cycles without a byte from the chip after which the driver takes a reply
    for lost (a sample of :data:`CONFIG` takes about 1,000; a reply that comes later
    than that is a stale one the driver flushes, and its sample is not run again)."""
    data = load_dataset("digits", config)
    top = SpikefabTop(config, timeout=CHIP_TIMEOUT)
    golden = GoldenNet(config)
    starts = []
    figures = {}

    sample_replies = []

    async def watch(ctx):
        # Samples the core runs, and the OK sample replies the chip sends (read off its
        # own tx stream, before the wire damages them): more replies than runs are
        # repeats answered from the results held.
        sent = bytearray()
        async for _clk, _rst, start, valid, ready, byte in ctx.tick().sample(
                top.core.host.start, top.tx.valid, top.tx.ready, top.tx.payload):
            starts.extend([1] * start)
            if valid and ready:
                sent.append(byte)
                if len(sent) >= 3 and len(sent) == 5 + int.from_bytes(sent[1:3], "little"):
                    if sent[3] == Status.OK and sent[4] == Op.TRAIN:
                        sample_replies.append(sent[5])
                    sent.clear()

    async def testbench(ctx):
        inner = AmaranthTransport(ctx, top, limit=limit)
        wire = LossyTransport(inner, rate=rate, seed=seed, max_delay=2 * CHIP_TIMEOUT)
        chip = Chip(wire, config, tries=tries, chunk_bytes=48)
        await chip.check()
        if write_weights:
            await chip.write_weights(golden.weights)
        await chip.set_lr_shifts(config.lr_shifts)
        await chip.reseed_rounding()
        golden.reseed_rounding()
        for n in range(samples):
            pixels, label = data.x_train[n], int(data.y_train[n])
            hw = await chip.train(pixels, label)
            ref = golden.train(encode(pixels[None], config)[0], label)
            assert (hw.counts, hw.prediction, hw.sops, hw.weight_writes) == \
                ([int(c) for c in ref.output_counts], ref.prediction, ref.sops,
                 ref.weight_writes), f"sample {n}: the chip's reply differs from golden's"
        counters = await chip.counters()
        weights = await chip.read_weights()
        figures.update({
            "samples": samples,
            "samples_counted_by_chip": counters["samples"],
            "samples_run_by_core": len(starts),
            "train_replies_sent": len(sample_replies),
            "repeats_answered_from_results": len(sample_replies) - len(starts),
            "bit_exact": all(np.array_equal(a, b) for a, b in zip(weights, golden.weights)),
            **wire.summary(),
            "link": {k: v for k, v in sorted(chip.link.items()) if v},
            "cycles": inner.cycles,
        })

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.add_process(watch)
    sim.run()
    return figures


def check(figures, samples):
    print("\nfault injection:", json.dumps(figures, indent=1))
    assert figures["samples_counted_by_chip"] == samples
    assert figures["samples_run_by_core"] == samples
    assert figures["bit_exact"]
    for kind in KINDS:
        assert figures["faults"].get(kind, 0) > 0, f"no {kind} fault injected"
    # Lost TRAIN requests and replies were sent again, and still trained once: a TRAIN
    # the chip had run was answered again from its results.
    assert figures["link"].get("retried TRAIN", 0) > 0
    assert figures["repeats_answered_from_results"] > 0


def test_training_through_a_lossy_wire_trains_each_sample_once():
    figures = lossy_training(CONFIG, 12, rate=1 / 150, seed=3)
    check(figures, 12)


@pytest.mark.slow
def test_a_digits_epoch_through_a_lossy_wire():
    samples = len(load_dataset("digits", CONFIG).y_train)
    figures = lossy_training(CONFIG, samples, rate=1 / 200, seed=11, write_weights=True)
    check(figures, samples)
