"""What every cocotb test of ``spikefab_tb`` starts from: its job, a connected chip."""

import json
import os

from spikefab.config import Config
from spikefab.driver import Chip

from spikefab.sim.cocotb_transport import CocotbTransport
from spikefab.sim.scoreboard import Mismatch


__all__ = ["load_job", "connect", "write_result", "reporting", "describe", "check_weights",
           "epoch_weight_check"]


def load_job():
    with open(os.environ["SPIKEFAB_SIM_JOB"]) as file:
        job = json.load(file)
    return job, Config.from_dict(job["config"])


async def connect(dut, config, **transport_options):
    """Wait out the reset, then check the chip was built for ``config``."""
    transport = CocotbTransport(dut, **transport_options)
    await transport.reset()
    chip = Chip(transport, config)
    await chip.check()
    return chip


def write_result(job, result):
    with open(job["result"], "w") as file:
        json.dump(result, file, indent=1)


def describe(error):
    """A failure as the report shows it: a mismatch as is, anything else with its type."""
    return str(error) if isinstance(error, Mismatch) else f"{type(error).__name__}: {error}"


async def reporting(job, body):
    """Await the test ``body`` and write what it returns, or its failure, as the result."""
    try:
        result = await body
    except Exception as error:
        write_result(job, {"failure": describe(error)})
        raise
    write_result(job, result)


async def check_weights(dut, chip, board, what, *, read_back=False, signature=True):
    """Compare the weight signature with golden's; read every weight back on a
    mismatch (to name the first one) or when ``read_back`` asks for a full dump.

    Without a ``signature`` in the testbench every call reads every weight back.
    Returns the weights read back, if any."""
    matches = not signature or board.signature_matches(
        dut.weight_signature.value.to_unsigned())
    read_back = read_back or not signature
    weights = None
    if read_back or not matches:
        weights = await chip.read_weights()
        board.compare_weights(what, weights)
    if not matches:
        raise Mismatch(f"{what}: the weight signature differs from golden's but every "
                       f"weight read back equals golden (a stray write outside the "
                       f"weights?)")
    return weights


def epoch_weight_check(dut, chip, board, figures, job, result):
    """The ``after_epoch`` of a training test: read every weight back and compare it with
    golden's; keep them in ``figures`` (the chip's NeuroBench figures) and, when the job
    asks (``return_weights``), in the ``result``."""
    async def after_epoch(epoch):
        weights = await check_weights(dut, chip, board, f"end of epoch {epoch + 1}",
                                      read_back=True)
        figures.chip_weights = weights
        if job.get("return_weights"):
            result["weights"] = [w.tolist() for w in weights]
    return after_epoch
