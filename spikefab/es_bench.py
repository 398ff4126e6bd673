"""Per-generation wall time and memory of EGGROLL against full-rank ES at equal population.

``python -m spikefab.es_bench [--config mnist] [--dataset fashion-mnist] [--batch 8,32]``
prints one JSON object: for each mini-batch size, the seconds per generation of float
EGGROLL (rank ``es_rank``), float full-rank ES (OpenES) and golden integer EGGROLL, and
the ratio full-rank / EGGROLL.

``python -m spikefab.es_bench --ranks 1-8 --out build/bench`` (what ``make bench`` runs)
sweeps the rank instead, for both presets (``digits`` on digits, ``mnist`` on
Fashion-MNIST when installed, else digits upscaled), and writes ``es.json`` and
``es.png``: per rank, float EGGROLL's seconds per generation and peak memory of a
generation beside full-rank ES's at the same population and mini-batch, and golden
integer EGGROLL's generations per second. Peak memory is what :mod:`tracemalloc` sees
NumPy allocate during one generation (the perturbations, activations and the update),
measured in a run of its own so that tracing does not slow the timed runs.

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
import tracemalloc


from spikefab.config import load_config
from spikefab.files import write_json
from spikefab.golden.datasets import DatasetError, load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.es import GoldenES, generation_plan
from spikefab.golden.es_float import FloatES
from spikefab.golden.rng import ORDER_SEED_OFFSET, XorShift32


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


def peak_generation_bytes(model, plan, rasters, labels):
    """Peak bytes allocated (NumPy included) during one generation of ``model``, after
    an untimed one."""
    index, seeds = plan[0]
    model.generation(rasters[index], labels[index], seeds)
    index, seeds = plan[1]
    tracemalloc.start()
    try:
        model.generation(rasters[index], labels[index], seeds)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _plan(config, dataset, batch, generations):
    """The rasters, labels and generation plan every model of a comparison shares."""
    n = min(len(dataset.y_train), batch * (generations + 1))
    rasters = encode(dataset.x_train[:n], config) if dataset.kind == "pixels" \
        else dataset.x_train[:n]
    labels = dataset.y_train[:n]
    plan = list(generation_plan(XorShift32(1 + ORDER_SEED_OFFSET), n, batch,
                                config.es_population // 2))[:generations + 1]
    return rasters, labels, plan


def rank_sweep(config, dataset, ranks, batch, generations=3, repeats=2, log=print):
    """Float EGGROLL at each of ``ranks`` against full-rank ES (rank-free, measured
    once), and golden integer EGGROLL, on ``config`` at mini-batch ``batch``."""
    config = config.replace(es_batch=batch)
    rasters, labels, plan = _plan(config, dataset, batch, generations)
    full = FloatES(config, rank=None)
    full_s = seconds_per_generation(full, plan, rasters, labels, repeats)
    full_bytes = peak_generation_bytes(FloatES(config, rank=None), plan, rasters, labels)
    points = []
    for rank in ranks:
        ranked = config.replace(es_rank=rank)
        eggroll_s = seconds_per_generation(FloatES(ranked), plan, rasters, labels, repeats)
        eggroll_bytes = peak_generation_bytes(FloatES(ranked), plan, rasters, labels)
        golden_s = seconds_per_generation(GoldenES(ranked), plan, rasters, labels, repeats)
        points.append({"rank": rank, "eggroll_float_s": eggroll_s,
                       "eggroll_float_peak_bytes": eggroll_bytes,
                       "full_rank_over_eggroll": full_s / eggroll_s,
                       "full_rank_bytes_over_eggroll": full_bytes / eggroll_bytes,
                       "eggroll_golden_s": golden_s,
                       "eggroll_golden_generations_per_s": 1.0 / golden_s})
        log(f"{config.name} rank {rank}: EGGROLL {eggroll_s * 1e3:8.1f} ms, "
            f"{eggroll_bytes / 2**20:6.1f} MiB; full rank {full_s * 1e3:8.1f} ms, "
            f"{full_bytes / 2**20:6.1f} MiB ({full_s / eggroll_s:.2f}× the time); golden "
            f"{1 / golden_s:6.2f} generations/s")
    return {"config": config.name, "layers": list(config.layer_sizes),
            "timesteps": config.timesteps, "population": config.es_population,
            "batch": batch, "full_rank_float_s": full_s,
            "full_rank_float_peak_bytes": full_bytes, "ranks": points}


def compare(config, dataset, batch, generations=3, repeats=2, golden=True):
    """The three models' seconds per generation on the same plan of ``batch`` samples."""
    config = config.replace(es_batch=batch)
    rasters, labels, plan = _plan(config, dataset, batch, generations)
    models = {"eggroll_float": FloatES(config), "full_rank_float": FloatES(config, rank=None)}
    if golden:
        models["eggroll_golden"] = GoldenES(config)
    result = {"batch": batch, "population": config.es_population, "rank": config.es_rank}
    for name, model in models.items():
        result[f"{name}_s"] = seconds_per_generation(model, plan, rasters, labels, repeats)
    result["full_rank_over_eggroll"] = result["full_rank_float_s"] / result["eggroll_float_s"]
    return result


