"""``make bitstream``: build a board's bitstream with the yowasp tools and report on it.

The toolchain is Amaranth's (Yosys, nextpnr, icepack/ecppack) through the tool environment
variables, pointed at the ``yowasp-*`` commands from PyPI. The report comes from
machine-readable outputs only: nextpnr's ``--report`` JSON (utilisation, fmax) and Yosys's
``stat -json`` (flip-flops); beside them the throughput at fmax, training and inference
samples per second, from the cost model's cycles per sample
(:func:`throughput_estimate`). What differs between FPGAs (tools, Yosys options, resource
names, bitstream suffix) is read from the board's family record
(:mod:`spikefab.hw.families`).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from spikefab.hw.families import FAMILIES, board as get_board, tool_variable


__all__ = ["TOOLS", "build_bitstream", "synthesize", "bitstream_path", "program",
           "BuildError", "throughput_estimate"]

#: The name of the design: its files in the build folder are ``spikefab.*``.
TOP = "spikefab"


def _yowasp(tools):
    """Amaranth's tool variable → the yowasp command that stands in for it."""
    return {variable: f"yowasp-{tool}" for variable, tool in tools.items()}


#: Every tool variable a build may use, for every family.
TOOLS = _yowasp({"YOSYS": "yosys",
                 **{v: t for family in FAMILIES.values() for v, t in family.tools().items()}})


class BuildError(Exception):
    """A tool is missing or failed."""


