"""The mutation harness (scripts/mutate.py, `make mutate`) on its own: the list must apply
to the tree exactly (a stale entry fails `make test`), a snippet that is missing or
appears twice is refused, and a campaign runs in a private copy, where the editable
install of the checkout cannot reach."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate"] = mutate
_spec.loader.exec_module(mutate)


def mutation(original, replacement="X = 2", file="golden/lif.py", **more):
    return mutate.Mutation(id="m", file=file, original=original, replacement=replacement,
                           description="a test mutant", **more)


def test_every_listed_mutant_applies_to_the_tree():
    suite, mutations = mutate.load_mutations()
    mutate.check_mutations(mutations, ROOT)
    assert len({m.id for m in mutations}) == len(mutations) >= 40
    assert {m.package for m in mutations} == {"golden", "spikefab"}
    assert {"tests/test_sim.py", "tests/test_mutate_harness.py"} <= set(suite.exclude)


@pytest.mark.parametrize("text, count", [("X = 1\n", "does not occur"),
                                         ("X = 3\nX = 3\n", "occurs 2 times")])
def test_a_snippet_must_occur_exactly_once(tmp_path, text, count):
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "lif.py").write_text(text)
    with pytest.raises(mutate.MutationError, match=rf"mutant m: its original snippet "
                       rf"{count} in golden/lif.py \(it must occur exactly once\)"):
        mutate.check_mutations([mutation("X = 3")], tmp_path)


def test_a_mutant_that_does_not_compile_is_refused(tmp_path):
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "lif.py").write_text("X = 3\n")
    with pytest.raises(mutate.MutationError, match="mutated golden/lif.py does not compile"):
        mutate.check_mutations([mutation("X = 3", "X = = 3")], tmp_path)


def test_malformed_entries_are_refused(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[[mutant]]\nid = "a"\nfile = "f.py"\noriginal = "x"\n'
                    'replacement = "y"\n')
    with pytest.raises(mutate.MutationError, match=r"mutant 1 \(a\): needs description"):
        mutate.load_mutations(path)


def test_the_copy_holds_what_git_would_commit(tmp_path):
    fake_tree(tmp_path / "src")
    (tmp_path / "src" / ".gitignore").write_text("ignored.txt\n")
    (tmp_path / "src" / "ignored.txt").write_text("not copied")
    subprocess.run(["git", "init", "-q", str(tmp_path / "src")], check=True)
    mutate.copy_tree(tmp_path / "src", tmp_path / "copy")
    copied = sorted(str(p.relative_to(tmp_path / "copy"))
                    for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == [".gitignore", "golden/__init__.py", "golden/lif.py", "pyproject.toml",
                      "spikefab/__init__.py", "tests/test_lif.py"]


def fake_tree(root):
    """A project shaped like this one (spikefab.golden ← golden/), whose package name the
    checkout's editable install also claims: a run that imported from the checkout would
    find no ``double`` in golden/lif.py and fail."""
    for folder in ("spikefab", "golden", "tests"):
        (root / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"spikefab" = "spikefab"\n'
        '"spikefab.golden" = "golden"\n')
    (root / "spikefab" / "__init__.py").write_text("")
    (root / "golden" / "__init__.py").write_text("")
    (root / "golden" / "lif.py").write_text("UNUSED = 1\n\n\ndef double(x):\n"
                                            "    return 2 * x\n")
    (root / "tests" / "test_lif.py").write_text(
        "from spikefab.golden import lif\n\n\ndef test_double():\n"
        "    assert lif.double(4) == 8\n")
    return root


def test_a_campaign_mutates_a_private_copy(tmp_path):
    root = fake_tree(tmp_path / "project")
    before = (root / "golden" / "lif.py").read_text()
    mutants = [mutate.Mutation("triple", "golden/lif.py", "return 2 * x", "return 3 * x",
                               "doubles by three"),
               mutate.Mutation("unused", "golden/lif.py", "UNUSED = 1", "UNUSED = 2",
                               "a constant nothing reads", equivalent="never read")]
    result = mutate.run_campaign(mutants, mutate.Suite(exclude=()), root=root, timeout=60,
                                 log=lambda line: None)
    rows = {row["id"]: row for row in result["mutants"]}
    assert rows["triple"]["status"] == "killed"
    assert rows["triple"]["killed_by"] == "tests/test_lif.py::test_double"
    assert rows["unused"]["status"] == "survived"
    assert result["score"]["golden"] == {"killed": 1, "total": 2, "score": 0.5,
                                         "survived": 1, "declared_equivalent": 1,
                                         "errors": 0}
    assert (root / "golden" / "lif.py").read_text() == before


def test_a_module_loaded_from_outside_the_copy_is_an_error(tmp_path):
    root = fake_tree(tmp_path / "project")
    (tmp_path / "outside.py").write_text("")
    (root / "tests" / "test_leak.py").write_text(
        "import importlib.util, sys\n\n\ndef test_leak():\n"
        f"    spec = importlib.util.spec_from_file_location('spikefab.outside', "
        f"{str(tmp_path / 'outside.py')!r})\n"
        "    sys.modules['spikefab.outside'] = importlib.util.module_from_spec(spec)\n")
    with pytest.raises(mutate.MutationError, match="not isolated: spikefab.outside from"):
        mutate.run_campaign([], mutate.Suite(exclude=()), root=root, timeout=60,
                            log=lambda line: None)
