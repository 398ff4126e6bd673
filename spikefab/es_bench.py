"""Per-generation wall time of EGGROLL against full-rank ES at equal population.

``python -m spikefab.es_bench [--config mnist] [--dataset fashion-mnist] [--batch 8,32]``
prints one JSON object: for each mini-batch size, the seconds per generation of float
EGGROLL (rank ``es_rank``), float full-rank ES (OpenES) and golden integer EGGROLL, and
the ratio full-rank / EGGROLL.

The comparison is the float references of :mod:`golden.es_float`, which share
everything but the perturbation: the same population, mini-batch, pair seeds and
samples; the same forward code (a layer's input is ``x W`` plus the member's term, the
input layer's ``x W`` once per generation for both); the same fitness, shaping and Adam
step; one BLAS thread. What differs is exactly what the method changes: EGGROLL draws
``(fan_in + fan_out) · r`` normals per pair and adds ``(x B)(σ/√r) Aᵀ``; full rank
draws ``fan_in · fan_out`` normals per pair, adds ``x (σ E)`` and sums ``K`` full
matrices into its step. Each figure is the best of ``--repeats`` timings of
``--generations`` generations after one untimed generation (compilation, caches).
"""

import argparse
import json
import os
import platform
import time


from spikefab.config import load_config
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.es import ES_SEED_OFFSET, GoldenES, generation_plan
from spikefab.golden.es_float import FloatES
from spikefab.golden.rng import XorShift32


def seconds_per_generation(model, plan, rasters, labels, repeats):
    index, seeds = plan[0]
    model.generation(rasters[index], labels[index], seeds)          # untimed
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for index, seeds in plan[1:]:
            model.generation(rasters[index], labels[index], seeds)
        best = min(best, (time.perf_counter() - start) / (len(plan) - 1))
    return best


def compare(config, dataset, batch, generations=3, repeats=2, golden=True):
    """The three models' seconds per generation on the same plan of ``batch`` samples."""
    config = config.replace(es_batch=batch)
    n = min(len(dataset.y_train), batch * (generations + 1))
    rasters = encode(dataset.x_train[:n], config) if dataset.kind == "pixels" \
        else dataset.x_train[:n]
    labels = dataset.y_train[:n]
    plan = list(generation_plan(XorShift32(1 + ES_SEED_OFFSET), n, batch,
                                config.es_population // 2))[:generations + 1]
    models = {"eggroll_float": FloatES(config), "full_rank_float": FloatES(config, rank=None)}
    if golden:
        models["eggroll_golden"] = GoldenES(config)
    result = {"batch": batch, "population": config.es_population, "rank": config.es_rank}
    for name, model in models.items():
        result[f"{name}_s"] = seconds_per_generation(model, plan, rasters, labels, repeats)
    result["full_rank_over_eggroll"] = result["full_rank_float_s"] / result["eggroll_float_s"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m spikefab.es_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="mnist")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--batch", default="8,32", help="mini-batch sizes, comma-separated")
    parser.add_argument("--population", type=int, help="default: the config's")
    parser.add_argument("--rank", type=int, help="default: the config's")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-golden", action="store_true")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    changes = {"es_population": args.population, "es_rank": args.rank}
    config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    dataset = load_dataset(args.dataset, config)
    runs = [compare(config, dataset, int(b), args.generations, args.repeats,
                    not args.no_golden) for b in args.batch.split(",")]
    print(json.dumps({"config": config.name, "dataset": args.dataset,
                      "layers": list(config.layer_sizes), "timesteps": config.timesteps,
                      "cpu": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                      "runs": runs}))


if __name__ == "__main__":
    main()
