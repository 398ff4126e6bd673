"""scripts/system-deps.sh, the one check of the system tools that `make test`, `make sim`
and `.ci/run` need: it installs what is missing when it may, and otherwise refuses at
once with one line naming the command to run.

Each test runs the script with a PATH of fakes (``id``, ``sudo``, ``apt-get``) so that
nothing is installed and the user is whoever the test says."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "system-deps.sh"
TOOLS = ("iverilog", "g++", "make", "perl")


def fake(folder, name, body):
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A fresh machine: a PATH holding only the shell and the fakes given."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "env", "sh", "true"):
        os.symlink(shutil.which(tool), bin_ / tool)
    log = tmp_path / "apt.log"

    class Machine:
        path = bin_

        def user(self, uid, sudo=False):
            fake(bin_, "id", f'[ "$1" = -u ] && echo {uid}')
            if sudo is not None:
                # sudo -n true succeeds only with passwordless sudo; then sudo runs the rest
                fake(bin_, "sudo", ('[ "$1" = -n ] && shift\n'
                                    + ("" if sudo else "exit 1\n") + 'exec "$@"'))

        def apt(self):
            """apt-get that logs its arguments and 'installs' tools as fakes."""
            fake(bin_, "apt-get", f'echo "$(id -u) $*" >> {log}\n'
                                  f'[ "$1" = install ] || exit 0\n'
                                  f'for p in "$@"; do case "$p" in -*|install) ;; '
                                  f'*) printf "#!/bin/sh\\n" > {bin_}/"$p"; '
                                  f'/bin/chmod +x {bin_}/"$p";; esac; done')

        def have(self, *tools):
            for tool in tools:
                fake(bin_, tool, "exit 0")

        def apt_calls(self):
            return log.read_text().splitlines() if log.exists() else []

        def run(self, *needs, **env):
            start = time.monotonic()
            run = subprocess.run([str(bin_ / "bash"), str(SCRIPT), *needs],
                                 env={"PATH": str(bin_), **env}, capture_output=True,
                                 text=True, timeout=60)
            run.seconds = time.monotonic() - start
            return run

    return Machine()


def test_nothing_to_do_when_everything_is_there(machine):
    machine.user(1000)
    machine.apt()
    machine.have(*TOOLS)
    run = machine.run(*TOOLS)
    assert run.returncode == 0 and run.stderr == "" and machine.apt_calls() == []


def test_a_user_who_cannot_install_is_told_the_command_at_once(machine):
    machine.user(1000, sudo=False)
    machine.apt()
    machine.have("make")
    run = machine.run(*TOOLS)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "system-deps: iverilog g++ perl missing; install them with: "
        "sudo apt-get install -y iverilog g++ perl"]
    assert run.seconds < 5
    assert machine.apt_calls() == []


def test_root_installs_what_is_missing(machine):
    machine.user(0, sudo=None)
    machine.apt()
    machine.have("g++", "make", "perl")
    run = machine.run(*TOOLS)
    assert run.returncode == 0, run.stderr
    assert machine.apt_calls() == ["0 update -q", "0 install -y -q iverilog"]


def test_passwordless_sudo_installs_what_is_missing(machine):
    machine.user(1000, sudo=True)
    machine.apt()
    run = machine.run("iverilog", "g++")
    assert run.returncode == 0, run.stderr
    assert machine.apt_calls() == ["1000 update -q", "1000 install -y -q iverilog g++"]


def test_fashion_mnist_is_a_debian_package(machine, tmp_path):
    machine.user(1000, sudo=False)
    machine.apt()
    folder = tmp_path / "fashion-mnist"
    run = machine.run("fashion-mnist", SPIKEFAB_FASHION_MNIST_DIR=str(folder))
    assert run.returncode == 1
    assert "sudo apt-get install -y dataset-fashion-mnist" in run.stderr
    folder.mkdir()
    assert machine.run("fashion-mnist", SPIKEFAB_FASHION_MNIST_DIR=str(folder)).returncode == 0


def test_without_apt_get_it_names_what_is_missing(machine):
    machine.user(0, sudo=None)
    run = machine.run("iverilog")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "system-deps: iverilog missing and no apt-get here; install it with your "
        "system's package manager"]


def test_a_failed_install_is_one_line(machine):
    machine.user(0, sudo=None)
    fake(machine.path, "apt-get", "echo 'E: Unable to locate package' >&2; exit 100")
    run = machine.run("iverilog")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        "system-deps: apt-get could not install iverilog (see above)")


def test_an_unknown_need_is_refused(machine):
    machine.user(0)
    run = machine.run("verilator")
    assert run.returncode == 2 and "unknown tool 'verilator'" in run.stderr


# -- the Makefile and CI call it first -----------------------------------------------------

def dry_run(target, *variables):
    """The commands `make -n TARGET` would run, in order (nothing runs)."""
    run = subprocess.run(["make", "-n", "-C", str(ROOT), target, *variables],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [line for line in run.stdout.splitlines() if not line.startswith("make")]


@pytest.mark.parametrize("target, variables, needs", [
    ("test", [], "iverilog g++ make perl"),
    ("sim", [], "g++ make perl"),
    ("sim", ["SIM=icarus", "DATASET=fashion-mnist"], "g++ make perl iverilog fashion-mnist"),
])
def test_make_checks_the_system_first(target, variables, needs):
    commands = dry_run(target, *variables)
    assert commands[0] == f"scripts/system-deps.sh {needs}", commands


def test_make_test_refuses_within_seconds_for_a_user_who_cannot_install(machine):
    """The real `make test` on a machine without Icarus, as a user without sudo."""
    assert dry_run("test")[0].startswith("scripts/system-deps.sh")   # before running it
    machine.user(1000, sudo=False)
    machine.apt()
    os.symlink(shutil.which("make"), machine.path / "make")
    machine.have("g++", "perl")
    start = time.monotonic()
    run = subprocess.run(["make", "-C", str(ROOT), "test"], capture_output=True, text=True,
                         env={"PATH": str(machine.path)}, timeout=60)
    assert run.returncode != 0
    assert time.monotonic() - start < 5
    assert ("system-deps: iverilog missing; install it with: "
            "sudo apt-get install -y iverilog") in run.stderr.splitlines()
    assert "pytest" not in run.stdout + run.stderr


def test_ci_uses_the_script():
    text = (ROOT / ".ci" / "run").read_text()
    assert "scripts/system-deps.sh" in text and "apt-get" not in text
