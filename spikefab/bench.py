"""``make bench``: speed of the golden model against the float loop a user would write.

Writes ``build/bench/golden.json``:

* golden (bit-exact integer) online training and inference samples/s for each preset,
  on real data (digits; Fashion-MNIST for ``mnist`` when installed, else digits images
  upscaled to 28×28), plus the float32 reference model's;
* in the same run, a float PyTorch training loop in the snnTorch style on the same
  784-128-10 network with T=16: LIF with a fast-sigmoid surrogate gradient, BPTT over
  the timesteps, Adam, mini-batches of 64, rate-coded input — and the ratio.

and ``build/bench/accuracy.json``: the ``mnist`` preset trained on the full Fashion-MNIST
(when installed) with sparse and dense DFA, golden and float: test accuracy per epoch,
weight writes per sample and wall time — what fixed point costs and what sparsity saves;
drawn as ``accuracy-training.png`` (every run's curves), ``accuracy-confusion.png`` and
``accuracy-raster.png`` (the first golden sparse-DFA run's test confusion and the spikes
of test sample 0) by :mod:`spikefab.plots`.

and ``build/bench/es.json`` with ``es.png``: float EGGROLL's seconds and peak memory per
generation at ranks 1–8 against full-rank ES at the same population, on both presets, and
golden integer EGGROLL's generations per second (:func:`spikefab.es_bench.bench_ranks`).

and ``build/bench/lanes.json`` with ``lanes.png``: the lanes sweep of the ``mnist`` network
(784-128-10) on the ULX3S (:func:`bench_lanes`): at each lane count the cycles per training
sample (measured in Verilator on Fashion-MNIST samples when installed, else the cost
model's estimate), their ratio to the memory-port bound, LUTs, block RAMs and fmax of a
full place and route, and the training samples/s at that fmax, plotted against the lanes
with the memory-port bound drawn in. Place and route takes minutes per point: a point
whose build report (or simulation report) of the same config is already in
``build/bench/lanes/`` is taken from there.

Run as ``python -m spikefab.bench --out build/bench`` (``--lanes-only`` for the sweep
alone, ``--lanes 2,4,8,16`` for its points).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from spikefab.config import preset
from spikefab.files import write_json
from spikefab.diagnostics import confusion_matrix, sample_raster
from spikefab.golden.datasets import DatasetError, Dataset, load_dataset
from spikefab.golden.encoders import encode
from spikefab.plots import plot_names, write_plots
from spikefab.train import algo_config, make_model, run_training


ES_RANKS = tuple(range(1, 9))


def pixel_data(config):
    if config.n_in == 64:
        return load_dataset("digits", config), "digits"
    try:
        return load_dataset("fashion-mnist", config), "fashion-mnist"
    except DatasetError:
        digits = load_dataset("digits", preset("digits"))
        up = lambda x: np.kron(x.reshape(-1, 8, 8), np.ones((1, 4, 4), np.uint8))[:, 2:30, 2:30]
        return Dataset("digits-28x28", "pixels", up(digits.x_train).reshape(-1, 784),
                       digits.y_train, up(digits.x_test).reshape(-1, 784),
                       digits.y_test), "digits-28x28"


def time_engine(engine, config, rasters, labels, repeats=2):
    """Best-of-``repeats`` samples/s for online training and for inference."""
    model = make_model(engine, config)
    model.train(rasters[0], int(labels[0]))   # compile the kernels outside the clock
    best_train = best_infer = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for raster, label in zip(rasters, labels):
            model.train(raster, int(label))
        best_train = max(best_train, len(labels) / (time.perf_counter() - start))
        start = time.perf_counter()
        for raster in rasters:
            model.forward(raster)
        best_infer = max(best_infer, len(labels) / (time.perf_counter() - start))
    return {"train_samples_per_s": best_train, "infer_samples_per_s": best_infer}


def bench_golden(name, n_samples, data=None):
    """Golden and float speed on preset ``name``; ``data`` is ``pixel_data``'s result."""
    config = preset(name)
    dataset, source = data or pixel_data(config)
    n = min(n_samples, len(dataset.y_train))
    rasters = encode(dataset.x_train[:n], config)
    labels = dataset.y_train[:n]
    result = {"config": name, "data": source, "samples": n,
              "input_spikes_per_sample": float(rasters.sum() / n)}
    for engine in ("golden", "float"):
        result[engine] = time_engine(engine, config, rasters, labels)
    return result


