"""ECP5 block RAM output registers: a netlist pass between Yosys and nextpnr.

A DP16KD answers a read 5.8 ns after the clock (``REGMODE = "NOREG"``, all Yosys's
mapping offers), and with most of the ECP5's block RAMs in use the first flip-flop that
takes the word is often placed far from its RAM, among the logic the word feeds: 4–5 ns
of route after the 5.8 ns. Each DP16KD port has its own output register
(``REGMODE = "OUTREG"``) with its own clock enable (``OCE``) and the port's reset
(``RST``): a RAM port whose every output bit drives only the data input of one flip-flop
of the RAM's clock can take those flip-flops into the RAM, and its word then leaves the
RAM a register's clock-to-output after the clock.

The design is unchanged cycle for cycle: a read's data still arrives in the flip-flops'
cycle, which is now the output register's; the RAM stage before it, which holds its word
while ``CE`` is low, is the same. What the pass requires of each flip-flop, beside its
one RAM output, is what the output register can do: the RAM port's clock, uninverted;
one clock enable for the whole port (``OCE``, inverted through ``OCEMUX`` if the
flip-flops' is); no reset, or one synchronous or asynchronous reset to zero for the whole
port (``RST``, with the RAM's ``RESETMODE``, when the RAM's other port does not reset in
the other mode); power-up zero, and the RAM's global-reset setting. A port that does not
qualify is left as Yosys mapped it.

One port qualifies and is still left alone: one whose flip-flops' outputs come back to
the same RAM's inputs through logic alone, as a read-modify-write does (the synapse
engine's input counts: read, add one, write). There the register in the fabric splits
the route out of the RAM and the route back into two cycles; in the RAM, both would fall
in one (``mnist-deep``: 95.8 MHz on that loop).

The pass works on Yosys's JSON netlist (``write_json``), as nextpnr reads it: each
flip-flop taken in is removed and its output net joined to the RAM pin that fed it.
"""

import json
import os
from collections import defaultdict
from pathlib import Path


__all__ = ["pack_output_registers", "pack_netlist_file"]

RAM = "DP16KD"
FLIP_FLOP = "TRELLIS_FF"
DATA_PINS = 18
#: Reset mode of the DP16KD for a flip-flop's ``SRMODE``.
RESET_MODES = {"LSR_OVER_CE": "SYNC", "ASYNC": "ASYNC"}
#: Cells whose inputs do not reach their outputs in the same cycle.
CLOCKED = {FLIP_FLOP, RAM, "MULT18X18D", "ALU54B"}
#: Nets a search for a path back to the RAM visits at most (the cone behind a RAM's
#: register is small unless it feeds a wide datapath, which does not lead back).
SEARCH_LIMIT = 20000


def _param(cell, name, default=None):
    """A cell's parameter as text: Yosys's JSON marks a string that looks like bits with
    a trailing space."""
    value = cell["parameters"].get(name, default)
    return value.rstrip(" ") if isinstance(value, str) else value


def _sinks(module):
    """Net bit → the ``(cell, port)`` inputs it drives (module outputs as ``(None,
    name)``)."""
    sinks = defaultdict(list)
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) != "output":
                for bit in bits:
                    if isinstance(bit, int):
                        sinks[bit].append((name, port))
    for name, port in module.get("ports", {}).items():
        if port["direction"] != "input":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    sinks[bit].append((None, name))
    return sinks


def _net(cell, port):
    return cell["connections"].get(port, ["0"])[0]


def _register_of(module, ram, side, sinks):
    """The flip-flops a RAM port's outputs feed, as ``[(pin bit, flip-flop name)]``, and
    their shared control ``(ce_mux, ce, lsr, reset_mode)``; None if the port does not
    qualify (see the module's text)."""
    cells = module["cells"]
    taken, controls = [], set()
    for i in range(DATA_PINS):
        bit = _net(ram, f"DO{side}{i}")
        if not isinstance(bit, int) or not sinks.get(bit):
            continue
        if len(sinks[bit]) != 1:
            return None
        name, port = sinks[bit][0]
        ff = cells.get(name)
        if ff is None or ff["type"] != FLIP_FLOP or port != "DI":
            return None
        if (_param(ff, "CLKMUX") != "CLK" or _net(ff, "CLK") != _net(ram, f"CLK{side}")
                or _param(ff, "REGSET", "RESET") != "RESET"
                or _param(ff, "GSR", "DISABLED") != _param(ram, "GSR", "DISABLED")):
            return None
        ce_mux = _param(ff, "CEMUX", "1")
        if ce_mux not in ("1", "CE", "INV"):
            return None
        ce = "1" if ce_mux == "1" else _net(ff, "CE")
        lsr_mux = _param(ff, "LSRMUX", "0")
        if lsr_mux == "LSR" and _net(ff, "LSR") not in ("0", "x"):
            mode = RESET_MODES.get(_param(ff, "SRMODE", "LSR_OVER_CE"))
            if mode is None:
                return None
            lsr = _net(ff, "LSR")
        elif lsr_mux in ("0", "LSR"):
            lsr, mode = "0", None
        else:
            return None
        taken.append((bit, name))
        controls.add((ce_mux, ce, lsr, mode))
    if not taken or len(controls) != 1:
        return None
    return taken, controls.pop()


