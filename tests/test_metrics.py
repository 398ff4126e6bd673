"""NeuroBench's metrics (spikefab.metrics): hand-derived figures, and the same figures
from the ``neurobench`` package itself on a torch twin of the network."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from neurobench.benchmarks import Benchmark
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from neurobench.metrics.workload import (ActivationSparsity, ActivationSparsityByLayer,
                                         ClassificationAccuracy, MembraneUpdates,
                                         SynapticOperations)
from neurobench.models import SNNTorchModel
from snntorch import SpikingNeuron

from spikefab.cli import main
from spikefab.config import preset
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.float_model import FloatNet
from spikefab.golden.network import GoldenNet
from spikefab.metrics import NeuroBenchMeter, connection_sparsity, footprint
from spikefab.sim.simulate import format_table, simulate
from spikefab.train import evaluate, run_training

from conftest import small_config

DIGITS = preset("digits")


def measure(model, rasters):
    meter = NeuroBenchMeter(model)
    for raster in rasters:
        result = model.forward(raster)
        meter.add(raster, result.counts, result.sops)
    return meter.summary()


# -- figures derived by hand --------------------------------------------------------------

def test_footprint_counts_weights_and_membranes_at_the_config_widths():
    # digits: 64·128 + 128·10 = 9,472 weights of 8 bits; 138 membranes of 16 bits.
    assert footprint(DIGITS) == {"footprint_bytes": 9472 + 276, "weight_bytes": 9472,
                                 "neuron_state_bytes": 276, "parameters": 9472}
    # mnist: 784·128 + 128·10 = 101,632 weights of 8 bits; 138 membranes of 18 bits,
    # 2,484 bits: 310.5 bytes, rounded up.
    mnist = footprint(preset("mnist"))
    assert (mnist["weight_bytes"], mnist["neuron_state_bytes"]) == (101632, 311)
    assert footprint(DIGITS, integer=False)["footprint_bytes"] == 4 * (9472 + 138)
    # 3·2 + 2·2 = 10 weights of 5 bits: 50 bits, 7 bytes; 4 membranes of 9 bits: 5 bytes.
    odd = small_config(n_in=3, hidden=(2,), n_out=2, w_bits=5, v_bits=9, threshold=40,
                       init_range=(15, 15), k_fb=1)
    assert footprint(odd)["weight_bytes"] == 7 and footprint(odd)["neuron_state_bytes"] == 5


def test_connection_sparsity_is_zeros_over_all_weights():
    assert connection_sparsity([np.array([[0, 3], [-1, 0]]), np.array([[0], [5]])]) == 3 / 6


def test_one_neuron_by_hand():
    """One input, one hidden neuron, threshold 4, leak v >> 2, reset by subtraction, weight 3,
    input spikes 1 1 0 0 1 0: membranes 3, 3+3=6 → fires → 2, 2 (2 >> 2 = 0: no leak),
    2, 2+3=5 → fires → 1, 1. Updates: every neuron at the first step, then 3→2, 2→1:
    1 + 2 = 3."""
    config = small_config(n_in=1, hidden=(1,), n_out=2, timesteps=6, threshold=4,
                          leak_shift=2, reset="subtract", init_range=(3, 3), k_fb=1)
    net = GoldenNet(config, [np.array([[3]]), np.array([[0, 0]])])
    raster = np.array([[1], [1], [0], [0], [1], [0]], dtype=np.uint8)
    figures = measure(net, [raster])
    assert net.forward(raster).counts[1].tolist() == [2]
    # The output layer (weights 0) never moves: its 2 updates at the first step.
    assert figures["membrane_updates"] == 3 + 2
    assert figures["activation_sparsity_by_layer"] == [4 / 6, 1.0]
    # Dense 6 · (1 + 2); 3 input spikes meet 1 non-zero weight each; the chip's SOPs
    # are 3 · 1 + 2 spikes · 2 outputs.
    assert figures["synaptic_operations"] == {"dense": 18.0, "effective_macs": 0.0,
                                              "effective_acs": 3.0, "sops": 7.0}
    assert figures["connection_sparsity"] == 2 / 3


def test_a_replay_that_differs_from_the_model_is_refused():
    net = GoldenNet(DIGITS)
    raster = encode(load_dataset("digits", DIGITS).x_test[:1], DIGITS)[0]
    result = net.forward(raster)
    counts = [c.copy() for c in result.counts]
    counts[1][0] += 1
    meter = NeuroBenchMeter(net)
    meter.add(raster, counts, result.sops)
    with pytest.raises(RuntimeError, match="membrane replay of layer 0"):
        meter.summary()


def test_float_models_have_no_membrane_updates_and_32_bit_footprint():
    model = FloatNet(DIGITS)
    raster = encode(load_dataset("digits", DIGITS).x_test[:1], DIGITS)[0]
    figures = measure(model, [raster])
    assert figures["membrane_updates"] is None
    assert figures["weight_bytes"] == 4 * 9472


def test_evaluate_reports_the_metrics_only_when_asked(trained_digits):
    net, dataset = trained_digits
    plain = evaluate(net, dataset, progress=False)
    figures = evaluate(net, dataset, progress=False, metrics=True)
    assert "neurobench" not in plain
    assert figures["neurobench"]["samples"] == len(dataset.y_test)
    assert figures["neurobench"]["synaptic_operations"]["sops"] == figures["sops_per_sample"]


# -- the neurobench package on a torch twin -----------------------------------------------

class IntegerLIF(SpikingNeuron):
    """golden.lif's integer LIF as an snnTorch neuron layer, so that NeuroBench's hooks
    see its spikes and membranes: the synaptic sums arrive as exact float32 integers."""

    def __init__(self, config):
        super().__init__(threshold=float(config.threshold), reset_mechanism=config.reset)
        self.config = config
        self.reset_mem()

    def reset_mem(self):
        self.mem = torch.zeros(1, dtype=torch.int64)

    def forward(self, current):
        config = self.config
        current = current.round().to(torch.int64)
        v = self.mem if self.mem.shape == current.shape else torch.zeros_like(current)
        u = (v - (v >> config.leak_shift) + current).clamp(config.v_min, config.v_max)
        spikes = u >= config.threshold
        reset = torch.zeros_like(u) if config.reset == "zero" else u - config.threshold
        self.mem = torch.where(spikes, reset, u)
        return spikes.to(torch.float32), self.mem


class Twin(torch.nn.Module):
    """The network as NeuroBench expects it: Linear layers (W transposed, no bias) each
    followed by a spiking layer; one timestep per call."""

    def __init__(self, config, weights):
        super().__init__()
        self.synapses = torch.nn.ModuleList()
        for w in weights:
            layer = torch.nn.Linear(*w.shape, bias=False)
            layer.weight.data = torch.tensor(np.asarray(w).T, dtype=torch.float32)
            self.synapses.append(layer)
        self.neurons = torch.nn.ModuleList(IntegerLIF(config) for _ in weights)

    def reset(self):
        for neurons in self.neurons:
            neurons.reset_mem()

    def forward(self, x):
        for synapses, neurons in zip(self.synapses, self.neurons):
            x, mem = neurons(synapses(x))
        return x, mem


@pytest.fixture(scope="module")
def trained_digits():
    """Golden trained one epoch on 150 digits (some weights reach zero), 120 test samples."""
    dataset = load_dataset("digits", DIGITS).limit(150, 120)
    net = GoldenNet(DIGITS)
    run_training(net, dataset, epochs=1, seed=1, progress=False, eval_each_epoch=False)
    return net, dataset


def test_neurobench_on_a_torch_twin_gives_our_figures(trained_digits):
    net, dataset = trained_digits
    rasters = encode(dataset.x_test, DIGITS)
    ours = measure(net, rasters)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(rasters, dtype=torch.float32),
                                       torch.tensor(dataset.y_test)), batch_size=50)
    twin = Twin(DIGITS, net.weights)
    benchmark = Benchmark(
        SNNTorchModel(twin), loader, [], [lambda spikes: spikes.sum(dim=1).argmax(dim=1)],
        [[Footprint, ConnectionSparsity, ParameterCount],
         [ActivationSparsity, ActivationSparsityByLayer, SynapticOperations,
          MembraneUpdates, ClassificationAccuracy]])
    theirs = benchmark.run(quiet=True)


    # The twin is the same network: it spikes as golden on every sample.
    with torch.no_grad():
        spikes = SNNTorchModel(Twin(DIGITS, net.weights))(
            torch.tensor(rasters[:20], dtype=torch.float32))
    assert [c.tolist() for c in spikes.sum(dim=1).to(torch.int64)] == \
        [net.forward(r).output_counts.tolist() for r in rasters[:20]]
    golden = np.mean([net.predict(r) == y for r, y in zip(rasters, dataset.y_test)])
    assert theirs["ClassificationAccuracy"] == pytest.approx(golden, rel=1e-6)
    assert ours["connection_sparsity"] > 0
    assert theirs["ConnectionSparsity"] == round(ours["connection_sparsity"], 4)
    assert theirs["ParameterCount"] == ours["parameters"]
    # NeuroBench's footprint is the twin's float32 storage (and snnTorch's buffers).
    buffers = sum(b.numel() * b.element_size() for b in twin.buffers())
    assert theirs["Footprint"] == 4 * ours["parameters"] + buffers
    assert theirs["ActivationSparsity"] == pytest.approx(ours["activation_sparsity"],
                                                         rel=1e-12)
    assert list(theirs["ActivationSparsityByLayer"].values()) == pytest.approx(
        ours["activation_sparsity_by_layer"], rel=1e-12)
    ops = theirs["SynapticOperations"]
    assert ops == {"Effective_MACs": 0.0, "Effective_ACs": ours["synaptic_operations"]
                   ["effective_acs"], "Dense": ours["synaptic_operations"]["dense"]}
    assert ours["synaptic_operations"]["effective_acs"] < ours["synaptic_operations"]["sops"]
    assert theirs["MembraneUpdates"] == ours["membrane_updates"] > 0


def test_train_and_eval_json_carry_the_same_metrics(tmp_path, capsys):
    """`train --json` reports the final network's metrics of the test split, `eval
    --json` of its checkpoint the same, to the last digit; a float run's footprint is
    float32 and it has no membrane updates."""
    def spikefab(*args):
        assert main(list(args)) == 0
        return json.loads(capsys.readouterr().out)

    checkpoint = str(tmp_path / "digits.npz")
    quick = ["--limit-train", "100", "--limit-test", "60", "--epochs", "1", "--json"]
    trained = spikefab("train", *quick, "--save", checkpoint)
    evaluated = spikefab("eval", "--checkpoint", checkpoint, "--limit-test", "60", "--json")
    assert trained["neurobench"] == evaluated["neurobench"]
    assert trained["neurobench"]["samples"] == 60
    assert trained["neurobench"]["synaptic_operations"]["sops"] == \
        evaluated["sops_per_sample"]
    floats = spikefab("eval", "--checkpoint", checkpoint, "--limit-test", "60",
                      "--engine", "float", "--json")["neurobench"]
    assert floats["membrane_updates"] is None and floats["weight_bytes"] == 4 * 9472


# -- make sim: golden's twin and the chip's own counts ------------------------------------

# The digits chip as `make sim` builds it, shared with tests/test_sim.py (one xdist group).
SIM_BUILD = Path(__file__).resolve().parents[1] / "build" / "sim"


@pytest.mark.slow   # about 30 s, mostly the simulator's start (make test-slow)
@pytest.mark.xdist_group("digits")
def test_make_sim_metrics_are_golden_evals_and_the_chip_counts_the_same(tmp_path):
    """The simulated chip's run reports the metrics that `spikefab eval` gives its final
    weights on the same test samples; the figures the chip counts itself (SOPs, output
    spikes, the weights read back) give the same values as golden's."""
    report = simulate(DIGITS, "digits", epochs=1, seed=1, out_dir=tmp_path,
                      build_dir=SIM_BUILD, limit_train=10, limit_test=8, float_model=False,
                      return_weights=True, log=lambda line: None)
    assert report["bit_exact"], report.get("failure")
    dataset = load_dataset("digits", DIGITS).limit(10, 8)
    final = GoldenNet(DIGITS, [np.array(w) for w in report["weights"]])
    bench = report["neurobench"]
    assert bench == evaluate(final, dataset, progress=False, metrics=True)["neurobench"]
    assert report["neurobench_chip"] == {
        "sops": bench["synaptic_operations"]["sops"],
        "output_activation_sparsity": bench["activation_sparsity_by_layer"][-1],
        "connection_sparsity": bench["connection_sparsity"]}
    assert report["neurobench_chip"]["sops"] == report["sops_per_infer_sample"]
    table = format_table(report)
    assert f"{bench['membrane_updates']:,.1f}" in table
    sparsity = f"{bench['connection_sparsity']:.4f}"
    assert re.search(rf"connection sparsity +{sparsity} +{sparsity}", table), table
