"""The import graph a reader (and a tool) can follow, read from the source's syntax trees.

- Every module of ``golden/``, ``hw/``, ``sim/`` and ``spikefab/`` imports by absolute
  ``spikefab.…`` names: the folders install under the package-dir mapping of
  ``pyproject.toml`` (``hw/`` is ``spikefab.hw``), so ``from ..golden import …`` inside
  ``hw/`` names a folder that is not where it seems, and ``import hw`` names none.
- Host code (``spikefab/``) does not import the simulation (``spikefab.sim``). The one
  exception is the command line, which fronts the whole kit: its ``sim`` command and
  ``train --engine rtl`` run the simulation.
- The product documents its own contract: no code cites a spec outside the repository.
"""

import ast
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"golden": "spikefab.golden", "hw": "spikefab.hw", "sim": "spikefab.sim",
           "spikefab": "spikefab"}
#: Host modules allowed to import spikefab.sim, and why.
SIM_IMPORTERS = {"spikefab/cli.py": "the `sim` command and `train --engine rtl`",
                 "spikefab/bench.py": "`make bench`'s lanes sweep measures cycles in Verilator",
                 "spikefab/compare.py": "`spikefab compare` measures each chip rule's cycles "
                                        "per training sample in Verilator"}


def modules(root=ROOT):
    return sorted(path for folder in FOLDERS for path in (root / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def imports(path, root=ROOT):
    """``(line, absolute module name, relative?, text)`` of every import in ``path``; a
    relative import is resolved against the package its folder installs as."""
    package = FOLDERS[path.relative_to(root).parts[0]].split(".")
    package += list(path.relative_to(root).parts[1:-1])
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        text = ast.unparse(node) if isinstance(node, (ast.Import, ast.ImportFrom)) else ""
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, False, text
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, module, bool(node.level), text
            for alias in node.names:   # from spikefab import sim
                yield node.lineno, f"{module}.{alias.name}", bool(node.level), text


def relative_or_unmapped(root=ROOT):
    """Imports that are relative, or name golden/hw/sim by their folder, not their package."""
    found = []
    for path in modules(root):
        for line, name, relative, text in imports(path, root):
            if relative or name.split(".")[0] in ("golden", "hw", "sim"):
                found.append(f"{path.relative_to(root)}:{line}: {text}")
    return sorted(set(found))


def host_imports_of_sim(root=ROOT):
    found = []
    for path in sorted((root / "spikefab").rglob("*.py")):
        where = path.relative_to(root).as_posix()
        if where in SIM_IMPORTERS:
            continue
        for line, name, _, text in imports(path, root):
            if name == "spikefab.sim" or name.startswith("spikefab.sim."):
                found.append(f"{where}:{line}: {text}")
    return sorted(set(found))


def test_every_module_imports_by_absolute_spikefab_names():
    assert modules(), "no modules found"
    assert relative_or_unmapped() == []


def test_host_code_never_imports_the_simulation():
    assert host_imports_of_sim() == []


def test_the_cli_imports_the_simulation_only_for_simulating():
    """The exception is no wider than its reason: nothing but spikefab.sim.runner (the
    simulator names and error) and spikefab.sim.simulate."""
    names = {name for _, name, _, _ in imports(ROOT / "spikefab/cli.py")
             if name.startswith("spikefab.sim.")}
    assert {".".join(name.split(".")[:3]) for name in names} <= \
        {"spikefab.sim.runner", "spikefab.sim.simulate"}


@pytest.mark.parametrize("text", ["SPEC §", "SPEC.md", "design card"])
def test_no_code_cites_a_spec_outside_the_repository(text):
    cited = [f"{path.relative_to(ROOT)}:{n}" for path in [*modules(), ROOT / "pyproject.toml"]
             for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert cited == []


def test_the_checks_see_what_they_look_for(tmp_path):
    """The walk finds a relative import, a folder-named import and a host import of sim."""
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "hw" / "a.py").write_text("from ..golden.rng import XorShift32\n")
    (tmp_path / "sim" / "b.py").write_text("def f():\n    from . import runner\n")
    (tmp_path / "golden" / "c.py").write_text("import hw.board\n")
    (tmp_path / "spikefab" / "d.py").write_text("from spikefab import sim\n")
    (tmp_path / "spikefab" / "e.py").write_text("import spikefab.sim.scoreboard as s\n")
    (tmp_path / "spikefab" / "f.py").write_text("def g():\n    from .sim import runner\n")
    (tmp_path / "spikefab" / "cli.py").write_text("from spikefab.sim.runner import X\n")
    assert [f.split(":")[0] for f in relative_or_unmapped(tmp_path)] == \
        ["golden/c.py", "hw/a.py", "sim/b.py", "spikefab/f.py"]
    assert [f.split(":")[0] for f in host_imports_of_sim(tmp_path)] == \
        ["spikefab/d.py", "spikefab/e.py", "spikefab/f.py"]
