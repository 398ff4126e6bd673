#!/usr/bin/env python3
"""Mutation testing of ``golden/`` and ``spikefab/``: ``make mutate``.

Each *mutant* is one small, deliberate bug: a snippet of one source file replaced by
another (``scripts/mutations.toml``: the file, the exact original text, its replacement,
what the bug means, and for a mutant expected to be equivalent the reason). The fast
test suite runs against every mutant; a mutant is *killed* when a test fails (or the run
times out), and *survives* when the whole suite passes. The mutation score of a package
is killed / total. The table goes to ``build/bench/mutation.json``.

Why a harness of our own and not mutmut or cosmic-ray
    Those tools mutate every operator of every file: thousands of mutants of
    numba-jitted kernels, of Amaranth code and of the CLI's messages, each needing a run
    of a suite that takes minutes, which on two cores is days. Most of those mutants say
    little (a changed error message) or are equivalent by construction, and sorting
    them is the expensive part. A curated list aims at the numeric contract and the host
    protocol instead (rounding, saturation, generator taps and shifts, bounds, framing,
    the checkpoint's checks), a few dozen mutants that a reader can check one by one and
    whose survivors mean a test is missing. The list is data: a new bug class is one
    more entry. Each entry's original snippet must occur exactly once in its file, or
    the harness refuses the whole list, naming the entry; so a refactor that moves the
    code makes the list stale loudly (``tests/test_mutate_harness.py`` checks it in
    ``make test``) instead of silently mutating nothing.

The fast suite (``[suite]`` in the TOML file)
    ``make test``'s selection (every ``tests/test_*.py``, ``-m 'not slow'``) less the
    files named there: the cocotb runs on Verilator and Icarus, the Yosys/nextpnr builds
    and the yowasp-sby proofs, which test the RTL and take minutes each without reading
    a line of ``golden/`` or ``spikefab/`` that the rest does not. Each mutant's run is
    ``pytest -x -q -p no:cacheprovider`` over those files, the files that import the
    mutated module first and the rest by the time they took in the unmutated run, so a
    kill is usually found within seconds; a run longer than twice the unmutated one
    (plus a minute) is stopped and counts as killed by timeout.

Isolation: nothing of the checkout is touched
    The tree (``git ls-files``: tracked and untracked files that git does not ignore, or
    with ``--rev`` a commit) is copied once into a private temporary folder, and every
    mutant is made, run and undone there; other people may run tests in the checkout
    meanwhile. The project's editable install maps ``spikefab``, ``spikefab.golden`` …
    to the checkout, so every Python process of a run (pytest and the CLI subprocesses
    the tests start) gets ``sitecustomize.py`` from a shim folder first on
    ``PYTHONPATH``, which puts a finder ahead of all others that maps the packages of
    ``pyproject.toml``'s ``package-dir`` to the copy; a pytest plugin in the same folder
    ends the run as an error (not a kill) if any ``spikefab`` module was loaded from
    anywhere else. Numba caches compiled kernels on disk keyed by their own file only
    (not by the jitted functions they call in other files), so a mutant of a folder
    holding jitted code starts from an empty cache (``NUMBA_CACHE_DIR``); others share
    the unmutated run's cache. Hypothesis runs derandomized, without its example
    database and without deadlines, so a score does not depend on the draw or the load
    of the machine.

Usage::

    python scripts/mutate.py [--out build/bench/mutation.json] [--only ID ...] [--rev REV]
    python scripts/mutate.py --check      # validate the list against the tree, run nothing
    python scripts/mutate.py --list

The exit status is 0 when every mutant is killed or declared equivalent, 1 when a
mutant survives that is not declared equivalent (or a run fails for the harness's own
reasons), 2 when the list or the unmutated suite is unusable.
"""

import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = ROOT / "scripts" / "mutations.toml"
OUT = ROOT / "build" / "bench" / "mutation.json"
#: pytest's exit status when the shim plugin finds a module loaded from outside the copy.
ISOLATION_EXIT = 86
KILLED, SURVIVED, TIMEOUT, ERROR = "killed", "survived", "timeout", "error"


class MutationError(Exception):
    """A mutation list that cannot be applied to the tree as it stands."""


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    original: str
    replacement: str
    description: str
    equivalent: str | None = None    # why the mutant cannot be told apart, if it cannot
    tests: tuple = ()                # test files to run first, beyond the importers

    @property
    def package(self):
        return self.file.split("/", 1)[0]


@dataclass
class Suite:
    exclude: tuple                   # glob patterns of test files left out
    args: tuple = ()                 # extra pytest arguments


