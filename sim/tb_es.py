"""cocotb test: EGGROLL training on a chip built with ``es_on_chip``, checked against
golden's ES.

The job names the dataset, epochs and seed; :func:`spikefab.onchip_es.train_es_on_chip`
runs the generations as ``spikefab train --algo eggroll`` orders them. Every member's
fitness and every update's weight writes are compared with golden's, the weight
signature after every generation, every weight read back at each epoch end, and every
test sample's reply. The first mismatch stops the run and fails the test.
"""

import time

import cocotb
from cocotb.simtime import get_sim_time

from spikefab.golden.datasets import load_dataset
from spikefab.golden.es import GoldenES
from spikefab.onchip_es import ESFigures, train_es_on_chip

from spikefab.sim.harness import (check_weights, connect, describe, epoch_weight_check,
                                  load_job, write_result)
from spikefab.sim.progress_feed import FeedWriter
from spikefab.sim.scoreboard import Mismatch, Scoreboard
from spikefab.sim.verilog import CLOCK_PERIOD_NS


@cocotb.test()
async def es_train_and_evaluate(dut):
    job, config = load_job()
    dataset = load_dataset(job["dataset"], config).limit(job.get("limit_train"),
                                                         job.get("limit_test"))
    chip = await connect(dut, config)
    board = Scoreboard(config)
    board.golden = GoldenES(config, board.golden.weights)
    figures = ESFigures()
    result = {"algo": "eggroll", "train_samples": len(dataset.y_train),
              "test_samples": len(dataset.y_test), "epochs": job["epochs"],
              "mismatches": 0}

    async def after_generation(what):
        await check_weights(dut, chip, board, what)

    after_epoch = epoch_weight_check(dut, chip, board, figures, job, result)

    start_wall, start_time = time.perf_counter(), get_sim_time("ns")
    on_sample, feed = None, None
    if job.get("progress"):
        evaluations = job["epochs"] * len(dataset.y_train) * config.es_population
        feed = FeedWriter(job["progress"], evaluations + len(dataset.y_test))

        def on_sample(phase, totals):
            feed.update(done=figures.evaluations.samples + figures.test.samples,
                        phase=phase, correct=totals.correct, seen=totals.samples,
                        cycles=(get_sim_time("ns") - start_time) / CLOCK_PERIOD_NS)
    try:
        await train_es_on_chip(chip, board, dataset, epochs=job["epochs"], seed=job["seed"],
                               figures=figures, after_generation=after_generation,
                               after_epoch=after_epoch, log=dut._log.info,
                               on_sample=on_sample)
        result["chip_counters"] = await chip.counters()
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
            # Each training sample counts once however many members ran it.
            "compared_samples": figures.train_samples + figures.test.samples,
            "simulated_cycles": int(cycles),
            "sim_wall_s": wall,
            "sim_cycles_per_s": cycles / wall if wall > 0 else 0.0,
        })
        write_result(job, result)