def _returns_to(module, ram_name, taken, sinks):
    """Whether the outputs of the flip-flops ``taken`` reach an input of RAM
    ``ram_name`` through logic alone (no clocked cell between)."""
    cells = module["cells"]
    frontier = [_net(cells[name], "Q") for _, name in taken]
    seen = set(frontier)
    while frontier and len(seen) < SEARCH_LIMIT:
        for cell_name, _ in sinks.get(frontier.pop(), ()):
            if cell_name == ram_name:
                return True
            cell = cells.get(cell_name)
            if cell is None or cell["type"] in CLOCKED:
                continue
            for port, bits in cell["connections"].items():
                if cell["port_directions"].get(port) == "output":
                    fresh = [b for b in bits if isinstance(b, int) and b not in seen]
                    seen.update(fresh)
                    frontier.extend(fresh)
    return False


def _reset_mode_fits(ram, side, mode):
    """Whether the RAM can reset port ``side`` in ``mode``: its other port has no reset,
    or one in the same mode."""
    other = "B" if side == "A" else "A"
    return mode is None or _net(ram, f"RST{other}") in ("0", "x") or \
        _param(ram, "RESETMODE", "SYNC") == mode


def _substitute(module, joined):
    """Every use of a net bit in ``joined`` becomes the bit it maps to."""
    def mapped(bits):
        return [joined.get(b, b) if isinstance(b, int) else b for b in bits]
    for cell in module["cells"].values():
        for port, bits in cell["connections"].items():
            cell["connections"][port] = mapped(bits)
    for item in (*module["netnames"].values(), *module.get("ports", {}).values()):
        item["bits"] = mapped(item["bits"])


def _take_in(module, ram, side, taken, control, joined):
    """Remove the flip-flops ``taken`` (their outputs to be joined to the RAM pins, in
    ``joined``) and set the RAM port's output register up as they were."""
    ce_mux, ce, lsr, mode = control
    for bit, name in taken:
        q = _net(module["cells"].pop(name), "Q")
        if isinstance(q, int):
            joined[q] = bit
    ram["parameters"][f"REGMODE_{side}"] = "OUTREG"
    ram["connections"][f"OCE{side}"] = [ce]
    ram["parameters"][f"OCE{side}MUX"] = "INV" if ce_mux == "INV" else f"OCE{side}"
    if mode is not None:
        ram["connections"][f"RST{side}"] = [lsr]
        ram["parameters"]["RESETMODE"] = mode
        ram["parameters"]["ASYNC_RESET_RELEASE"] = mode


def pack_output_registers(netlist):
    """Take the flip-flops behind DP16KD ports into their output registers, in place.
    Returns ``[(RAM cell name, port "A"/"B", flip-flops taken in)]``."""
    packed = []
    for module in netlist["modules"].values():
        rams = [(n, c) for n, c in module.get("cells", {}).items() if c["type"] == RAM]
        if not rams:
            continue
        # Each RAM port's flip-flops are its own (one sink a pin), so one count of the
        # sinks serves every port, and the nets are joined once at the end.
        sinks, joined = _sinks(module), {}
        for name, ram in rams:
            for side in "AB":
                if _param(ram, f"REGMODE_{side}", "NOREG") != "NOREG":
                    continue
                found = _register_of(module, ram, side, sinks)
                if found is None or not _reset_mode_fits(ram, side, found[1][3]) or \
                        _returns_to(module, name, found[0], sinks):
                    continue
                _take_in(module, ram, side, *found, joined)
                packed.append((name, side, len(found[0])))
        if joined:
            _substitute(module, joined)
    return packed


def pack_netlist_file(path):
    """:func:`pack_output_registers` on a Yosys JSON file, rewritten atomically."""
    path = Path(path)
    netlist = json.loads(path.read_text())
    packed = pack_output_registers(netlist)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(netlist))
    os.replace(partial, path)
    return packed