def bench_ranks(ranks, out_dir, batch=16, generations=3, repeats=2, log=print):
    """The rank sweep of both presets; writes ``es.json`` and ``es.png`` to ``out_dir``
    (after each preset, so a run stopped midway keeps what it measured)."""
    from spikefab.bench import pixel_data   # the bench imports this module lazily

    result = {"machine": {"cpu": platform.processor() or platform.machine(),
                          "cpus": os.cpu_count()},
              "method": "float references of golden.es_float, one BLAS thread; seconds "
                        "per generation: best of repeats; peak: tracemalloc over one "
                        "generation", "presets": []}
    for name in ("digits", "mnist"):
        config = load_config(name)
        dataset, source = pixel_data(config)
        sweep = rank_sweep(config, dataset, ranks, batch, generations, repeats, log)
        result["presets"].append({"data": source, **sweep})
        result["load_avg_1m"] = os.getloadavg()[0]
        write_json(os.path.join(out_dir, "es.json"), result)
        plot_ranks(result, os.path.join(out_dir, "es.png"))
    return result


def plot_ranks(result, path):
    """``es.png``: seconds per generation and peak memory against the rank, EGGROLL's
    points beside full-rank ES's level, one colour per preset."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for colour, run in zip(("tab:blue", "tab:orange"), result["presets"]):
        ranks = [p["rank"] for p in run["ranks"]]
        label = f"{run['config']} ({'-'.join(map(str, run['layers']))})"
        time_axis.plot(ranks, [p["eggroll_float_s"] * 1e3 for p in run["ranks"]], "o-",
                       color=colour, label=f"EGGROLL, {label}")
        time_axis.axhline(run["full_rank_float_s"] * 1e3, color=colour, linestyle="--",
                          label=f"full-rank ES, {label}")
        memory_axis.plot(ranks, [p["eggroll_float_peak_bytes"] / 2**20 for p in run["ranks"]],
                         "o-", color=colour, label=f"EGGROLL, {label}")
        memory_axis.axhline(run["full_rank_float_peak_bytes"] / 2**20, color=colour,
                            linestyle="--", label=f"full-rank ES, {label}")
    population = result["presets"][0]["population"]
    batch = result["presets"][0]["batch"]
    time_axis.set(xlabel="rank r", ylabel="ms per generation (log)", yscale="log",
                  title=f"Per-generation time, population {population}, batch {batch}")
    memory_axis.set(xlabel="rank r", ylabel="peak MiB in a generation (log)", yscale="log",
                    title="Peak memory of a generation")
    for axis in (time_axis, memory_axis):
        axis.set_xticks([p["rank"] for p in result["presets"][0]["ranks"]])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _ranks(text):
    """``1-8`` or ``1,2,4``."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-"))
            ranks = tuple(range(low, high + 1))
        else:
            ranks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ranks are like 1-8 or 1,2,4, not {text!r}") \
            from None
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError("give at least one rank, each at least 1")
    return ranks


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _batches(text):
    return tuple(_positive(part) for part in text.split(","))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m spikefab.es_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="mnist")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--batch", type=_batches, default=(8, 32),
                        help="mini-batch sizes, comma-separated")
    parser.add_argument("--population", type=_positive, help="default: the config's")
    parser.add_argument("--rank", type=_positive, help="default: the config's")
    parser.add_argument("--ranks", type=_ranks, metavar="1-8",
                        help="sweep the rank on both presets instead (mini-batch 16; "
                             "--config, --dataset, --batch, --population, --rank and "
                             "--no-golden do not apply); writes es.json, es.png")
    parser.add_argument("--out", default="build/bench", help="folder of --ranks' files")
    parser.add_argument("--generations", type=_positive, default=3)
    parser.add_argument("--repeats", type=_positive, default=2)
    parser.add_argument("--no-golden", action="store_true")
    args = parser.parse_args(argv)
    try:
        _run(args)
    except (ValueError, DatasetError, OSError) as error:   # ConfigError is a ValueError
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def _run(args):
    if args.ranks:
        os.makedirs(args.out, exist_ok=True)
        bench_ranks(args.ranks, args.out, generations=args.generations,
                    repeats=args.repeats)
        return
    config = load_config(args.config)
    changes = {"es_population": args.population, "es_rank": args.rank}
    config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    dataset = load_dataset(args.dataset, config)
    runs = [compare(config, dataset, batch, args.generations, args.repeats,
                    not args.no_golden) for batch in args.batch]
    print(json.dumps({"config": config.name, "dataset": args.dataset,
                      "layers": list(config.layer_sizes), "timesteps": config.timesteps,
                      "cpu": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                      "runs": runs}))

if __name__ == "__main__":
    main()