@dataclass
class Outcome:
    status: str
    seconds: float
    killed_by: str | None = None
    message: str | None = None
    tests_run: int = 0
    durations: dict = field(default_factory=dict)


# -- the list ------------------------------------------------------------------------------

def load_mutations(path=MUTATIONS):
    """``(suite, mutations)`` from the TOML file; MutationError on a malformed entry."""
    with open(path, "rb") as file:
        data = tomllib.load(file)
    suite = data.get("suite", {})
    suite = Suite(exclude=tuple(suite.get("exclude", ())), args=tuple(suite.get("args", ())))
    mutations, seen = [], set()
    for n, entry in enumerate(data.get("mutant", []), 1):
        where = f"{path}: mutant {n} ({entry.get('id', 'no id')})"
        missing = [key for key in ("id", "file", "original", "replacement", "description")
                   if not isinstance(entry.get(key), str) or not entry.get(key)]
        if missing:
            raise MutationError(f"{where}: needs {', '.join(missing)} (non-empty text)")
        unknown = sorted(set(entry) - {f for f in Mutation.__dataclass_fields__})
        if unknown:
            raise MutationError(f"{where}: unknown keys {', '.join(unknown)}")
        if entry["id"] in seen:
            raise MutationError(f"{where}: id {entry['id']!r} is used twice")
        seen.add(entry["id"])
        mutations.append(Mutation(**{**entry, "tests": tuple(entry.get("tests", ()))}))
    return suite, mutations


def mutated_text(mutation, text):
    """The file's text with the mutation applied; MutationError unless the original
    snippet occurs exactly once."""
    count = text.count(mutation.original)
    if count != 1:
        where = "does not occur" if count == 0 else f"occurs {count} times"
        raise MutationError(f"mutant {mutation.id}: its original snippet {where} in "
                            f"{mutation.file} (it must occur exactly once): "
                            f"{mutation.original!r}")
    if mutation.replacement == mutation.original:
        raise MutationError(f"mutant {mutation.id}: the replacement equals the original")
    return text.replace(mutation.original, mutation.replacement)


def check_mutations(mutations, root):
    """Refuse the list unless every mutant applies to ``root`` and still compiles."""
    problems = []
    for mutation in mutations:
        path = Path(root) / mutation.file
        if not path.is_file():
            problems.append(f"mutant {mutation.id}: no file {mutation.file}")
            continue
        try:
            text = mutated_text(mutation, path.read_text())
            if path.suffix == ".py":
                compile(text, str(path), "exec")
        except MutationError as error:
            problems.append(str(error))
        except SyntaxError as error:
            problems.append(f"mutant {mutation.id}: the mutated {mutation.file} does not "
                            f"compile: {error.msg} (line {error.lineno})")
    if problems:
        raise MutationError("\n".join(problems))


# -- the private copy ----------------------------------------------------------------------

def tree_files(root, rev=None):
    """Relative paths of the files to copy: git's view of the tree (tracked files and
    untracked ones it does not ignore), or every file when ``root`` is not a git tree."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached",
                                 "--others", "--exclude-standard"], capture_output=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "__pycache__", ".hypothesis", ".pytest_cache"}
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and not skip & set(p.relative_to(root).parts))
    return sorted({name for name in listed.decode().split("\0")
                   if name and (root / name).is_file()})


def copy_tree(root, dest, rev=None):
    """Copy the tree (or commit ``rev``) of ``root`` into ``dest``."""
    dest.mkdir(parents=True)
    if rev is not None:
        archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", rev],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    for name in tree_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(root) / name, target, follow_symlinks=False)


def package_dirs(tree):
    """``{package: folder}`` from ``pyproject.toml``'s setuptools ``package-dir``."""
    with open(tree / "pyproject.toml", "rb") as file:
        data = tomllib.load(file)
    mapping = data.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {name: str((tree / folder).resolve()) for name, folder in mapping.items()
            if name}


SITECUSTOMIZE = '''\
"""Written by scripts/mutate.py: import the packages from the mutation copy."""
import importlib.util
import json
import os
import sys

_PACKAGES = json.loads(os.environ["MUTATE_PACKAGES"])


class _MutationCopyFinder:
    """Ahead of every other finder (the editable install's among them): each package of
    the project comes from the copy; its submodules follow its __path__."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        folder = _PACKAGES.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])


sys.meta_path.insert(0, _MutationCopyFinder)
'''

