"""The ECP5 block RAM output-register pass (spikefab.bram_outreg) on small netlists in
Yosys's JSON form: what it takes into a RAM, how it wires the register's controls, and
every case it must leave alone. Its run on real Yosys output is in test_bitstream."""

import copy

import pytest

from spikefab.bram_outreg import pack_output_registers

CLK, CE, RST, OTHER_CLK, LOGIC_OUT = 2, 3, 4, 5, 6
DO = [10, 11]      # the RAM's two used output bits on port B
Q = [20, 21]       # the flip-flops' outputs
USER = 30          # a LUT reading the flip-flops


def _ram():
    connections = {f"DOB{i}": [DO[i] if i < 2 else 100 + i] for i in range(18)}
    connections.update({f"DOA{i}": [200 + i] for i in range(18)})
    connections.update({"CLKA": [CLK], "CLKB": [CLK], "CEB": [7], "OCEB": ["1"],
                        "OCEA": ["1"], "RSTA": ["0"], "RSTB": ["0"]})
    directions = {p: "output" if p.startswith("DO") else "input" for p in connections}
    return {"type": "DP16KD", "port_directions": directions, "connections": connections,
            "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG", "GSR": "DISABLED",
                           "RESETMODE": "ASYNC", "ASYNC_RESET_RELEASE": "ASYNC",
                           "CLKBMUX": "CLKB", "CLKAMUX": "CLKA"}}


def _ff(d, q, **parameters):
    params = {"CLKMUX": "CLK", "CEMUX": "CE", "LSRMUX": "LSR", "SRMODE": "LSR_OVER_CE",
              "REGSET": "RESET", "GSR": "DISABLED"}
    params.update(parameters)
    return {"type": "TRELLIS_FF",
            "port_directions": {"CLK": "input", "DI": "input", "CE": "input",
                                "LSR": "input", "Q": "output"},
            "connections": {"CLK": [CLK], "DI": [d], "CE": [CE], "LSR": [RST], "Q": [q]},
            "parameters": params}


def _lut(inputs, out):
    return {"type": "LUT4", "parameters": {"INIT": "1000000000000000"},
            "port_directions": {"A": "input", "B": "input", "Z": "output"},
            "connections": {"A": [inputs[0]], "B": [inputs[1]], "Z": [out]}}


def _netlist():
    cells = {"ram": _ram(), "ff0": _ff(DO[0], Q[0]), "ff1": _ff(DO[1], Q[1]),
             "user": _lut(Q, USER)}
    return {"modules": {"top": {
        "ports": {"out": {"direction": "output", "bits": [USER]}},
        "cells": cells,
        "netnames": {"word": {"bits": Q}, "ram_out": {"bits": DO}}}}}


def test_flip_flops_behind_a_port_become_its_output_register():
    netlist = _netlist()
    assert pack_output_registers(netlist) == [("ram", "B", 2)]
    module = netlist["modules"]["top"]
    ram = module["cells"]["ram"]
    assert set(module["cells"]) == {"ram", "user"}
    assert ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["parameters"]["REGMODE_A"] == "NOREG"
    # The register's clock enable and synchronous reset are the flip-flops'.
    assert ram["connections"]["OCEB"] == [CE]
    assert ram["parameters"]["OCEBMUX"] == "OCEB"
    assert ram["connections"]["RSTB"] == [RST]
    assert ram["parameters"]["RESETMODE"] == "SYNC"
    assert ram["connections"]["RSTA"] == ["0"]
    # What read the flip-flops reads the RAM's pins, bit for bit.
    assert module["cells"]["user"]["connections"]["A"] == [DO[0]]
    assert module["cells"]["user"]["connections"]["B"] == [DO[1]]
    assert module["netnames"]["word"]["bits"] == DO


def test_an_inverted_enable_and_no_reset_are_carried_over():
    netlist = _netlist()
    for name in ("ff0", "ff1"):
        netlist["modules"]["top"]["cells"][name]["parameters"].update(CEMUX="INV",
                                                                       LSRMUX="0")
    assert pack_output_registers(netlist) == [("ram", "B", 2)]
    ram = netlist["modules"]["top"]["cells"]["ram"]
    assert ram["connections"]["OCEB"] == [CE]
    assert ram["parameters"]["OCEBMUX"] == "INV"
    assert ram["connections"]["RSTB"] == ["0"]
    assert ram["parameters"]["RESETMODE"] == "ASYNC"     # unchanged: no reset used


def test_an_always_enabled_register_leaves_the_output_enable_on():
    netlist = _netlist()
    for name in ("ff0", "ff1"):
        netlist["modules"]["top"]["cells"][name]["parameters"]["CEMUX"] = "1 "
    assert pack_output_registers(netlist) == [("ram", "B", 2)]
    assert netlist["modules"]["top"]["cells"]["ram"]["connections"]["OCEB"] == ["1"]


def _edit(change):
    netlist = _netlist()
    change(netlist["modules"]["top"]["cells"])
    return netlist


REFUSED = {
    "an output also read by logic": lambda c: c.update(
        peek=_lut([DO[0], DO[1]], 40)),
    "an output through logic first": lambda c: (
        c.update(peek=_lut([DO[0], 1], 41)),
        c["ff0"]["connections"].update(DI=[41])),
    "another clock": lambda c: c["ff1"]["connections"].update(CLK=[OTHER_CLK]),
    "the falling edge": lambda c: c["ff0"]["parameters"].update(CLKMUX="INV"),
    "two clock enables": lambda c: c["ff1"]["connections"].update(CE=[8]),
    "an enabled and an always-on flip-flop": lambda c: c["ff1"]["parameters"].update(
        CEMUX="1"),
    "a power-up one": lambda c: c["ff0"]["parameters"].update(REGSET="SET"),
    "a reset to one": lambda c: [c[n]["parameters"].update(REGSET="SET")
                                 for n in ("ff0", "ff1")],
    "the global reset": lambda c: c["ff0"]["parameters"].update(GSR="ENABLED"),
    "a reset on the other port in the other mode": lambda c: (
        c["ram"]["connections"].update(RSTA=[9]),
        c["ram"]["parameters"].update(RESETMODE="ASYNC")),
    "an output register already": lambda c: c["ram"]["parameters"].update(
        REGMODE_B="OUTREG"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_port_that_does_not_qualify_is_left_as_it_was(case):
    netlist = _edit(REFUSED[case])
    before = copy.deepcopy(netlist)
    assert pack_output_registers(netlist) == []
    assert netlist == before


def test_a_module_output_read_from_the_ram_keeps_its_pin():
    netlist = _netlist()
    netlist["modules"]["top"]["ports"]["raw"] = {"direction": "output", "bits": [DO[0]]}
    assert pack_output_registers(netlist) == []


def test_a_register_whose_word_returns_to_its_ram_stays_in_the_fabric():
    # Read, add one, write back (a counter in a RAM): in the RAM, the register would put
    # the route out of the RAM and the route back into one cycle.
    netlist = _netlist()
    cells = netlist["modules"]["top"]["cells"]
    cells["increment"] = _lut([USER, Q[1]], 42)
    cells["ram"]["connections"]["DIA0"] = [42]
    cells["ram"]["port_directions"]["DIA0"] = "input"
    assert pack_output_registers(netlist) == []
    # Through a flip-flop it is a cycle later: the port is packed.
    cells["ram"]["connections"]["DIA0"] = [43]
    cells["staged"] = _ff(42, 43)
    cells["staged"]["connections"]["CE"] = [9]
    assert pack_output_registers(netlist) == [("ram", "B", 2)]
