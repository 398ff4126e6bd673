"""Boards by family (:mod:`spikefab.hw.families`): the records refuse what cannot be
built, and every family field reaches what it is for (the PLL, the UART, the weight
memory, the Yosys script, the nextpnr and pack tools, the report, the programmer).

The Yosys-free checks read the build plan Amaranth writes (``_prepare``: the RTLIL, the
Yosys script and the build script, a few seconds per board); ``tests/test_bitstream.py``
runs Yosys itself."""

import dataclasses
import json
import subprocess
import sys

import pytest

from spikefab import bitstream, bram_outreg, cli
from spikefab.config import PRESETS
from spikefab.hw import board as board_module
from spikefab.hw.families import (BOARDS, ECP5, FAMILIES, ICE40_UP, REPORT_RESOURCES, SPRAM,
                                  Board, Family, board, family_of)
from spikefab.hw.memory import has_spram

# Its module fixture builds each board's plan once: one xdist worker runs the whole file.
pytestmark = pytest.mark.xdist_group("test_families")


def replace_board(name, **changes):
    return dataclasses.replace(BOARDS[name], **changes)


# -- records that cannot be built are refused ---------------------------------------------

def test_init_wrong_family_type():
    with pytest.raises(TypeError, match="family must be a Family"):
        replace_board("icebreaker", family="iCE40 UP")


def test_init_wrong_platform():
    with pytest.raises(ValueError, match="not 'module:Class'"):
        replace_board("icebreaker", platform="ICEBreakerPlatform")


def test_init_wrong_pll_parameters():
    with pytest.raises(ValueError, match=r"missing \['FILTER_RANGE'\], unknown \[\]"):
        replace_board("icebreaker", pll={"DIVR": 0, "DIVF": 79, "DIVQ": 5})
    # The other family's dividers.
    with pytest.raises(ValueError, match="EHXPLLL needs parameters CLKI_DIV"):
        replace_board("ulx3s", pll=BOARDS["icebreaker"].pll)


def test_init_wrong_pll_frequency():
    pll = dict(BOARDS["icebreaker"].pll, DIVF=78)     # 29.625 MHz
    with pytest.raises(ValueError, match="makes 29.625 MHz from 12 MHz, not the target 30"):
        replace_board("icebreaker", pll=pll)
    with pytest.raises(ValueError, match="makes 100 MHz from 25 MHz, not the target 90"):
        replace_board("ulx3s", target_hz=90_000_000)


def test_init_wrong_vco():
    # 100 MHz still, but a VCO of 200 MHz: below the ECP5's 400.
    with pytest.raises(ValueError, match="VCO runs at 200 MHz, outside ECP5's 400–800"):
        replace_board("ulx3s", pll=dict(BOARDS["ulx3s"].pll, CLKOP_DIV=2))
    # 30 MHz from a 480 MHz VCO: below the iCE40's 533.
    with pytest.raises(ValueError, match="VCO runs at 480 MHz"):
        replace_board("icebreaker", pll=dict(BOARDS["icebreaker"].pll, DIVF=39, DIVQ=4))


def test_init_wrong_device():
    wrong = replace_board("ulx3s", platform="icebreaker:ICEBreakerPlatform")
    with pytest.raises(ValueError, match="device iCE40UP5K is not an ECP5"):
        wrong.make_platform()


@pytest.mark.parametrize("change, message", [
    ({"devices": ()}, "no device prefixes"),
    ({"weight_memory": "bram"}, "weight memory 'bram' is not one of"),
    ({"resources": {"luts": "ICESTORM_LC"}}, "resources must name exactly"),
    ({"resources": dict(ICE40_UP.resources, spram=None)}, "SPRAM cell is named exactly"),
    ({"bitstream_suffix": "bin"}, "does not start with '.'"),
    ({"programmer": ("iceprog",)}, "has no '{bitstream}' argument"),
], ids=["devices", "weight_memory", "resources", "spram_cell", "suffix", "programmer"])
def test_init_wrong_family(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ICE40_UP, **change)


def test_unknown_board_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid boards: icebreaker, ulx3s"):
        board("de10")


# -- every family field does its job -------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(BOARDS))
def plan(request, tmp_path_factory):
    """The build plan of the digits preset for one board, as written for the tools, and
    the board top it was made from."""
    return prepared(request.param, PRESETS["digits"], tmp_path_factory.mktemp(request.param))


def prepared(board_name, config, directory):
    """The build plan of ``config`` for ``board_name``, and its board top."""
    tops = []

    class RecordedTop(board_module.BoardTop):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            tops.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(board_module, "BoardTop", RecordedTop)
        the_board, platform, _ = bitstream._prepare(board_name, config, directory, seed=1)
    files = {name: (directory / name).read_text()
             for name in ("spikefab.il", "spikefab.ys", "build_spikefab.sh")}
    files["top"], = tops
    return the_board, platform, files


