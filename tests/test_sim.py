"""cocotb on the generated Verilog, on Verilator and Icarus, against golden.

Each config is built once per simulator (under ``build/test-sim/``, so a rerun with
unchanged hardware skips the C++ compile); the digits chip is the one ``make sim`` and
``train --engine rtl`` build, under ``build/sim/``, and every test here that runs it
shares that build. Tests that share a build are one xdist group, so ``make test``'s
parallel workers never build the same folder at once. The cocotb modules in ``sim/`` do
the comparing: every reply and the weight signature after every sample, all weights at
the end. Long runs (a full epoch of digits) are marked slow.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikefab.config import Config, PRESETS
from spikefab.cost import es_update_cycles
from spikefab.sim import runner
from spikefab.sim.simulate import REPORT_KEYS, build_folder, simulate

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "test-sim"
# Where `make sim` and `train --engine rtl` (run from ROOT) build the chip.
SIM_BUILD = ROOT / "build" / "sim"
DIGITS = PRESETS["digits"]
SIMULATORS = pytest.mark.parametrize("simulator", runner.SIMULATORS)
TIMEOUT = 2000  # cycles before a frame cut short is answered TIMEOUT

# Leak and threshold corners: the weakest threshold, the strongest leak, reset to zero,
# a membrane just wide enough (it saturates), sigma-delta pixels, dense feedback, clipped
# error, stochastic rounding and one lane.
LOW_CORNERS = Config(
    name="low-corners", n_in=7, hidden=(6,), n_out=3, timesteps=7, v_bits=9, threshold=1,
    leak_shift=1, reset="zero", w_bits=6, init_range=(31, 31), encoding="sigma-delta",
    pixel_bits=4, k_fb=3, target_count=5, error_clip=4, margin=1, gate_lo=1, gate_hi=6,
    lr_shift_out=1, lr_shift_hidden=2, rounding="stochastic")
# The highest threshold (v_max), the weakest leak, subtractive reset, two hidden layers,
# three lanes over ragged rows, 4-bit weights that saturate under lr shift 0.
HIGH_CORNERS = Config(
    name="high-corners", n_in=9, hidden=(7, 5), n_out=4, timesteps=8, v_bits=8,
    threshold=127, leak_shift=7, reset="subtract", w_bits=4, init_range=(7, 6, 7),
    k_fb=2, target_count=6, margin=0, gate_lo=0, gate_hi=8, lr_shift_out=0,
    lr_shift_hidden=0, lanes=3)


def random_config(seed):
    """A small valid config drawn from ``seed`` (every option of the contract varies)."""
    rng = np.random.default_rng(seed)
    hidden = tuple(int(h) for h in rng.integers(2, 9, size=int(rng.integers(1, 3))))
    n_in, n_out = int(rng.integers(3, 12)), int(rng.integers(2, 6))
    w_bits = int(rng.integers(3, 9))
    T = int(rng.integers(3, 10))
    v_bits = (max((n_in, *hidden)) << (w_bits - 1)).bit_length() + 1 + int(rng.integers(0, 3))
    margin = int(rng.integers(0, T))
    gate_lo = int(rng.integers(0, T))
    return Config(
        name=f"random-{seed}", n_in=n_in, hidden=hidden, n_out=n_out, timesteps=T,
        v_bits=v_bits, threshold=int(rng.integers(1, 1 << (v_bits - 2))),
        leak_shift=int(rng.integers(1, v_bits)),
        reset=str(rng.choice(["subtract", "zero"])), w_bits=w_bits,
        init_range=tuple(int(rng.integers(1, 1 << (w_bits - 1))) for _ in range(len(hidden) + 1)),
        init_seed=int(rng.integers(0, 1 << 32)), pixel_bits=int(rng.integers(1, 9)),
        encoding=str(rng.choice(["rate", "sigma-delta"])), k_fb=int(rng.integers(1, n_out + 1)),
        feedback_seed=int(rng.integers(0, 1 << 32)), target_count=int(rng.integers(0, T + 1)),
        margin=margin, gate_lo=gate_lo, gate_hi=int(rng.integers(gate_lo, T + 1)),
        lr_shift_out=int(rng.integers(0, 4)), lr_shift_hidden=int(rng.integers(0, 4)),
        lanes=int(rng.integers(1, 4)), rounding=str(rng.choice(["nearest", "stochastic"])))


def group(config):
    """The xdist group of the tests that build ``config``'s chip."""
    return pytest.mark.xdist_group(config.name)


