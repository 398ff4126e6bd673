"""FPGA builds with the yowasp tools: Yosys mapping in the default run (about 25 s per
board), full place and route of both presets on both boards in `make bench` (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikefab.bitstream import build_bitstream, synthesize, throughput_estimate
from spikefab.config import PRESETS
from spikefab.hw.board import BOARDS, board
from spikefab.hw.memory import SPRAM_BLOCKS


def test_unknown_board_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid boards: icebreaker, ulx3s"):
        board("de10")
    run = subprocess.run([sys.executable, "-m", "spikefab.cli", "bitstream", "--board", "de10"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip() == ("spikefab: error: unknown board 'de10'; "
                                  "valid boards: icebreaker, ulx3s")


def test_up5k_synthesis_puts_mnist_weights_in_the_four_sprams(tmp_path):
    result = synthesize("icebreaker", PRESETS["mnist"], out_dir=tmp_path)
    cells = result["cells"]
    assert cells["SB_SPRAM256KA"] == SPRAM_BLOCKS
    assert cells["SB_PLL40_PAD"] == 1
    assert cells["SB_LUT4"] < 5280
    assert cells.get("SB_RAM40_4K", 0) <= 30
    assert cells.get("SB_MAC16", 0) >= 2     # the update unit's multipliers, one per lane


def test_ecp5_synthesis_maps_digits(tmp_path):
    result = synthesize("ulx3s", PRESETS["digits"], out_dir=tmp_path)
    cells = result["cells"]
    assert cells["EHXPLLL"] == 1
    assert cells.get("DP16KD", 0) >= 1  # the weights in block RAM
    assert result["ffs"] > 0
    # The weight RAMs' output flip-flops (read latency 3) are now their output registers.
    netlist = json.loads((Path(result["build_dir"]) / "spikefab.json").read_text())
    cells = [c for m in netlist["modules"].values() for c in m["cells"].values()]
    registered = [c for c in cells if c["type"] == "DP16KD" and "OUTREG" in
                  (c["parameters"]["REGMODE_A"], c["parameters"]["REGMODE_B"])]
    assert registered and result["bram_output_registers"] >= len(registered)
    assert result["ffs"] == sum(c["type"] == "TRELLIS_FF" for c in cells)


@pytest.mark.slow
@pytest.mark.parametrize("board_name", sorted(BOARDS))
@pytest.mark.parametrize("config_name", ["digits", "mnist"])
def test_place_and_route(board_name, config_name, tmp_path):
    """Full builds; each report also lands in build/bench/bitstream-*.json."""
    report = build_bitstream(board_name, PRESETS[config_name], out_dir=tmp_path)
    bench = Path(__file__).resolve().parents[1] / "build" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    (bench / f"bitstream-{board_name}-{config_name}.json").write_text(json.dumps(report))
    assert Path(report["bitstream"]).stat().st_size > 0
    assert report["luts"] <= report["luts_total"]
    for key in ("board", "device", "config", "bitstream", "luts", "luts_total", "ffs", "bram",
                "bram_total", "spram", "dsp", "fmax_mhz", "target_mhz", "timing_met"):
        assert key in report
    # Every preset meets its board's clock: the report's verdict and its own figures agree.
    assert report["timing_met"] is True, (report["fmax_mhz"], report["target_mhz"])
    assert report["fmax_mhz"] >= report["target_mhz"]
    assert report["target_mhz"] == {"icebreaker": 30, "ulx3s": 100}[board_name]


def test_throughput_estimate_is_the_cost_model_at_fmax():
    # The report's throughput: the cost model's cycles of real digits samples, at fmax.
    config = PRESETS["digits"]
    estimate = throughput_estimate(config, 3, 100.0, samples=4)
    assert "digits" in estimate["cycles_source"]
    assert 0 < estimate["cycles_per_train_sample_least"] <= estimate["cycles_per_train_sample"]
    assert estimate["train_samples_per_s"] == pytest.approx(
        100e6 / estimate["cycles_per_train_sample"])
    assert estimate["infer_samples_per_s"] == pytest.approx(
        100e6 / estimate["cycles_per_infer_sample"])
    assert estimate["cycles_per_infer_sample"] < estimate["cycles_per_train_sample"]
    assert 1 < estimate["memory_bound_ratio"] < 2
    # Twice the lanes: about half the cycles.
    wide = throughput_estimate(config.replace(lanes=4), 3, 100.0, samples=4)
    assert 1.6 < wide["train_samples_per_s"] / estimate["train_samples_per_s"] < 2.4
    assert throughput_estimate(config.replace(n_in=10), 3, 100.0) == {}