def bench_torch(config, images, labels, batch=64, batches=40, threads=None):
    """The float PyTorch loop a snnTorch user would write for the same network."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    beta = 1.0 - 2.0 ** -config.leak_shift

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u >= 0).float()

        @staticmethod
        def backward(ctx, grad):
            (u,) = ctx.saved_tensors
            return grad / (1 + 10 * u.abs()) ** 2   # fast sigmoid, slope 10

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            sizes = config.layer_sizes
            self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b)
                                              for a, b in zip(sizes[:-1], sizes[1:]))

        def forward(self, x):                       # x: (T, B, n_in)
            mems = [torch.zeros(x.shape[1], layer.out_features) for layer in self.layers]
            counts = 0
            for t in range(x.shape[0]):
                h = x[t]
                for l, layer in enumerate(self.layers):
                    mems[l] = beta * mems[l] + layer(h)
                    h = Spike.apply(mems[l] - 1.0)
                    mems[l] = mems[l] - h           # reset by subtraction
                counts = counts + h
            return counts

    net = Net()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    x_all = torch.tensor(images[:batch * batches], dtype=torch.float32) / config.pixel_max
    y_all = torch.tensor(labels[:batch * batches], dtype=torch.long)
    n_batches = len(y_all) // batch

    def step(b):
        x = x_all[b * batch:(b + 1) * batch]
        spikes = (torch.rand(config.timesteps, *x.shape) < x).float()   # spikegen.rate
        loss = torch.nn.functional.cross_entropy(net(spikes), y_all[b * batch:(b + 1) * batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    step(0)                                          # warm-up outside the clock
    start = time.perf_counter()
    for b in range(n_batches):
        step(b)
    wall = time.perf_counter() - start
    return {"train_samples_per_s": n_batches * batch / wall, "batch": batch,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def bench_accuracy(epochs, data, seeds=(1,)):
    """Fashion-MNIST with the mnist preset: sparse and dense DFA for ``epochs``, golden
    for every seed (their mean decides sparse against dense: single runs differ by
    ±0.3 points), float for the first seed (what fixed point costs). ``data`` is
    ``pixel_data``'s result for the mnist preset."""
    dataset, source = data
    if source != "fashion-mnist":
        return {"skipped": "Fashion-MNIST is not installed (apt-get install "
                           "dataset-fashion-mnist)"}
    runs = []
    for algo in ("sparse-dfa", "dfa"):
        config = algo_config(preset("mnist"), algo)
        for engine, engine_seeds in (("golden", seeds), ("float", seeds[:1])):
            for seed in engine_seeds:
                start = time.perf_counter()
                model = make_model(engine, config)
                result = run_training(model, dataset, epochs=epochs, seed=seed,
                                      progress=False)
                runs.append({"algo": algo, "engine": engine, "seed": seed,
                             "test_accuracy": result["test_accuracy"],
                             "test_accuracy_per_epoch": [h["test_accuracy"]
                                                         for h in result["history"]],
                             "train_accuracy": result["train_accuracy"],
                             "weight_writes_per_sample": result["weight_writes_per_sample"],
                             "wall_s": time.perf_counter() - start,
                             "history": result["history"]})
                if (algo, engine, seed) == ("sparse-dfa", "golden", seeds[0]):
                    shown = {"confusion_of": f"{algo} {engine} seed {seed}",
                             "confusion": confusion_matrix(model, dataset),
                             "raster": sample_raster(model, dataset)}
    golden_mean = {}
    for algo in ("sparse-dfa", "dfa"):
        mine = [r for r in runs if r["algo"] == algo and r["engine"] == "golden"]
        golden_mean[algo] = {
            key: float(np.mean([r[key] for r in mine]))
            for key in ("test_accuracy", "weight_writes_per_sample")}
    return {"dataset": "fashion-mnist", "config": "mnist", "epochs": epochs,
            "seeds": list(seeds), "golden_mean": golden_mean, "runs": runs, **shown}


#: The sweep's lane counts, its board and how many Fashion-MNIST samples each point's
#: Verilator run trains on.
SWEEP_LANES = (2, 4, 8, 16)
SWEEP_BOARD = "ulx3s"
SWEEP_SIM_SAMPLES = 20


def sweep_config(lanes, base="mnist"):
    """The sweep's config at ``lanes``: preset ``base`` with that many lanes (the preset
    itself at its own lane count)."""
    config = preset(base)
    if lanes == config.lanes:
        return config
    return config.replace(lanes=lanes, name=f"{base}-p{lanes}")


def _cached(path, config):
    """A report at ``path`` made for ``config`` (same hash), or None."""
    try:
        report = json.loads(open(path).read())
    except (OSError, ValueError):
        return None
    return report if report.get("config_hash") == config.hash() else None