def built_digits():
    """The digits chip exactly as `make sim` builds it (default frame timeout)."""
    return runner.build(DIGITS, "verilator", directory=build_folder(DIGITS, SIM_BUILD))


_builds = {}


def built(config, simulator):
    key = (config, simulator)
    if key not in _builds:
        _builds[key] = runner.build(config, simulator, timeout=TIMEOUT,
                                    directory=BUILD / f"{config.name}-{config.hash()}")
    return _builds[key]


def play(config, simulator, steps, *, name, stall=0.0, seed=0):
    result = runner.run(built(config, simulator), "spikefab.sim.tb_directed",
                        {"steps": steps, "stall": stall, "seed": seed},
                        testcase="play_steps", name=name)
    assert result["passed"], result["failure"]
    samples = sum(step["op"] in ("train", "infer") for step in steps)
    assert result["compared_samples"] == samples
    return result


def raster_step(op, raster, label=0):
    return {"op": op, "events": True, "data": np.asarray(raster, dtype=np.uint8).tolist(),
            "label": label}


def pixel_step(op, pixels, label=0):
    return {"op": op, "events": False, "data": np.asarray(pixels, dtype=np.int64).tolist(),
            "label": label}


def corner_steps(config, rng):
    """Empty and all-ones inputs, dense and sparse random ones, pixels at 0 and at the
    maximum, a run-time register change, then repeated training with the largest steps
    so that weights saturate."""
    T, n = config.timesteps, config.n_in
    steps = [
        raster_step("infer", np.zeros((T, n))),
        raster_step("train", np.zeros((T, n)), 1),
        raster_step("train", np.ones((T, n)), 0),
        raster_step("train", np.ones((T, n)), config.n_out - 1),
        pixel_step("train", np.zeros(n), 0),
        pixel_step("train", np.full(n, config.pixel_max), 2 % config.n_out),
    ]
    for density in (0.1, 0.5, 0.9):
        steps.append(raster_step("train", rng.random((T, n)) < density,
                                 int(rng.integers(config.n_out))))
    steps.append({"op": "reseed"})
    steps.append({"op": "set", "lr_shifts": [0] * len(config.weight_shapes),
                  "margin": config.timesteps})
    steps.append(raster_step("train", np.ones((T, n)), 0))  # within any margin: no update
    steps.append({"op": "set", "lr_shifts": [0] * len(config.weight_shapes), "margin": 0})
    saturating = rng.random((T, n)) < 0.7
    for repeat in range(6):
        steps.append(raster_step("train", saturating, repeat % config.n_out))
    steps.append(pixel_step("infer", rng.integers(0, config.pixel_max + 1, n)))
    return steps


@SIMULATORS
@pytest.mark.parametrize("config", [pytest.param(LOW_CORNERS, marks=group(LOW_CORNERS)),
                                    pytest.param(HIGH_CORNERS, marks=group(HIGH_CORNERS))],
                         ids=lambda c: c.name)
def test_corners_equal_golden(config, simulator):
    play(config, simulator, corner_steps(config, np.random.default_rng(5)), name="corners")


@SIMULATORS
@group(random_config(11))
def test_random_config_equals_golden_under_stream_stalls(simulator):
    config = random_config(11)
    rng = np.random.default_rng(11)
    steps = [pixel_step("train", rng.integers(0, config.pixel_max + 1, config.n_in),
                        int(rng.integers(config.n_out))) for _ in range(8)]
    steps += [raster_step("train", rng.random((config.timesteps, config.n_in)) < 0.4,
                          int(rng.integers(config.n_out))) for _ in range(4)]
    steps += [pixel_step("infer", rng.integers(0, config.pixel_max + 1, config.n_in))]
    play(config, simulator, steps, name="random-stalls", stall=0.3, seed=3)


@SIMULATORS
@group(LOW_CORNERS)
def test_malformed_requests_are_refused_without_harm(simulator):
    result = runner.run(built(LOW_CORNERS, simulator), "spikefab.sim.tb_directed", {},
                        testcase="malformed_requests", name="malformed")
    assert result["passed"], result["failure"]
    assert result["cases"] == 14


@SIMULATORS
@group(DIGITS)
def test_digits_training_equals_golden(simulator, tmp_path):
    """The digits preset as built for `make sim`: a few samples through tb_train (Icarus
    simulates about 3,000 cycles/s, a training sample is 25,000 cycles)."""
    samples = {"verilator": (40, 10), "icarus": (3, 1)}[simulator]
    report = simulate(DIGITS, "digits", simulator=simulator, epochs=1, seed=1,
                      out_dir=tmp_path, build_dir=SIM_BUILD, limit_train=samples[0],
                      limit_test=samples[1], float_model=False, log=lambda line: None)
    assert report["bit_exact"], report.get("failure")
    assert report["hw_test_accuracy"] == report["golden_test_accuracy"]
    assert set(REPORT_KEYS) <= set(report)
    assert (tmp_path / "report.json").exists()
    # Within 1.25× of the memory-port bound (SOPs + 2 × writes) / P.
    assert report["memory_bound_ratio"] <= 1.25