def check_devices(the_board, platform, files):
    assert the_board.family.matches(platform.device)
    assert family_of(platform) is the_board.family
    assert has_spram(platform) == (the_board.family.weight_memory == SPRAM)


def check_pll(the_board, platform, files):
    """The family's PLL cell, once, with the board's dividers."""
    il, family = files["spikefab.il"], the_board.family
    assert il.count(f"cell \\{family.pll_primitive} ") == 1
    for name in family.pll_parameters:
        assert f"parameter \\{name} {the_board.pll[name]}\n" in il
    output, vco = family.pll_output(the_board.oscillator_hz, the_board.pll)
    assert output == the_board.target_hz
    assert family.vco_range_hz[0] <= vco <= family.vco_range_hz[1]


def check_uart_enables(the_board, platform, files):
    il = files["spikefab.il"]
    assert "uart_0__tx" in il and "uart_0__rx" in il
    for enable in the_board.uart_enables:
        assert f"{enable}_0__o" in il
    for other in {e for b in BOARDS.values() for e in b.uart_enables} - \
            set(the_board.uart_enables):
        assert other not in il


def check_weight_memory(the_board, platform, files):
    """SPRAM cells on the family that keeps its weights there, block RAM elsewhere."""
    assert ("SB_SPRAM256KA" in files["spikefab.il"]) == \
        (the_board.family.weight_memory == SPRAM)


def check_weight_latency(the_board, platform, files):
    """The board top built its chip's weight memory with the family's latency."""
    memory = files["top"].chip.core.weight_memory
    assert memory.read_latency == the_board.weight_latency(PRESETS["digits"]) \
        == the_board.family.weight_latency


def check_long_weight_latency(the_board, platform, files, tmp_path):
    """A board top with ES units, and one with wide lanes, build their weight memory with
    the family's long latency."""
    for config in (PRESETS["digits-es"], PRESETS["digits"].replace(name="digits-wide", lanes=4)):
        _, _, long_files = prepared(the_board.name, config, tmp_path / config.name)
        memory = long_files["top"].chip.core.weight_memory
        assert memory.read_latency == the_board.weight_latency(config) \
            == the_board.family.long_weight_latency, config.name


def check_yosys(the_board, platform, files):
    family, script = the_board.family, files["spikefab.ys"]
    assert f"{family.synth_opts} -top spikefab" in script
    lines = script.splitlines()
    after = [line.format(top="spikefab") for line in family.script_after_synth]
    start = lines.index("tee -q -o stat.json stat -json") - len(after)
    assert lines[start:start + len(after)] == after


def check_tools(the_board, platform, files):
    """nextpnr and the packer of the family, writing the family's bitstream file."""
    family, script = the_board.family, files["build_spikefab.sh"]
    for variable in family.tools():
        assert f'"${variable}"' in script
    others = {v for f in FAMILIES.values() for v in f.tools()} - set(family.tools())
    assert not any(f'"${variable}"' in script for variable in others)
    assert f"spikefab{family.bitstream_suffix}" in script
    assert bitstream.bitstream_path(the_board.name, "digits").name == \
        f"spikefab{family.bitstream_suffix}"


def check_bram_output_registers(the_board, platform, files, tmp_path, monkeypatch):
    """ECP5 builds run Yosys, the output-register pass on its netlist, then the rest of
    Amaranth's script; iCE40 builds run the script whole."""
    (tmp_path / "build_spikefab.sh").write_text(files["build_spikefab.sh"])
    steps = []
    monkeypatch.setattr(bitstream, "_run", lambda command, cwd, what: steps.append(command[-1]))
    monkeypatch.setattr(bram_outreg, "pack_netlist_file",
                        lambda path: steps.append("pack") or [("ram", "B", 3)])
    packed = bitstream._run_build(the_board.family, tmp_path)
    if not the_board.family.bram_output_registers:
        assert (steps, packed) == (["build_spikefab.sh"], 0)
        return
    assert (steps, packed) == (["build_spikefab_synth.sh", "pack", "build_spikefab_pnr.sh"], 3)
    synthesis, rest = ((tmp_path / f"build_spikefab_{half}.sh").read_text().splitlines()
                       for half in ("synth", "pnr"))
    whole = files["build_spikefab.sh"].splitlines()
    assert [line for line in synthesis + rest if line.startswith('"$')] == \
        [line for line in whole if line.startswith('"$')]
    assert synthesis[-1].startswith('"$YOSYS"') and rest[-2].startswith('"$NEXTPNR')
    # Both halves set the tools up as the whole script does.
    setup = whole[:next(i for i, line in enumerate(whole) if line.startswith('"$'))]
    assert synthesis[:len(setup)] == rest[:len(setup)] == setup