def bench_lanes(lanes_list=SWEEP_LANES, out_dir="build/bench", board_name=SWEEP_BOARD,
                sim_samples=SWEEP_SIM_SAMPLES, log=print):
    """One point per lane count: cycles per training sample (measured when Verilator
    can run the chip on Fashion-MNIST, else the cost model's ``total`` over golden's
    first samples), the memory-port bound and their ratio, the build's LUTs, block RAMs,
    flip-flops, DSPs and fmax, and training and inference samples per second at fmax."""
    from spikefab.bitstream import build_bitstream
    from spikefab.cost import modelled_samples
    from spikefab.golden.encoders import encode
    from spikefab.hw.families import board as get_board

    folder = os.path.join(out_dir, "lanes")
    os.makedirs(folder, exist_ok=True)
    board = get_board(board_name)
    points = []
    for lanes in lanes_list:
        config = sweep_config(lanes)
        built_path = os.path.join(folder, f"bitstream-{board_name}-{config.name}.json")
        # The slow tests' full builds of the presets land beside the sweep's.
        built = _cached(built_path, config) or _cached(
            os.path.join(out_dir, f"bitstream-{board_name}-{config.name}.json"), config)
        if built is None:
            log(f"lanes {lanes}: place and route of {config.name} for {board_name} "
                f"(minutes)")
            built = build_bitstream(board_name, config, out_dir=os.path.join(folder, "build"))
            write_json(built_path, built, indent=1)
        sim_path = os.path.join(folder, f"sim-{config.name}.json")
        measured = _cached(sim_path, config)
        dataset, source = pixel_data(config)
        if measured is None and sim_samples and source == "fashion-mnist":
            from spikefab.sim.simulate import simulate
            log(f"lanes {lanes}: {sim_samples} Fashion-MNIST samples in Verilator")
            measured = simulate(config, "fashion-mnist", epochs=1, limit_train=sim_samples,
                                limit_test=2, float_model=False,
                                out_dir=os.path.join(folder, "sim", config.name),
                                log=lambda *a: None)
            measured = {key: value for key, value in measured.items() if key != "weights"}
            write_json(sim_path, measured, indent=1)
        n = sim_samples or 20
        model = modelled_samples(config, board.weight_latency(config),
                                 encode(dataset.x_train[:n], config), dataset.y_train[:n])
        if measured is not None:
            cycles = measured["cycles_per_train_sample"]
            infer = measured["cycles_per_infer_sample"]
            ratio = measured["memory_bound_ratio"]
            cycles_source = (f"measured: {measured['train_samples']} Fashion-MNIST training "
                             f"samples in {measured['simulator']} (weight latency 2), "
                             f"bit_exact {measured['bit_exact']}")
        else:
            cycles, infer = model["train_total"], model["infer_total"]
            ratio = cycles / model["train_bound"]
            cycles_source = (f"cost model (total) of {n} {source} samples, weight latency "
                             f"{board.weight_latency(config)}")
        hz = built["fmax_mhz"] * 1e6
        bound = cycles / ratio
        points.append({
            "lanes": lanes, "config": config.name, "config_hash": config.hash(),
            "cycles_per_train_sample": cycles, "cycles_per_infer_sample": infer,
            "cycles_source": cycles_source,
            "memory_bound_cycles": bound, "memory_bound_ratio": ratio,
            "model_cycles_per_train_sample": model["train_total"],
            "model_least_cycles_per_train_sample": model["train_least"],
            **{key: built[key] for key in ("luts", "luts_total", "ffs", "bram", "bram_total",
                                           "dsp", "fmax_mhz", "target_mhz", "timing_met")},
            "train_samples_per_s": hz / cycles, "infer_samples_per_s": hz / infer,
            "bound_train_samples_per_s": hz / bound,
        })
        p = points[-1]
        log(f"lanes {lanes:3d}: {cycles:9,.0f} cycles/train sample ({ratio:.3f}× the port "
            f"bound), {p['luts']:,} LUTs, {p['bram']} BRAM, {p['fmax_mhz']:.1f} MHz → "
            f"{p['train_samples_per_s']:,.0f} training samples/s")
        # Written after every point: a sweep stopped midway keeps what it measured.
        result = {"board": board_name, "network": "784-128-10 (mnist)",
                  "points": sorted(points, key=lambda q: q["lanes"])}
        write_json(os.path.join(out_dir, "lanes.json"), result)
        plot_lanes(result, os.path.join(out_dir, "lanes.png"))
    return result