@group(HIGH_CORNERS)
def test_a_mismatch_names_the_sample_layer_neuron_and_values():
    """Golden is told one weight differs from the chip's; the first sample must fail
    naming the step, layer, presynaptic input, neuron and both values."""
    config = HIGH_CORNERS
    b = built(config, "icarus")
    steps = corner_steps(config, np.random.default_rng(1))[:3]
    result = runner.run(b, "spikefab.sim.tb_directed", {"steps": steps, "perturb": [1, 2, 3, 1]},
                        testcase="play_steps", name="perturbed")
    assert not result["passed"]
    assert result["failure"].startswith("step 0 (infer): layer 1 weight from input 2 to "
                                        "neuron 3 is "), result["failure"]


# The digits chip with its ES units, and a population and mini-batch small enough for
# a generation to take a second on Verilator (64 members of 16 samples take 22 M cycles).
DIGITS_ES = DIGITS.replace(name="digits-es-small", es_on_chip=True, es_population=4,
                           es_batch=2)


@pytest.mark.parametrize("simulator", [
    "verilator", pytest.param("icarus", marks=pytest.mark.slow)])
@group(DIGITS_ES)
def test_eggroll_on_the_chip_equals_golden(simulator, tmp_path):
    """EGGROLL on the chip (tb_es): every member's fitness, every update's writes, the
    weights after every generation and the test split equal golden's; the figures are
    the generations' (Icarus: one generation of 4 members × 2 samples, about 70 s)."""
    samples = {"verilator": (6, 6), "icarus": (2, 1)}[simulator]
    report = simulate(DIGITS_ES, "digits", simulator=simulator, epochs=1, seed=3,
                      out_dir=tmp_path, build_dir=BUILD, limit_train=samples[0],
                      limit_test=samples[1], float_model=False, log=lambda line: None,
                      algo="eggroll")
    assert report["bit_exact"], report.get("failure")
    assert report["generations"] == samples[0] // 2
    assert report["hw_test_accuracy"] == report["golden_test_accuracy"]
    assert set(REPORT_KEYS) <= set(report)
    # A generation: every member's evaluation of every sample, and the update.
    assert report["cycles_per_generation"] > 4 * 2 * report["cycles_per_infer_sample"] / 2
    assert report["update_cycles_per_generation"] == es_update_cycles(DIGITS_ES)


@pytest.mark.slow
def test_digits_full_epoch_on_verilator(tmp_path):
    report = simulate(DIGITS, "digits", epochs=1, seed=1, out_dir=tmp_path,
                      build_dir=SIM_BUILD, log=lambda line: None)
    assert report["bit_exact"], report.get("failure")
    assert report["mismatches"] == 0


