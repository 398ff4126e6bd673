"""The readout alone against its golden twins: ``decide`` (argmax, lowest index on a tie),
``output_error`` (clipped) and the margin test, with the sequencer's timing: the argmax
starts with the last word captured and the margin test is read the cycle after it ends."""

import numpy as np
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import output_error
from spikefab.golden.network import decide
from spikefab.hw.ports import Shapes
from spikefab.hw.readout import Readout
from spikefab.layout import Layout

from conftest import random_configs
from hw_support import neuron_words, simulate


def readout_rtl(config, counts, label, margin):
    layout = Layout(config)
    dut = Readout(config, layout, Shapes(config, layout))
    words = layout.neuron_words[-1]
    got = {}

    async def testbench(ctx):
        ctx.set(dut.label, label)
        ctx.set(dut.margin, margin)
        for k, word in enumerate(neuron_words(layout, [counts])):
            ctx.set(dut.neuron_word, word)
            ctx.set(dut.word, k)
            ctx.set(dut.capture, 1)
            ctx.set(dut.start, k == words - 1)
            await ctx.tick()
        ctx.set(dut.capture, 0)
        ctx.set(dut.start, 0)
        ctx.set(dut.step, 1)
        steps = 0
        while True:
            steps += 1
            last = ctx.get(dut.last)
            await ctx.tick()
            if last:
                break
            assert steps <= config.n_out, "Readout: the argmax never ended"
        ctx.set(dut.step, 0)
        got["steps"] = steps
        got["prediction"] = ctx.get(dut.prediction)
        got["error"] = [ctx.get(dut.error[j]) for j in range(config.n_out)]
        got["within"] = bool(ctx.get(dut.within))

    simulate(dut, testbench)
    return got


def readout_golden(config, counts, label, margin):
    error = output_error(config, counts, label)
    return {"steps": config.n_out, "prediction": decide(np.asarray(counts)),
            "error": [int(e) for e in error],
            "within": bool(np.abs(error).max() <= margin)}


@st.composite
def cases(draw):
    config = draw(random_configs()).replace(lanes=draw(st.integers(1, 4)))
    T = config.timesteps
    # Ties are common on purpose: few distinct counts.
    counts = draw(st.lists(st.integers(0, T), min_size=config.n_out, max_size=config.n_out))
    return config, counts, draw(st.integers(0, config.n_out - 1)), draw(st.integers(0, T))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_readout_matches_decide_output_error_and_margin(case):
    config, counts, label, margin = case
    rtl = readout_rtl(config, counts, label, margin)
    assert rtl == readout_golden(config, counts, label, margin), \
        f"Readout differs from golden for counts={counts} label={label} margin={margin} " \
        f"({config.to_dict()})"
