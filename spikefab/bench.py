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
weight writes per sample and wall time — what fixed point costs and what sparsity saves.

Run as ``python -m spikefab.bench --out build/bench``.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from spikefab.config import preset
from spikefab.golden.datasets import DatasetError, Dataset, load_dataset
from spikefab.golden.encoders import encode
from spikefab.train import algo_config, make_model, run_training


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
                result = run_training(make_model(engine, config), dataset, epochs=epochs,
                                      seed=seed, progress=False)
                runs.append({"algo": algo, "engine": engine, "seed": seed,
                             "test_accuracy": result["test_accuracy"],
                             "test_accuracy_per_epoch": [h["test_accuracy"]
                                                         for h in result["history"]],
                             "train_accuracy": result["train_accuracy"],
                             "weight_writes_per_sample": result["weight_writes_per_sample"],
                             "wall_s": time.perf_counter() - start})
    golden_mean = {}
    for algo in ("sparse-dfa", "dfa"):
        mine = [r for r in runs if r["algo"] == algo and r["engine"] == "golden"]
        golden_mean[algo] = {
            key: float(np.mean([r[key] for r in mine]))
            for key in ("test_accuracy", "weight_writes_per_sample")}
    return {"dataset": "fashion-mnist", "config": "mnist", "epochs": epochs,
            "seeds": list(seeds), "golden_mean": golden_mean, "runs": runs}


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
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

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
    with open(path, "w") as file:
        json.dump(results, file, indent=2)
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
        with open(path, "w") as file:
            json.dump(accuracy, file, indent=2)
        for run in accuracy.get("runs", []):
            print(f"fashion-mnist {run['algo']:10s} {run['engine']:6s} seed {run['seed']} "
                  f"test {run['test_accuracy']:.2%}  writes/sample "
                  f"{run['weight_writes_per_sample']:7,.0f}  {run['wall_s']:5.0f} s")
        for algo, mean in accuracy.get("golden_mean", {}).items():
            print(f"fashion-mnist {algo:10s} golden mean of {len(args.accuracy_seeds)} "
                  f"seeds: test {mean['test_accuracy']:.2%}  writes/sample "
                  f"{mean['weight_writes_per_sample']:7,.0f}")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