PLUGIN = '''\
"""Written by scripts/mutate.py: the pytest side of a mutant's run."""
import json
import os
import sys
from collections import defaultdict

import pytest

TREE = os.environ["MUTATE_TREE"]
PACKAGES = json.loads(os.environ["MUTATE_PACKAGES"])
REPORT = os.environ["MUTATE_REPORT"]
_first = {}
_durations = defaultdict(float)
_run = set()

try:
    from hypothesis import HealthCheck, settings
except ImportError:
    pass
else:
    settings.register_profile("mutate", derandomize=True, database=None, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("mutate")


def _outside():
    """Modules of the project's packages loaded from outside the copy."""
    roots = tuple(PACKAGES)
    bad = []
    for name, module in list(sys.modules.items()):
        if name in roots or name.startswith(tuple(r + "." for r in roots)):
            file = getattr(module, "__file__", None)
            if file and not os.path.realpath(file).startswith(TREE + os.sep):
                bad.append(f"{name} from {file}")
    return bad


def pytest_sessionstart(session):
    import importlib
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except Exception:       # a mutant that breaks an import: the tests will say so
            pass
    bad = _outside()
    if bad:
        pytest.exit("mutation copy not isolated: " + "; ".join(bad), returncode=%d)


def _note(report, nodeid):
    if report.failed and not _first:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
        _first.update(test=nodeid, when=report.when, message=message.strip()[:400])


def pytest_collectreport(report):
    _note(report, report.nodeid or "collection")


def pytest_runtest_logreport(report):
    _durations[report.nodeid.split("::")[0]] += report.duration
    _run.add(report.nodeid)
    _note(report, report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    bad = _outside()
    with open(REPORT, "w") as file:
        json.dump({"first_failure": _first or None, "durations": dict(_durations),
                   "tests_run": len(_run), "outside": bad}, file)
    if bad:
        session.exitstatus = %d
''' % (ISOLATION_EXIT, ISOLATION_EXIT)


class Workspace:
    """The private copy, its shim folder and its numba caches, in one temporary folder."""

    def __init__(self, root, rev=None, keep=False, python=sys.executable):
        self.root = Path(root).resolve()
        self.keep = keep
        self.python = python
        self.base = Path(tempfile.mkdtemp(prefix="spikefab-mutate-"))
        self.tree = self.base / "tree"
        copy_tree(self.root, self.tree, rev)
        self.tree = self.tree.resolve()
        self.shim = self.base / "shim"
        self.shim.mkdir()
        (self.shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
        (self.shim / "mutate_plugin.py").write_text(PLUGIN)
        self.packages = package_dirs(self.tree)
        self.shared_cache = self.base / "numba-cache"
        self.runs = 0

    def close(self):
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def jit_folder(self, relative):
        """Whether the file's folder holds numba-jitted code."""
        folder = (self.tree / relative).parent
        return any("numba" in p.read_text(errors="replace") for p in folder.glob("*.py"))

    def test_files(self, suite):
        files = sorted(str(p.relative_to(self.tree)) for p in self.tree.glob("tests/test_*.py"))
        return [f for f in files if not any(fnmatch.fnmatch(f, pattern)
                                            for pattern in suite.exclude)]

    def run(self, files, suite, timeout, cache_dir):
        """One pytest run over ``files`` in the copy: an :class:`Outcome`."""
        self.runs += 1
        report = self.base / f"report-{self.runs}.json"
        log = self.base / f"log-{self.runs}.txt"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTEST_", "HYPOTHESIS_"))}
        env.update(PYTHONPATH=os.pathsep.join([str(self.shim)] + [p for p in env.get(
                       "PYTHONPATH", "").split(os.pathsep) if p]),
                   PYTHONDONTWRITEBYTECODE="1", MUTATE_TREE=str(self.tree),
                   MUTATE_PACKAGES=json.dumps(self.packages), MUTATE_REPORT=str(report),
                   NUMBA_CACHE_DIR=str(cache_dir))
        command = [self.python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                   "-p", "mutate_plugin", *suite.args, *files]
        start = time.monotonic()
        with open(log, "w") as out:
            process = subprocess.Popen(command, cwd=self.tree, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=_default_signals)
            try:
                rc = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                return Outcome(TIMEOUT, time.monotonic() - start,
                               message=f"no result in {timeout:.0f} s")
        seconds = time.monotonic() - start
        data = {}
        if report.exists():
            data = json.loads(report.read_text())
        if data.get("outside"):
            return Outcome(ERROR, seconds, message="mutation copy not isolated: "
                           + "; ".join(data["outside"]))
        first = data.get("first_failure") or {}
        outcome = Outcome(SURVIVED, seconds, first.get("test"), first.get("message"),
                          data.get("tests_run", 0), data.get("durations", {}))
        if rc == 0:
            return outcome
        if rc in (1, 2) and first:     # a failed test, or a module that no longer imports
            outcome.status = KILLED
            return outcome
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        outcome.status, outcome.message = ERROR, f"pytest exit {rc}: " + " | ".join(tail)
        return outcome


def _default_signals():
    """Ctrl-C as in a terminal: a shell starts a background job (``make mutate &``) with
    SIGINT ignored, which its children inherit, and a test that interrupts a training
    run with SIGINT would wait for it in vain."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _kill(process):
    """End a run that overran, with every process it started (its own session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def importers(tree, files, module):
    """Test files whose text imports ``module`` (``a.b.c``) by name."""
    parent, _, leaf = module.rpartition(".")
    patterns = [re.compile(rf"\b{re.escape(module)}\b")]
    if parent:
        patterns.append(re.compile(rf"from\s+{re.escape(parent)}\s+import\s+[^\n]*\b{leaf}\b"))
    return [f for f in files if any(p.search((tree / f).read_text()) for p in patterns)]


def module_name(relative, packages, tree):
    """The dotted name the file imports as (``golden/lif.py`` → ``spikefab.golden.lif``)."""
    path = (tree / relative).resolve()
    for package, folder in sorted(packages.items(), key=lambda kv: -len(kv[1])):
        if path.is_relative_to(folder):
            rest = path.relative_to(folder).with_suffix("").parts
            rest = rest[:-1] if rest and rest[-1] == "__init__" else rest
            return ".".join((package, *rest))
    return None


def ordered_files(mutation, files, durations, workspace):
    """The mutant's test files: its hints, then its module's importers, then the rest,
    each group fastest first."""
    module = module_name(mutation.file, workspace.packages, workspace.tree)
    related = importers(workspace.tree, files, module) if module else []
    by_time = sorted(files, key=lambda f: (durations.get(f, 0.0), f))
    first = [f for f in mutation.tests if f in files]
    return list(dict.fromkeys(first + [f for f in by_time if f in related] + by_time))


# -- the campaign --------------------------------------------------------------------------

def apply(workspace, mutation, serial):
    """Write the mutant into the copy; return a function that undoes it exactly."""
    path = workspace.tree / mutation.file
    original = path.read_bytes()
    stat = path.stat()
    path.write_text(mutated_text(mutation, original.decode()))
    # A unique modification time, so that no cache keyed by (mtime, size) can mistake
    # this text for another of the same size.
    stamp = stat.st_mtime_ns + (serial + 1) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))

    def undo():
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.read_bytes() == original
    return undo


