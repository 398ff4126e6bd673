"""cocotb test: ``spikefab board`` over a pseudo-terminal bridged to the simulated chip.

The test opens a pty pair, starts ``spikefab board --port <pty>`` as a separate process
(pyserial, as with a real board) and forwards bytes between the pty and the chip's byte
streams until the host exits; the host's JSON result becomes the test's result.
"""

import json
import os
import subprocess
import sys

import cocotb
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer

from spikefab.sim.harness import load_job, reporting
from spikefab.sim.cocotb_transport import CocotbTransport
from spikefab.sim.verilog import CLOCK_PERIOD_NS


@cocotb.test()
async def serial_host(dut):
    job, config = load_job()
    await reporting(job, _serial_host(dut, job))


async def _serial_host(dut, job):
    transport = CocotbTransport(dut)
    await transport.reset()
    master, slave = os.openpty()
    os.set_blocking(master, False)
    host = subprocess.Popen(
        [sys.executable, "-m", "spikefab.cli", "board", "--port", os.ttyname(slave),
         *job["args"], "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    forwarded = 0
    try:
        while host.poll() is None:
            try:
                request = os.read(master, 4096)
            except (BlockingIOError, OSError):
                request = b""
            if request:
                await transport.send(request)
                forwarded += len(request)
            reply = await transport.take_available()
            if reply:
                os.write(master, reply)
            elif not request:
                # Idle: sleep until the chip answers or 2,000 cycles pass (the host may
                # be busy); no Python per cycle while the chip computes.
                await First(RisingEdge(dut.tx__valid), Timer(2000 * CLOCK_PERIOD_NS, "ns"))
                await FallingEdge(dut.clk)
        stdout, stderr = host.communicate(timeout=30)
    finally:
        if host.poll() is None:
            host.kill()
        os.close(master)
        os.close(slave)
    if host.returncode != 0:
        raise AssertionError(f"spikefab board exited {host.returncode}: {stderr.strip()}")
    return {**json.loads(stdout), "bytes_forwarded": forwarded}
