"""cocotb test: on-chip training and evaluation of a dataset, checked against golden.

The job names the dataset, epochs and seed; :func:`spikefab.onchip.train_on_chip` runs
them as :func:`spikefab.train.run_training` orders them. Every sample's reply is compared
with golden's and the weight signature after every training sample; every weight is read
back and compared at each epoch end. The first mismatch stops the run and fails the test.
"""

import time

import cocotb
from cocotb.simtime import get_sim_time

from spikefab.diagnostics import sample_raster
from spikefab.golden.datasets import load_dataset
from spikefab.onchip import Figures, train_on_chip

from spikefab.sim.harness import (check_weights, connect, describe, epoch_weight_check,
                                  load_job, write_result)
from spikefab.sim.progress_feed import FeedWriter
from spikefab.sim.scoreboard import Mismatch, Scoreboard
from spikefab.sim.verilog import CLOCK_PERIOD_NS


@cocotb.test()
async def train_and_evaluate(dut):
    job, config = load_job()
    dataset = load_dataset(job["dataset"], config).limit(job.get("limit_train"),
                                                         job.get("limit_test"))
    chip = await connect(dut, config)
    board = Scoreboard(config)
    figures = Figures()
    result = {"train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
              "epochs": job["epochs"], "mismatches": 0}

    async def after_sample(what):
        await check_weights(dut, chip, board, what)

    after_epoch = epoch_weight_check(dut, chip, board, figures, job, result)

    start_wall, start_time = time.perf_counter(), get_sim_time("ns")
    on_sample, feed = None, None
    if job.get("progress"):   # the host draws it on the user's terminal (progress_feed)
        feed = FeedWriter(job["progress"],
                          job["epochs"] * len(dataset.y_train) + len(dataset.y_test))

        def on_sample(phase, totals):
            feed.update(done=figures.train.samples + figures.test.samples, phase=phase,
                        correct=totals.correct, seen=totals.samples,
                        cycles=(get_sim_time("ns") - start_time) / CLOCK_PERIOD_NS)
    try:
        await train_on_chip(chip, board, dataset, epochs=job["epochs"], seed=job["seed"],
                            figures=figures, after_sample=after_sample,
                            after_epoch=after_epoch, log=dut._log.info, on_sample=on_sample)
        result["chip_counters"] = await chip.counters()
        # Golden's run of one test sample with the trained weights (equal to the chip's).
        result["raster"] = sample_raster(board.golden, dataset)
    except Exception as error:
        result["mismatches"] = int(isinstance(error, Mismatch))
        result["failure"] = describe(error)
        raise
    finally:
        if feed is not None:
            feed.close()
        wall = time.perf_counter() - start_wall
        cycles = (get_sim_time("ns") - start_time) / CLOCK_PERIOD_NS
        result.update(figures.summary(config))
        result.update({
            "compared_samples": board.samples,
            "simulated_cycles": int(cycles),
            "sim_wall_s": wall,
            "sim_cycles_per_s": cycles / wall if wall > 0 else 0.0,
        })
        write_result(job, result)
