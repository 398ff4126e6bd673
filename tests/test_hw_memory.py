"""The weight memory in each of its forms (word-wide as simulated, bit-sliced in banks as
the ECP5 build maps it) and read latencies, against a plain model of a single-port RAM."""

import numpy as np
import pytest

from spikefab.hw.memory import READ_LATENCIES, WeightMemory
from spikefab.hw.ports import Shapes
from spikefab.layout import Layout

from conftest import small_config
from hw_support import simulate


def shapes_and_words(depth, seed=3):
    config = small_config(n_in=9, hidden=(7,), n_out=3, lanes=2, w_bits=6)
    rng = np.random.default_rng(seed)
    layout = Layout(config)

    def word():
        return [int(v) for v in rng.integers(config.w_min, config.w_max + 1, layout.lanes)]

    return Shapes(config, layout), [word() for _ in range(depth)], word, rng


# Depth 40 of 12-bit words. A 16-bit block RAM as 16 × 1: three banks of 12 RAMs, the
# last bank partly used; a 128-bit RAM as 64 × 2 (6 RAMs); a 256-bit one as 64 × 4 (3).
FORMS = {"word-wide": (False, 16, 1), "1-bit slices in banks": (True, 16, 36),
         "2-bit slices": (True, 128, 6), "4-bit slices": (True, 256, 3)}


@pytest.mark.parametrize("latency", READ_LATENCIES)
@pytest.mark.parametrize("form", FORMS)
def test_weight_memory_answers_like_a_single_port_ram(form, latency):
    depth = 40
    bit_sliced, bank_depth, rams = FORMS[form]
    shapes, init, random_word, rng = shapes_and_words(depth)
    dut = WeightMemory(shapes, depth, init, read_latency=latency, bit_sliced=bit_sliced,
                       bank_depth=bank_depth)
    model = [list(w) for w in init]
    answers = []      # per cycle: the word a read returns, or None
    ops = []

    async def testbench(ctx):
        shown = None   # what rdata holds: the last read's word once it is due
        for cycle in range(400):
            op = int(rng.integers(0, 3))   # 0: idle, 1: read, 2: write
            addr = int(rng.integers(0, depth))
            word = random_word()
            ctx.set(dut.addr, addr)
            ctx.set(dut.en, op == 1)
            ctx.set(dut.we, op == 2)
            ctx.set(dut.wdata, word)
            answers.append(list(model[addr]) if op == 1 else None)
            if op == 2:
                model[addr] = word
            ops.append(op)
            await ctx.tick()
            due = cycle - (latency - 1)
            if due >= 0 and answers[due] is not None:
                shown = answers[due]
            if shown is not None:
                got = list(ctx.get(dut.rdata))
                assert got == shown, f"cycle {cycle}: {got} != {shown}"
        assert ops.count(1) > 50 and ops.count(2) > 50

    simulate(dut, testbench)
    assert len(dut.memory_ports) == rams, f"{form}: {len(dut.memory_ports)} RAMs"


def test_init_wrong_read_latency():
    shapes, init, _, _ = shapes_and_words(4)
    with pytest.raises(ValueError, match=r"read_latency must be one of \(2, 3, 4\), not 1"):
        WeightMemory(shapes, 4, init, read_latency=1)


@pytest.mark.parametrize("bank_depth", [0, 12])
def test_init_wrong_bank_depth(bank_depth):
    shapes, init, _, _ = shapes_and_words(4)
    with pytest.raises(ValueError, match=f"bank_depth must be a power of two, not {bank_depth}"):
        WeightMemory(shapes, 4, init, bank_depth=bank_depth)
