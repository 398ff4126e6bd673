"""Online training of a chip through the host driver, checked against a golden twin.

The loop shared by ``make sim`` (:mod:`sim.tb_train`) and ``spikefab board``: epoch ``e``
visits the training set in the order :func:`spikefab.train.run_training` uses
(``XorShift32(seed + ORDER_SEED_OFFSET)``) with the annealed learning-rate shifts set
over the protocol; every reply is compared with golden's; then the test split is inferred. The
figures are kept in a :class:`Figures` the caller holds, so they survive a mismatch; they
include NeuroBench's metrics of the test split (:mod:`spikefab.metrics`), golden's twin's
(``neurobench``) and those the chip counts itself (``neurobench_chip``).
"""

from spikefab.cost import memory_port_bound
from spikefab.golden.rng import ORDER_SEED_OFFSET, XorShift32
from spikefab.metrics import NeuroBenchMeter, chip_figures


__all__ = ["Totals", "Figures", "train_on_chip", "infer_test_split"]


class Totals:
    """Sums over the samples of one kind (training or inference)."""

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


class Figures:
    """What a run measured so far."""

    def __init__(self):
        self.train, self.test = Totals(), Totals()
        self.golden_correct = 0
        self.history = []          # per epoch: online train accuracy, weight writes
        self.metrics = None        # NeuroBench's, of the test split on golden's twin
        self.output_spikes = 0     # the test split's, as the chip replies them
        self.chip_weights = None   # the weights last read back from the chip
        self.confusion = None      # test split: counts [true label][chip's prediction]

    def summary(self, config):
        train, test = self.train, self.test
        return {
            "train_accuracy": train.per_sample(train.correct),
            "hw_test_accuracy": test.per_sample(test.correct),
            "golden_test_accuracy": self.golden_correct / max(test.samples, 1),
            "cycles_per_train_sample": train.per_sample(train.cycles),
            "cycles_per_infer_sample": test.per_sample(test.cycles),
            "sops_per_train_sample": train.per_sample(train.sops),
            "sops_per_infer_sample": test.per_sample(test.sops),
            "weight_writes_per_train_sample": train.per_sample(train.writes),
            # Weights through the memory port per busy cycle (a read per synaptic
            # operation, a read and a write per weight written); P at most.
            "weights_per_cycle": (train.sops + 2 * train.writes) / max(train.cycles, 1),
            "memory_bound_ratio": train.cycles
            / max(memory_port_bound(config, train.sops, train.writes), 1 / config.lanes),
            "history": self.history,
            "neurobench": None if self.metrics is None else self.metrics.summary(),
            "neurobench_chip": None if not test.samples else chip_figures(
                config, test.samples, test.sops, self.output_spikes, self.chip_weights),
            **({"confusion": self.confusion} if self.confusion is not None else {}),
        }


async def train_on_chip(chip, board, dataset, *, epochs, seed, figures,
                        after_sample=None, after_epoch=None, log=None, on_sample=None):
    """Train ``chip`` and its golden twin ``board`` (a :class:`~spikefab.twin.GoldenTwin`)
    on ``dataset``, then infer its test split; raise ``Mismatch`` at the first difference.

    ``after_sample(what)`` and ``after_epoch(epoch)`` are awaited after each training
    sample and each epoch (weight checks). ``on_sample(phase, totals)`` is called after
    every sample is counted (progress): ``phase`` is ``"epoch e/E"`` or ``"test"``,
    ``totals`` the :class:`Totals` of that epoch or of the test split so far.
    """
    config = chip.config
    events = dataset.kind != "pixels"
    rng = XorShift32(seed + ORDER_SEED_OFFSET)
    # Start the chip's and golden's rounding generators together, whatever ran before.
    await chip.reseed_rounding()
    board.golden.reseed_rounding()
    for epoch in range(epochs):
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
            if after_sample is not None:
                await after_sample(what)
            figures.train.add(hw, label)
            epoch_totals.add(hw, label)
            if on_sample is not None:
                on_sample(f"epoch {epoch + 1}/{epochs}", epoch_totals)
        if after_epoch is not None:
            await after_epoch(epoch)
        accuracy = epoch_totals.per_sample(epoch_totals.correct)
        figures.history.append({"epoch": epoch + 1, "train_accuracy": accuracy,
                                "weight_writes_per_sample":
                                epoch_totals.per_sample(epoch_totals.writes)})
        if log is not None:
            log(f"epoch {epoch + 1}: train accuracy {accuracy:.2%}")
    await infer_test_split(chip, board, dataset, figures, on_sample=on_sample)
    return figures


async def infer_test_split(chip, board, dataset, figures, *, on_sample=None):
    """Infer ``dataset``'s test split on ``chip`` and its twin ``board``, sample by
    sample (``Mismatch`` at the first difference), into ``figures``: test totals,
    NeuroBench's metrics on golden, the chip's confusion matrix."""
    config = chip.config
    events = dataset.kind != "pixels"
    figures.metrics = NeuroBenchMeter(board.golden)
    figures.confusion = [[0] * config.n_out for _ in range(config.n_out)]
    for index in range(len(dataset.y_test)):
        sample, label = dataset.x_test[index], int(dataset.y_test[index])
        hw = await chip.infer(sample, events=events)
        golden = board.expect(sample, events=events)
        board.compare(f"test sample {index}", hw, golden)
        figures.test.add(hw, label)
        figures.metrics.add(board.raster(sample, events), golden.counts, golden.sops)
        figures.output_spikes += sum(hw.counts)
        figures.confusion[label][hw.prediction] += 1
        figures.golden_correct += golden.prediction == label
        if on_sample is not None:
            on_sample("test", figures.test)
