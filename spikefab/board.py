"""``spikefab board``: train and evaluate on a real chip over a serial port.

The host writes the initial weights (the UP5K's SPRAM starts undefined), then trains and
infers sample by sample through :class:`~spikefab.driver.Chip`, exactly as
:func:`spikefab.train.run_training` orders the samples, while a golden twin runs the same
samples: every reply is compared, and the weights are read back and compared at the end.
"""

import asyncio
import time

from .driver import Chip, SerialTransport
from .golden.datasets import load_dataset
from .golden.rng import XorShift32


__all__ = ["run_board"]


async def train_on_chip(chip, dataset, *, epochs, seed, log=print):
    """Train and evaluate on ``chip``; return the figures, golden-checked throughout."""
    from .sim.scoreboard import Scoreboard

    config = chip.config
    board = Scoreboard(config)
    events = dataset.kind != "pixels"
    await chip.check()
    await chip.write_weights(board.golden.weights)
    await chip.set_margin(board.golden.margin)
    start = time.perf_counter()
    rng = XorShift32(seed + 0x5EED)
    train_correct = train_samples = writes = cycles = 0
    for epoch in range(epochs):
        order = rng.permutation(len(dataset.y_train))
        shifts = config.lr_shifts_at(epoch)
        await chip.set_lr_shifts(shifts)
        board.golden.lr_shifts = shifts
        train_correct = 0
        for step, index in enumerate(order):
            sample, label = dataset.x_train[index], int(dataset.y_train[index])
            hw = await chip.train(sample, label, events=events)
            board.compare(f"epoch {epoch + 1} sample {step}", hw,
                          board.expect(sample, label, events=events))
            train_correct += hw.prediction == label
            train_samples += 1
            writes += hw.weight_writes
            cycles += hw.cycles
        log(f"epoch {epoch + 1}: train accuracy {train_correct / max(len(order), 1):.2%}")
    test_correct = 0
    for index in range(len(dataset.y_test)):
        sample, label = dataset.x_test[index], int(dataset.y_test[index])
        hw = await chip.infer(sample, events=events)
        board.compare(f"test sample {index}", hw, board.expect(sample, events=events))
        test_correct += hw.prediction == label
    board.compare_weights("after training", await chip.read_weights())
    wall = time.perf_counter() - start
    return {
        "epochs": epochs, "train_samples": len(dataset.y_train),
        "test_samples": len(dataset.y_test),
        "train_accuracy": train_correct / max(len(dataset.y_train), 1) if epochs else 0.0,
        "test_accuracy": test_correct / max(len(dataset.y_test), 1),
        "equal_to_golden": True,
        "weight_writes_per_sample": writes / max(train_samples, 1),
        "cycles_per_train_sample": cycles / max(train_samples, 1),
        "train_samples_per_s": train_samples / wall if wall > 0 else 0.0,
        "wall_s": wall,
    }


def run_board(port, config, dataset_spec, *, epochs, seed, baud=115200, timeout=10.0,
              limit_train=None, limit_test=None, log=print):
    dataset = load_dataset(dataset_spec, config).limit(limit_train, limit_test)
    transport = SerialTransport(port, baudrate=baud, timeout=timeout)
    try:
        chip = Chip(transport, config)
        return asyncio.run(train_on_chip(chip, dataset, epochs=epochs, seed=seed, log=log))
    finally:
        transport.close()