def _tool_environment(family):
    """Point Amaranth's tool variables for ``family``'s build at the yowasp commands (a
    user's own setting wins)."""
    bin_dir = Path(sys.executable).parent
    for variable, command in _yowasp({"YOSYS": "yosys", **family.tools()}).items():
        found = shutil.which(command, path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        if found is None:
            raise BuildError(f"{command} is not installed; run `make setup`")
        os.environ.setdefault(variable, found)
    # A platform may want its programmer named even for a build without programming
    # (the ULX3S's lists openFPGALoader among its required tools).
    programmer = family.programmer[0]
    os.environ.setdefault(tool_variable(programmer), programmer)


def _prepare(board_name, config, build_dir, seed):
    from spikefab.hw.board import BoardTop  # Amaranth only when building
    from spikefab.hw.memory import COLLISION_FREE

    board = get_board(board_name)
    family = board.family
    _tool_environment(family)
    platform = board.make_platform()
    build_dir = Path(build_dir)
    stat = "tee -q -o stat.json stat -json"
    overrides = {
        "script_after_read": COLLISION_FREE,
        "synth_opts": family.synth_opts,
        "script_after_synth": "\n".join(
            (*(line.format(top=TOP) for line in family.script_after_synth), stat)),
        "nextpnr_opts": f"--report nextpnr-report.json --seed {seed} --timing-allow-fail",
    }
    plan = platform.prepare(BoardTop(config, board), name=TOP, **overrides)
    plan.extract(build_dir)
    return board, platform, plan


def bitstream_path(board_name, config_name, out_dir="build"):
    """Where :func:`build_bitstream` writes the bitstream of ``config_name`` for a board."""
    board = get_board(board_name)
    return Path(out_dir) / board.name / config_name / f"{TOP}{board.family.bitstream_suffix}"


def program(board_name, config_name, *, out_dir="build", dry_run=False):
    """Load the bitstream built for ``config_name`` onto the attached board with its
    family's programmer, and return the command line; ``dry_run`` only returns it."""
    board = get_board(board_name)
    bitstream = bitstream_path(board_name, config_name, out_dir)
    command = board.programmer_command(str(bitstream))
    # The variable Amaranth's platforms read for the programmer also names ours.
    command[0] = os.environ.get(tool_variable(board.family.programmer[0]), command[0])
    if dry_run:
        return command
    if not bitstream.exists():
        raise BuildError(f"no bitstream {bitstream}; build it first with `spikefab "
                         f"bitstream --board {board.name} --config {config_name}`")
    if shutil.which(command[0]) is None:
        raise BuildError(f"{command[0]} is not installed (it does not come from PyPI); "
                         f"install it with your system's package manager")
    _run(command, Path.cwd(), command[0])
    return command


def _run(command, cwd, what):
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (in {cwd}):\n{tail}")


def _split_script(script):
    """Amaranth's build script as (synthesis, the rest): the lines before the place and
    route command, and its environment lines with the commands from it on."""
    lines = script.splitlines()
    commands = [i for i, line in enumerate(lines) if line.startswith('"$')]
    pnr = next((i for i in commands if lines[i].startswith('"$NEXTPNR')), None)
    if pnr is None:
        raise BuildError("the generated build script has no place-and-route command")
    setup = lines[:commands[0]]
    return "\n".join(lines[:pnr]) + "\n", "\n".join(setup + lines[pnr:]) + "\n"


def _run_build(family, build_dir):
    """Run the generated build; on a family with block RAM output registers, Yosys, then
    :mod:`spikefab.bram_outreg` on its netlist, then the rest. Returns the flip-flops taken
    into RAMs."""
    if not family.bram_output_registers:
        _run(["sh", f"build_{TOP}.sh"], build_dir, "the FPGA build")
        return 0
    synthesis, rest = _split_script((build_dir / f"build_{TOP}.sh").read_text())
    for name, text in (("synth", synthesis), ("pnr", rest)):
        (build_dir / f"build_{TOP}_{name}.sh").write_text(text)
    _run(["sh", f"build_{TOP}_synth.sh"], build_dir, "Yosys")
    packed = _pack(family, build_dir)
    _run(["sh", f"build_{TOP}_pnr.sh"], build_dir, "the FPGA build")
    return packed


def _pack(family, build_dir):
    """:mod:`spikefab.bram_outreg` on the synthesised netlist where the family has block
    RAM output registers; the flip-flops taken in."""
    if not family.bram_output_registers:
        return 0
    from spikefab.bram_outreg import pack_netlist_file
    return sum(count for *_, count in pack_netlist_file(build_dir / f"{TOP}.json"))


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
    board's primitives, with the netlist pass of :func:`_run_build`. Returns ``{"ffs": …,
    "cells": {type: count}, "bram_output_registers": …}`` (flip-flops taken into block
    RAMs, not counted in ``ffs``)."""
    build_dir = Path(out_dir) / board_name / f"{config.name}-synth"
    board, platform, plan = _prepare(board_name, config, build_dir, seed=1)
    _run([os.environ["YOSYS"], "-q", "-l", "spikefab.rpt", "spikefab.ys"], build_dir,
         "Yosys")
    packed = _pack(board.family, build_dir)
    cells = _cells(build_dir / "stat.json")
    return {"ffs": _flip_flops(cells) - packed, "cells": cells,
            "bram_output_registers": packed, "build_dir": str(build_dir)}


def build_bitstream(board_name, config, *, out_dir="build", seed=1):
    """Synthesise, place, route and pack; write ``<out_dir>/<board>/report.json``."""
    start = time.perf_counter()
    bitstream = bitstream_path(board_name, config.name, out_dir)
    build_dir = bitstream.parent
    board, platform, plan = _prepare(board_name, config, build_dir, seed)
    packed = _run_build(board.family, build_dir)

    report = json.loads((build_dir / "nextpnr-report.json").read_text())
    target_mhz = board.target_hz / 1e6
    clocks = report.get("fmax", {})
    if not clocks:
        raise BuildError(f"nextpnr reported no clock (see {build_dir / 'spikefab.tim'})")
    # The core's clock is the one constrained to the target; the oscillator is not timed.
    core = {name: f for name, f in clocks.items()
            if abs(f["constraint"] - target_mhz) < 0.01 * target_mhz} or clocks
    fmax = min(f["achieved"] for f in core.values())
    use = _utilisation(board.family, report["utilization"])
    result = {
        "board": board.name, "device": platform.device, "package": platform.package,
        "config": config.name, "config_hash": config.hash(), "lanes": config.lanes,
        "bitstream": str(bitstream),
        "luts": use["luts"], "luts_total": use["luts_total"],
        "ffs": _flip_flops(_cells(build_dir / "stat.json")) - packed,
        "bram_output_registers": packed,
        "bram": use["bram"], "bram_total": use["bram_total"],
        "spram": use["spram"], "dsp": use["dsp"],
        "fmax_mhz": fmax, "target_mhz": target_mhz, "timing_met": fmax >= target_mhz,
        "clocks": clocks,
        "critical_path": _critical_path(report),
        **throughput_estimate(config, board.weight_latency(config), fmax),
        "build_s": time.perf_counter() - start,
    }
    if not bitstream.exists():
        raise BuildError(f"the build wrote no bitstream {bitstream}")
    (Path(out_dir) / board.name).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / board.name / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


#: Training samples the throughput estimate models (see :func:`throughput_estimate`).
ESTIMATE_SAMPLES = 20


def throughput_estimate(config, weight_latency, fmax_mhz, samples=ESTIMATE_SAMPLES):
    """Cycles per training and inference sample and samples per second at ``fmax_mhz``,
    estimated: :func:`spikefab.cost.cycle_model` (at the board's weight latency) of the
    first ``samples`` training samples of the config's data, trained by golden from the
    initial weights (digits for 64 inputs; Fashion-MNIST for 784 when installed, else
    digits images upscaled to 28×28, as :func:`spikefab.bench.pixel_data` picks). The
    cycles are the model's ``total`` (the pixel scan counted in full: an upper estimate;
    ``make sim`` measures them) and its ``least``; the samples/s follow from ``total``.
    Empty for a config whose input size no data set here has."""
    from spikefab.bench import pixel_data
    from spikefab.cost import modelled_samples
    from spikefab.golden.encoders import encode

    if config.n_in not in (64, 784):
        return {}
    dataset, source = pixel_data(config)
    rasters = encode(dataset.x_train[:samples], config)
    model = modelled_samples(config, weight_latency, rasters, dataset.y_train[:samples])
    hz = fmax_mhz * 1e6
    return {
        "cycles_per_train_sample": model["train_total"],
        "cycles_per_train_sample_least": model["train_least"],
        "cycles_per_infer_sample": model["infer_total"],
        "memory_bound_ratio": model["train_total"] / model["train_bound"],
        "train_samples_per_s": hz / model["train_total"],
        "infer_samples_per_s": hz / model["infer_total"],
        "cycles_source": f"spikefab.cost.cycle_model (total; least beside it) of the first "
                         f"{len(rasters)} training samples of {source} trained by golden, "
                         f"weight latency {weight_latency}; samples/s at fmax",
    }


def _utilisation(family, use):
    """The report's resource figures from nextpnr's ``utilization``, under the names the
    family gives its cells: ``luts``, ``bram`` (each with its ``_total``), ``spram``, ``dsp``
    (0 for a resource the family has none of or the design does not use)."""
    names = family.resources

    def used(kind):
        return use[names[kind]]["used"] if names[kind] in use else 0

    return {"luts": used("luts"), "luts_total": use[names["luts"]]["available"],
            "bram": used("bram"), "bram_total": use[names["bram"]]["available"],
            "spram": used("spram"), "dsp": used("dsp")}


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
