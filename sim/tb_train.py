"""cocotb test: on-chip training and evaluation of a dataset, checked against golden.

The job names the dataset, epochs and seed. Training follows :func:`spikefab.train.run_training`
exactly (epoch order from ``XorShift32(seed + 0x5EED)``, the annealed learning-rate shifts
set over the protocol at each epoch start). Every sample's reply is compared with golden's
and the weight signature after every training sample; every weight is read back and
compared at each epoch end. The first mismatch stops the run and fails the test. Then the
test split is inferred on the chip and in golden, sample by sample.
"""

import time

import cocotb
from cocotb.simtime import get_sim_time

from spikefab.golden.datasets import load_dataset
from spikefab.golden.rng import XorShift32

from .harness import check_weights, connect, describe, load_job, write_result
from .scoreboard import Mismatch, Scoreboard
from .verilog import CLOCK_PERIOD_NS


class Totals:
    def __init__(self):
        self.samples = self.correct = self.cycles = self.sops = self.writes = 0

    def add(self, hw, label):
        self.samples += 1
        self.correct += hw.prediction == label
        self.cycles += hw.cycles
        self.sops += hw.sops
        self.writes += hw.weight_writes

    def per_sample(self, value):
        return value / max(self.samples, 1)


@cocotb.test()
async def train_and_evaluate(dut):
    job, config = load_job()
    dataset = load_dataset(job["dataset"], config).limit(job.get("limit_train"),
                                                         job.get("limit_test"))
    events = dataset.kind != "pixels"
    chip = await connect(dut, config)
    board = Scoreboard(config)
    result = {"train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
              "epochs": job["epochs"], "mismatches": 0, "history": []}
    train, test = Totals(), Totals()
    golden_correct = 0
    start_wall, start_time = time.perf_counter(), get_sim_time("ns")
    try:
        rng = XorShift32(job["seed"] + 0x5EED)
        for epoch in range(job["epochs"]):
            order = rng.permutation(len(dataset.y_train))
            shifts = config.lr_shifts_at(epoch)
            await chip.set_lr_shifts(shifts)
            board.golden.lr_shifts = shifts
            epoch_totals = Totals()
            for step, index in enumerate(order):
                sample, label = dataset.x_train[index], int(dataset.y_train[index])
                what = f"epoch {epoch + 1} training sample {step} (train index {index})"
                hw = await chip.train(sample, label, events=events)
                board.compare(what, hw, board.expect(sample, label, events=events))
                await check_weights(dut, chip, board, what)
                train.add(hw, label)
                epoch_totals.add(hw, label)
            weights = await check_weights(dut, chip, board, f"end of epoch {epoch + 1}",
                                          read_back=True)
            if job.get("return_weights"):
                result["weights"] = [w.tolist() for w in weights]
            result["history"].append({"epoch": epoch + 1, "train_accuracy":
                                      epoch_totals.per_sample(epoch_totals.correct)})
            dut._log.info("epoch %d: train accuracy %.4f", epoch + 1,
                          result["history"][-1]["train_accuracy"])
        for index in range(len(dataset.y_test)):
            sample, label = dataset.x_test[index], int(dataset.y_test[index])
            hw = await chip.infer(sample, events=events)
            golden = board.expect(sample, events=events)
            board.compare(f"test sample {index}", hw, golden)
            test.add(hw, label)
            golden_correct += golden.prediction == label
        result["chip_counters"] = await chip.counters()
    except Exception as error:
        result["mismatches"] = int(isinstance(error, Mismatch))
        result["failure"] = describe(error)
        raise
    finally:
        wall = time.perf_counter() - start_wall
        cycles = (get_sim_time("ns") - start_time) / CLOCK_PERIOD_NS
        result.update({
            "compared_samples": board.samples,
            "train_accuracy": train.per_sample(train.correct),
            "hw_test_accuracy": test.per_sample(test.correct),
            "golden_test_accuracy": golden_correct / max(test.samples, 1),
            "cycles_per_train_sample": train.per_sample(train.cycles),
            "cycles_per_infer_sample": test.per_sample(test.cycles),
            "sops_per_train_sample": train.per_sample(train.sops),
            "sops_per_infer_sample": test.per_sample(test.sops),
            "weight_writes_per_train_sample": train.per_sample(train.writes),
            # Weights through the memory port per busy cycle (a read per synaptic
            # operation, a read and a write per weight written); P at most.
            "weights_per_cycle": (train.sops + 2 * train.writes) / max(train.cycles, 1),
            "memory_bound_ratio": train.cycles * config.lanes
            / max(train.sops + 2 * train.writes, 1),
            "simulated_cycles": int(cycles),
            "sim_wall_s": wall,
            "sim_cycles_per_s": cycles / wall if wall > 0 else 0.0,
        })
        write_result(job, result)