def plot_lanes(result, path):
    """``lanes.png``: training samples/s (and the memory-port bound's) against lanes,
    beside the LUTs and block RAMs used, in per cent of the FPGA's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result["points"]
    lanes = [p["lanes"] for p in points]
    fig, (rate, use) = plt.subplots(1, 2, figsize=(10, 4))
    rate.plot(lanes, [p["train_samples_per_s"] for p in points], "o-",
              label="training samples/s at fmax")
    rate.plot(lanes, [p["bound_train_samples_per_s"] for p in points], "--",
              label="memory-port bound (SOPs + 2·writes)/P")
    rate.set_xscale("log", base=2)
    rate.set_yscale("log")
    rate.set_xlabel("lanes P")
    rate.set_ylabel("samples / s")
    rate.set_title(f"{result['network']} on {result['board']}")
    rate.legend()
    use.plot(lanes, [100 * p["luts"] / p["luts_total"] for p in points], "o-", label="LUTs")
    use.plot(lanes, [100 * p["bram"] / p["bram_total"] for p in points], "s-",
             label="block RAMs")
    use.set_xscale("log", base=2)
    use.set_xlabel("lanes P")
    use.set_ylabel("% of the FPGA")
    use.set_ylim(0, 100)
    use.legend()
    for axis in (rate, use):
        axis.set_xticks(lanes, [str(n) for n in lanes])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _lanes(text):
    try:
        lanes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"lanes are integers separated by commas, "
                                         f"not {text!r}") from None
    if not lanes or min(lanes) < 1:
        raise argparse.ArgumentTypeError("give at least one lane count, each at least 1")
    return lanes


def _seeds(text):
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers separated by commas, "
                                         f"not {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--accuracy-epochs", type=int, default=8,
                        help="epochs of the Fashion-MNIST accuracy runs (0 skips them)")
    parser.add_argument("--accuracy-seeds", type=_seeds, default=(1,), metavar="S,S,…",
                        help="seeds of the golden accuracy runs (mean reported; float "
                             "runs the first)")
    parser.add_argument("--lanes", type=_lanes, default=SWEEP_LANES, metavar="P,P,…",
                        help="lane counts of the lanes sweep (default: %(default)s)")
    parser.add_argument("--lanes-only", action="store_true",
                        help="run the lanes sweep alone")
    parser.add_argument("--lanes-sim-samples", type=int, default=SWEEP_SIM_SAMPLES,
                        metavar="N", help="Fashion-MNIST samples each sweep point trains "
                                          "on in Verilator (0: the cost model's cycles)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.lanes_only:
        bench_lanes(args.lanes, args.out, sim_samples=args.lanes_sim_samples)
        return

    data = {name: pixel_data(preset(name)) for name in ("digits", "mnist")}
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "processor": platform.processor() or platform.machine()},
               "presets": [bench_golden(name, args.samples, data[name]) for name in data]}
    mnist = preset("mnist")
    dataset, source = data["mnist"]
    try:
        results["torch_bptt"] = {"config": "mnist", "data": source,
                                 **bench_torch(mnist, dataset.x_train, dataset.y_train)}
        golden = next(r for r in results["presets"] if r["config"] == "mnist")["golden"]
        results["golden_over_torch_train_speed"] = \
            golden["train_samples_per_s"] / results["torch_bptt"]["train_samples_per_s"]
    except ImportError:
        results["torch_bptt"] = {"skipped": "torch is not installed (pip install -e '.[bench]')"}

    path = os.path.join(args.out, "golden.json")
    write_json(path, results)
    for r in results["presets"]:
        print(f"{r['config']:7s} golden train {r['golden']['train_samples_per_s']:9,.0f}/s  "
              f"infer {r['golden']['infer_samples_per_s']:9,.0f}/s   float train "
              f"{r['float']['train_samples_per_s']:9,.0f}/s  ({r['data']})")
    torch_result = results["torch_bptt"]
    if "train_samples_per_s" in torch_result:
        print(f"torch BPTT (batch 64, {torch_result['threads']} threads) train "
              f"{torch_result['train_samples_per_s']:,.0f}/s; golden/torch = "
              f"{results['golden_over_torch_train_speed']:.2f}×")
    print(f"wrote {path}")
    if args.accuracy_epochs:
        accuracy = bench_accuracy(args.accuracy_epochs, data["mnist"], args.accuracy_seeds)
        path = os.path.join(args.out, "accuracy.json")
        write_json(path, accuracy)
        for run in accuracy.get("runs", []):
            print(f"fashion-mnist {run['algo']:10s} {run['engine']:6s} seed {run['seed']} "
                  f"test {run['test_accuracy']:.2%}  writes/sample "
                  f"{run['weight_writes_per_sample']:7,.0f}  {run['wall_s']:5.0f} s")
        for algo, mean in accuracy.get("golden_mean", {}).items():
            print(f"fashion-mnist {algo:10s} golden mean of {len(args.accuracy_seeds)} "
                  f"seeds: test {mean['test_accuracy']:.2%}  writes/sample "
                  f"{mean['weight_writes_per_sample']:7,.0f}")
        print(f"wrote {path}")
        if plot_names(accuracy):
            for path in write_plots(accuracy, args.out, prefix="accuracy-"):
                print(f"wrote {path}")
    # Imported here: es_bench takes pixel_data from this module.
    from spikefab.es_bench import bench_ranks
    bench_ranks(ES_RANKS, args.out)
    bench_lanes(args.lanes, args.out, sim_samples=args.lanes_sim_samples)


if __name__ == "__main__":
    main()
