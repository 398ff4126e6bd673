"""EGGROLL training of a chip built with ``Config.es_on_chip``, through the host driver,
checked against golden's ES (:mod:`spikefab.golden.es`).

The loop of ``make sim ALGO=eggroll`` (:mod:`spikefab.sim.tb_es`), with the schedule of
``spikefab train --algo eggroll`` (:func:`spikefab.train.train_epochs`): the run's
generator ``XorShift32(seed + ORDER_SEED_OFFSET)`` orders each epoch and draws each
generation's pair seeds (:func:`~spikefab.golden.es.generation_plan`); the ES shift
registers follow :meth:`Config.es_lr_shift_at <spikefab.config.Config.es_lr_shift_at>`. Per generation,
over the wire: ``ES_FACTORS`` (the ``K`` seeds), ``EVALUATE`` of every member on every
sample of the mini-batch (the samples, and back the error energies), the pair signals
``d_k`` the host works out from the chip's fitnesses, ``ES_UPDATE``. Never a weight.

Golden runs the same generation beside it; every member's fitness and the update's
weight writes must be equal, and ``after_generation`` checks the weights (the
testbench's signature). Then the test split is inferred and compared, sample by sample.
"""

from spikefab.cost import es_factor_cycles
from spikefab.golden.encoders import encode
from spikefab.golden.es import generation_plan, pair_signals
from spikefab.golden.rng import ORDER_SEED_OFFSET, XorShift32
from spikefab.onchip import Figures, Totals, infer_test_split
from spikefab.twin import Mismatch


__all__ = ["ESFigures", "train_es_on_chip"]


class ESFigures(Figures):
    """:class:`~spikefab.onchip.Figures` of an ES run: a training sample's figures are
    its generation's (factors, every member's evaluation, the update) over the samples
    of the mini-batch."""

    def __init__(self):
        super().__init__()
        self.generations = 0
        self.train_samples = 0          # samples of the mini-batches
        self.generation_cycles = 0
        self.update_cycles = 0
        self.evaluations = Totals()     # every member on every sample

    def summary(self, config):
        out = super().summary(config)
        samples = max(self.train_samples, 1)
        evaluations = self.evaluations
        out.update({
            "train_accuracy": evaluations.per_sample(evaluations.correct),
            "cycles_per_train_sample": self.generation_cycles / samples,
            "sops_per_train_sample": evaluations.sops / samples,
            "weight_writes_per_train_sample": self.train.writes / samples,
            "weights_per_cycle": (evaluations.sops + 2 * self.train.writes)
            / max(self.generation_cycles, 1),
            "memory_bound_ratio": None,
            "generations": self.generations,
            "cycles_per_generation": self.generation_cycles / max(self.generations, 1),
            "update_cycles_per_generation": self.update_cycles / max(self.generations, 1),
        })
        return out


async def train_es_on_chip(chip, board, dataset, *, epochs, seed, figures,
                           after_generation=None, after_epoch=None, log=None,
                           on_sample=None):
    """Train ``chip`` and ``board`` (a twin whose ``golden`` is a
    :class:`~spikefab.golden.es.GoldenES`) with EGGROLL on ``dataset``, then infer its
    test split; raise :class:`~spikefab.twin.Mismatch` at the first difference.

    ``after_generation(what)`` and ``after_epoch(epoch)`` are awaited after each
    generation and epoch (weight checks); ``on_sample(phase, totals)`` after each
    evaluation and test sample (progress).
    """
    config, golden = chip.config, board.golden
    events = dataset.kind != "pixels"
    pairs, population = config.es_population // 2, config.es_population
    order = XorShift32(seed + ORDER_SEED_OFFSET)
    await chip.reseed_rounding()
    golden.reseed_rounding()
    shifts = None
    n = len(dataset.y_train)
    for epoch in range(epochs):
        epoch_totals = Totals()
        writes = 0
        for index, seeds in generation_plan(order, n, config.es_batch, pairs):
            g = figures.generations
            what = f"epoch {epoch + 1} generation {g}"
            if config.es_lr_shift_at(g) != shifts:
                shifts = config.es_lr_shift_at(g)
                await chip.set_lr_shifts(shifts)
                golden.lr_shifts = shifts
            await chip.es_factors(seeds)
            cycles = es_factor_cycles(config)
            x, y = dataset.x_train[index], dataset.y_train[index]
            fitness = []
            for member in range(population):
                for b in range(len(index)):
                    hw, energy = await chip.evaluate(x[b], int(y[b]), member, first=b == 0,
                                                     events=events)
                    cycles += hw.cycles
                    figures.evaluations.add(hw, int(y[b]))
                    epoch_totals.add(hw, int(y[b]))
                    if on_sample is not None:
                        on_sample(f"epoch {epoch + 1}/{epochs}", epoch_totals)
                fitness.append(-energy)
            rasters = x if events else encode(x, config)
            result = golden.generation(rasters, y, seeds)
            for member, (got, want) in enumerate(zip(fitness, result.fitness)):
                if got != want:
                    raise Mismatch(f"{what}: member {member}'s fitness is {got} on the chip "
                                   f"(fitness accumulator), {int(want)} in golden")
            update = await chip.es_update(pair_signals(fitness))
            if update["weight_writes"] != result.weight_writes:
                raise Mismatch(f"{what}: the ES update wrote {update['weight_writes']} "
                               f"weights on the chip (ES updater), {result.weight_writes} "
                               f"in golden")
            cycles += update["cycles"]
            figures.generations += 1
            figures.train_samples += len(index)
            figures.generation_cycles += cycles
            figures.update_cycles += update["cycles"]
            figures.train.writes += update["weight_writes"]
            writes += update["weight_writes"]
            if after_generation is not None:
                await after_generation(what)
        if after_epoch is not None:
            await after_epoch(epoch)
        accuracy = epoch_totals.per_sample(epoch_totals.correct)
        figures.history.append({"epoch": epoch + 1, "train_accuracy": accuracy,
                                "weight_writes_per_sample": writes / max(n, 1)})
        if log is not None:
            log(f"epoch {epoch + 1}: members' train accuracy {accuracy:.2%}")
    await infer_test_split(chip, board, dataset, figures, on_sample=on_sample)
    return figures