def check_report(the_board, platform, files):
    """nextpnr's cell names become the report's fields; the CLI names the logic unit."""
    family = the_board.family
    use = {cell: {"used": 10 + i, "available": 100 + i}
           for i, cell in enumerate(family.resources.values()) if cell is not None}
    figures = bitstream._utilisation(family, use)
    for i, (kind, cell) in enumerate(family.resources.items()):
        assert figures[kind] == (10 + i if cell is not None else 0)
    assert figures["luts_total"] == use[family.resources["luts"]]["available"]
    assert set(REPORT_RESOURCES) <= set(figures)


def check_logic_unit(the_board, platform, files, monkeypatch=None, capsys=None):
    report = {"bitstream": "x", "device": platform.device, "luts": 1, "luts_total": 2,
              "ffs": 3, "bram": 4, "bram_total": 5, "spram": 0, "dsp": 6, "fmax_mhz": 50.0,
              "target_mhz": 30.0, "timing_met": True}
    monkeypatch.setattr(bitstream, "build_bitstream", lambda *args, **kwargs: report)
    assert cli.main(["bitstream", "--board", the_board.name]) == 0
    assert f"1/2 {the_board.family.logic_unit}," in capsys.readouterr().out


def check_programmer(the_board, platform, files):
    run = subprocess.run([sys.executable, "-m", "spikefab.cli", "program", "--board",
                          the_board.name, "--config", "digits", "--out", "out", "--dry-run"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    path = f"out/{the_board.name}/digits/spikefab{the_board.family.bitstream_suffix}"
    expected = [arg.format(bitstream=path, board=the_board.name)
                for arg in the_board.family.programmer]
    assert run.stdout.split() == expected


#: Each family field and the check that shows it used.
FIELD_CHECKS = {
    "name": check_devices, "devices": check_devices,
    "pll_primitive": check_pll, "pll_parameters": check_pll, "pll_output": check_pll,
    "vco_range_hz": check_pll, "instantiate_pll": check_pll,
    "weight_memory": check_weight_memory, "weight_latency": check_weight_latency,
    "long_weight_latency": check_long_weight_latency,
    "nextpnr": check_tools, "pack": check_tools, "bitstream_suffix": check_tools,
    "resources": check_report, "logic_unit": check_logic_unit,
    "synth_opts": check_yosys, "script_after_synth": check_yosys,
    "bram_output_registers": check_bram_output_registers,
    "programmer": check_programmer,
}


def test_every_family_field_has_a_check():
    assert set(FIELD_CHECKS) == {field.name for field in dataclasses.fields(Family)}


@pytest.mark.parametrize("check", sorted(set(FIELD_CHECKS.values()) | {check_uart_enables},
                                         key=lambda f: f.__name__),
                         ids=lambda f: f.__name__.removeprefix("check_"))
def test_family_fields_reach_the_build(plan, check, monkeypatch, capsys, tmp_path):
    if check is check_logic_unit:
        check(*plan, monkeypatch=monkeypatch, capsys=capsys)
    elif check is check_long_weight_latency:
        check(*plan, tmp_path)
    elif check is check_bram_output_registers:
        check(*plan, tmp_path, monkeypatch)
    else:
        check(*plan)


def test_families_differ_where_the_boards_need_it():
    """The two families are the iCEBreaker's and the ULX3S's, and no field is shared by
    accident where a build depends on it."""
    assert BOARDS["icebreaker"].family is ICE40_UP and BOARDS["ulx3s"].family is ECP5
    assert BOARDS["ulx3s"].uart_enables == ("uart_tx_enable",)
    for field in ("pll_primitive", "weight_memory", "weight_latency", "nextpnr", "pack",
                  "bitstream_suffix", "resources", "logic_unit", "programmer",
                  "bram_output_registers"):
        assert getattr(ICE40_UP, field) != getattr(ECP5, field), field


def test_has_spram_asks_the_family():
    class Platform:
        device = "iCE40UP5K"
    assert has_spram(Platform())
    Platform.device = "LFE5U-85F"
    assert not has_spram(Platform())
    Platform.device = "iCE40HX8K"      # an iCE40 of no supported family
    assert not has_spram(Platform()) and family_of(Platform()) is None
    assert not has_spram(None)


def test_program_runs_the_programmer(tmp_path, monkeypatch):
    """With the bitstream built, ``spikefab program`` runs the family's programmer (a fake
    here, named by the variable Amaranth's platforms read); without it, one line."""
    log = tmp_path / "args.json"
    fake = tmp_path / "fakeprog"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(log)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    monkeypatch.setenv("OPENFPGALOADER", str(fake))
    args = ["program", "--board", "ulx3s", "--config", "digits", "--out", str(tmp_path)]
    with pytest.raises(bitstream.BuildError, match="no bitstream .*spikefab.bit; build it"):
        bitstream.program("ulx3s", "digits", out_dir=tmp_path)
    path = bitstream.bitstream_path("ulx3s", "digits", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0")
    assert cli.main(args) == 0
    assert json.loads(log.read_text()) == ["-b", "ulx3s", str(path)]