def run_campaign(mutations, suite, *, root=ROOT, rev=None, timeout=None, keep=False,
                 log=print):
    """Run every mutant; return the result (what :func:`write_json` writes)."""
    start = time.monotonic()
    with Workspace(root, rev=rev, keep=keep) as workspace:
        check_mutations(mutations, workspace.tree)
        files = workspace.test_files(suite)
        log(f"mutate: copy in {workspace.base}; {len(files)} test files, "
            f"{len(mutations)} mutants; unmutated run first")
        baseline = workspace.run(files, suite, None, workspace.shared_cache)
        if baseline.status != SURVIVED:
            raise MutationError(f"the unmutated suite does not pass ({baseline.status}): "
                                f"{baseline.killed_by}: {baseline.message}")
        limit = timeout or 2 * baseline.seconds + 60
        log(f"mutate: unmutated suite passed in {baseline.seconds:.0f} s "
            f"({baseline.tests_run} tests); per-mutant timeout {limit:.0f} s")
        rows = []
        for serial, mutation in enumerate(mutations):
            order = ordered_files(mutation, files, baseline.durations, workspace)
            if workspace.jit_folder(mutation.file):
                cache = workspace.base / f"numba-cache-{serial}"
            else:
                cache = workspace.shared_cache
            undo = apply(workspace, mutation, serial)
            try:
                outcome = workspace.run(order, suite, limit, cache)
            finally:
                undo()
                if cache != workspace.shared_cache:
                    shutil.rmtree(cache, ignore_errors=True)
            row = {"id": mutation.id, "package": mutation.package, "file": mutation.file,
                   "description": mutation.description, "status": outcome.status,
                   "killed_by": outcome.killed_by if outcome.status == KILLED else None,
                   "message": outcome.message if outcome.status != SURVIVED else None,
                   "tests_run": outcome.tests_run, "seconds": round(outcome.seconds, 1),
                   "equivalent": mutation.equivalent}
            rows.append(row)
            log(f"mutate: [{serial + 1}/{len(mutations)}] {mutation.id}: {outcome.status}"
                f" in {outcome.seconds:.0f} s"
                + (f" by {outcome.killed_by}" if row["killed_by"] else ""))
        return {
            "tool": "scripts/mutate.py", "mutations": "scripts/mutations.toml",
            "rev": rev or "working tree",
            "suite": {"files": files, "excluded": list(suite.exclude),
                      "command": " ".join(("pytest -x -q -p no:cacheprovider", *suite.args)),
                      "unmutated_seconds": round(baseline.seconds, 1),
                      "unmutated_tests": baseline.tests_run,
                      "timeout_seconds": round(limit),
                      "file_seconds": {f: round(s, 1) for f, s in sorted(
                          baseline.durations.items(), key=lambda kv: -kv[1])}},
            "score": scores(rows),
            "survivors": [{"id": r["id"], "file": r["file"], "description": r["description"],
                           "equivalent": r["equivalent"]}
                          for r in rows if r["status"] == SURVIVED],
            "mutants": rows,
            "wall_seconds": round(time.monotonic() - start, 1),
        }