@group(DIGITS)
def test_train_engine_rtl_matches_the_golden_engine(tmp_path):
    """`spikefab train --engine rtl` trains on the simulated chip; the same run on the
    golden engine gives the same accuracies, and its checkpoint evaluates the same."""
    def spikefab(*args):
        run = subprocess.run([sys.executable, "-m", "spikefab.cli", *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    quick = ["--limit-train", "30", "--limit-test", "12", "--epochs", "2", "--json"]
    checkpoint = tmp_path / "rtl.npz"
    rtl = spikefab("train", "--engine", "rtl", *quick, "--save", str(checkpoint))
    golden = spikefab("train", "--engine", "golden", *quick)
    for key in ("train_accuracy", "test_accuracy", "weight_writes_per_sample"):
        assert rtl[key] == golden[key], key
    assert rtl["engine"] == "rtl" and rtl["train_samples_per_s"] > 0
    evaluated = spikefab("eval", "--checkpoint", str(checkpoint), "--engine", "golden",
                         "--limit-test", "12", "--json")
    assert evaluated["test_accuracy"] == rtl["test_accuracy"]


@pytest.mark.slow
def test_train_engine_rtl_runs_eggroll_as_the_golden_engine(tmp_path):
    """`train --algo eggroll --engine rtl` (a chip with its ES units) gives the golden
    engine's accuracies and weight writes."""
    config_file = tmp_path / "digits-es-small.json"
    config_file.write_text(DIGITS_ES.to_json())

    def spikefab(*args):
        run = subprocess.run([sys.executable, "-m", "spikefab.cli", *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    quick = ["--algo", "eggroll", "--config", str(config_file), "--limit-train", "6",
             "--limit-test", "8", "--epochs", "2", "--json"]
    rtl = spikefab("train", "--engine", "rtl", *quick)
    golden = spikefab("train", "--engine", "golden", *quick)
    for key in ("train_accuracy", "test_accuracy", "weight_writes_per_sample"):
        assert rtl[key] == golden[key], key
    assert rtl["engine"] == "rtl" and rtl["cycles_per_train_sample"] > 0


@group(DIGITS_ES)
def test_board_command_runs_eggroll_over_a_pty(tmp_path):
    """`spikefab board --algo eggroll` drives a chip with ES units over pyserial (the
    chip in Verilator behind a pseudo-terminal): every fitness and update equal to
    golden's, the final weights too; a config without ES units is refused first."""
    config_file = tmp_path / "digits-es-small.json"
    config_file.write_text(DIGITS_ES.to_json())
    args = ["--algo", "eggroll", "--config", str(config_file), "--dataset", "digits",
            "--epochs", "1", "--limit-train", "4", "--limit-test", "2", "--timeout", "60"]
    # A build folder of its own: a CI run had this test and the EGGROLL test above on two
    # xdist workers despite their group, one rebuilding the binary the other ran ("Text
    # file busy"; "PCH files were found, but they were invalid").
    built_es = runner.build(DIGITS_ES, "verilator",
                            directory=build_folder(DIGITS_ES, BUILD / "serial"))
    result = runner.run(built_es, "spikefab.sim.tb_serial", {"args": args}, name="serial")
    assert result["passed"], result["failure"]
    assert result["algo"] == "eggroll" and result["equal_to_golden"]
    assert result["generations"] == 4 // DIGITS_ES.es_batch
    assert result["cycles_per_generation"] > es_update_cycles(DIGITS_ES)

    refused = subprocess.run(
        [sys.executable, "-m", "spikefab.cli", "board", "--port", "/dev/null", "--algo",
         "eggroll", "--config", "digits"], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "spikefab: error: --algo eggroll needs a chip built with its ES units")


# Two banks of two SPRAM columns: 340 × 50 + 150 × 2 three-lane 24-bit words.
SPRAM_BANKS = Config(
    name="spram-banks", n_in=340, hidden=(150,), n_out=4, timesteps=3, v_bits=17,
    threshold=300, leak_shift=3, init_range=(60, 60), target_count=2, gate_hi=3,
    lr_shift_out=1, lr_shift_hidden=1, lanes=3)


@group(SPRAM_BANKS)
def test_up5k_spram_weight_memory_equals_golden():
    """The chip as built for the iCEBreaker (weights in SB_SPRAM256KA, simulated with
    Yosys's cells_sim.v on Icarus): four blocks, two banks of two columns."""
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from spikefab.hw.memory import spram_blocks
    from spikefab.layout import Layout

    layout = Layout(SPRAM_BANKS)
    assert spram_blocks(SPRAM_BANKS.lanes * SPRAM_BANKS.w_bits, layout.weight_depth) == (2, 2)
    b = runner.build(SPRAM_BANKS, "icarus", timeout=TIMEOUT, platform=ICEBreakerPlatform(),
                     directory=BUILD / f"spram-{SPRAM_BANKS.hash()}")
    rng = np.random.default_rng(2)
    steps = [pixel_step("train", rng.integers(0, 256, SPRAM_BANKS.n_in), 3)]
    result = runner.run(b, "spikefab.sim.tb_directed",
                        {"steps": steps, "write_weights": True, "signature": False},
                        testcase="play_steps", name="spram")
    assert result["passed"], result["failure"]
    assert sum(sample["writes"] for sample in result["samples"]) > 0


@group(DIGITS)
def test_board_command_over_a_pty_bridged_to_the_simulated_chip():
    """`spikefab board` with pyserial on a pseudo-terminal, the chip in Verilator behind
    it: the serial host path end to end (no board is attached here)."""
    args = ["--config", "digits", "--dataset", "digits", "--epochs", "1",
            "--limit-train", "4", "--limit-test", "2", "--timeout", "60"]
    result = runner.run(built_digits(), "spikefab.sim.tb_serial",
                        {"args": args}, name="serial")
    assert result["passed"], result["failure"]
    assert result["equal_to_golden"] and result["train_samples"] == 4
    assert result["bytes_forwarded"] > 4 * DIGITS.n_in