def scores(rows):
    """Killed (timeouts included) / total per package and over all; errors are left
    out of both (the harness, not the tests, failed there)."""
    out = {}
    for package in sorted({r["package"] for r in rows}) + ["all"]:
        mine = [r for r in rows if package in ("all", r["package"]) and r["status"] != ERROR]
        killed = sum(r["status"] in (KILLED, TIMEOUT) for r in mine)
        equivalent = sum(r["status"] == SURVIVED and bool(r["equivalent"]) for r in mine)
        out[package] = {"killed": killed, "total": len(mine),
                        "score": round(killed / len(mine), 4) if mine else None,
                        "survived": sum(r["status"] == SURVIVED for r in mine),
                        "declared_equivalent": equivalent,
                        "errors": sum(r["status"] == ERROR for r in rows
                                      if package in ("all", r["package"]))}
    return out


def write_json(result, path):
    """Write atomically: a temporary file beside ``path``, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(temporary, path)


def table(result):
    """The short table printed at the end."""
    lines = [f"{'mutant':34} {'status':9} {'s':>5}  killed by / note"]
    for r in result["mutants"]:
        if r["status"] == SURVIVED:
            note = (f"equivalent: {r['equivalent']}" if r["equivalent"]
                    else "no test fails: kill it with a test, or say why it is equivalent")
        else:
            note = r["killed_by"] or r["message"] or ""
        lines.append(f"{r['id']:34} {r['status']:9} {r['seconds']:5.0f}  {note[:90]}")
    for package, s in result["score"].items():
        lines.append(f"score {package}: {s['killed']}/{s['total']}"
                     + (f" ({100 * s['score']:.1f} %)" if s["score"] is not None else "")
                     + (f", {s['declared_equivalent']} survivor(s) declared equivalent"
                        if s["declared_equivalent"] else "")
                     + (f", {s['errors']} error(s)" if s["errors"] else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutations", default=str(MUTATIONS), help="the list (TOML)")
    parser.add_argument("--out", default=str(OUT), help="the JSON table (default %(default)s)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--rev", help="mutate this commit instead of the working tree")
    parser.add_argument("--timeout", type=float,
                        help="seconds per mutant (default: twice the unmutated run + 60)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--check", action="store_true",
                        help="only check that every mutant applies to the tree")
    parser.add_argument("--list", action="store_true", help="list the mutants")
    args = parser.parse_args(argv)
    try:
        suite, mutations = load_mutations(args.mutations)
        if args.only:
            unknown = sorted(set(args.only) - {m.id for m in mutations})
            if unknown:
                raise MutationError(f"no mutant {', '.join(unknown)}")
            mutations = [m for m in mutations if m.id in args.only]
        if args.list:
            for m in mutations:
                print(f"{m.id:34} {m.file:22} {m.description}"
                      + (f"  [equivalent: {m.equivalent}]" if m.equivalent else ""))
            return 0
        if args.rev is None or args.check:
            check_mutations(mutations, ROOT)
        if args.check:
            print(f"mutate: {len(mutations)} mutants apply to {ROOT}")
            return 0
        result = run_campaign(mutations, suite, rev=args.rev, timeout=args.timeout,
                              keep=args.keep)
    except MutationError as error:
        print(f"mutate: {error}", file=sys.stderr)
        return 2
    write_json(result, args.out)
    print(table(result))
    print(f"mutate: {args.out} ({result['wall_seconds'] / 60:.1f} min)")
    bad = [r for r in result["mutants"] if r["status"] == ERROR
           or r["status"] == SURVIVED and not r["equivalent"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
