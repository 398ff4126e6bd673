"""``make sim``: train on the chip in RTL simulation, compare with golden and float.

:func:`simulate` builds the chip for the config, runs :mod:`spikefab.sim.tb_train` on it
(every sample and every weight compared with golden inside the simulation), trains the
float model of the same algorithm on the host for comparison, and returns its report
(:data:`REPORT_KEYS`, plus the per-epoch history, the chip's counters, NeuroBench's
metrics of the test split (``neurobench``, ``neurobench_chip``) and the
``throughput``: training and inference samples per second of the measured cycles at each
board's target clock, and at the fmax of a bitstream built for the same config).
:func:`format_table` renders it for people.
"""

import json
import time
from pathlib import Path

from spikefab.cost import samples_per_second
from spikefab.golden.datasets import load_dataset
from spikefab.hw.core import default_buffer_depth
from spikefab.hw.families import BOARDS
from spikefab.protocol import check_samples_fit
from spikefab.train import make_model, run_training

from spikefab.sim import runner


__all__ = ["simulate", "build_folder", "format_table", "neurobench_rows", "throughput",
           "REPORT_KEYS"]

REPORT_KEYS = ("dataset", "config", "simulator", "epochs", "train_samples", "test_samples",
               "bit_exact", "mismatches", "hw_test_accuracy", "golden_test_accuracy",
               "float_test_accuracy", "cycles_per_train_sample", "cycles_per_infer_sample",
               "sops_per_train_sample", "weight_writes_per_train_sample", "weights_per_cycle",
               "sim_wall_s", "sim_cycles_per_s")


def build_folder(config, root="build/sim"):
    """The folder under ``root`` that holds the simulator builds of ``config``."""
    return Path(root) / f"{config.name}-{config.hash()}"


def simulate(config, dataset_spec, *, simulator="verilator", epochs=3, seed=1,
             out_dir="build/sim", build_dir=None, waves=False, limit_train=None,
             limit_test=None, float_model=True, return_weights=False, log=print,
             progress=None, algo="sparse-dfa"):
    """Train ``config`` on ``dataset_spec`` on the simulated chip; return the report.

    ``algo`` ``eggroll`` builds the chip with its ES units (``es_on_chip``) and runs
    :mod:`spikefab.sim.tb_es` (the float twin is float EGGROLL); any other algorithm
    is the config's DFA rule (:func:`spikefab.train.algo_config` makes ``dfa``'s).

    ``config`` must already carry the run's ``init_seed`` (the chip is built with those
    initial weights). The report is also written to ``out_dir/report.json``. The chip is
    built under ``build_dir`` (default ``out_dir``), in a folder named by the config's
    name and hash, so runs of the same chip share one simulator build. With a
    ``progress`` stream (a terminal), a live bar of the simulation is drawn on it.
    """
    start = time.perf_counter()
    es = algo == "eggroll"
    if es and not config.es_on_chip:
        config = config.replace(es_on_chip=True)
    out_dir = Path(out_dir)
    # Fail on a bad dataset before spending a build on it.
    dataset = load_dataset(dataset_spec, config).limit(limit_train, limit_test)
    check_samples_fit(dataset, default_buffer_depth(config))
    log(f"building the chip for config {config.name} ({config.hash()}, P={config.lanes}) "
        f"with {simulator}")
    built = runner.build(config, simulator, directory=build_folder(config, build_dir or out_dir),
                         waves=waves)
    log(f"  built in {built.build_s:.1f} s; training {epochs} epochs of "
        f"{len(dataset.y_train)} samples, testing {len(dataset.y_test)} "
        f"(log: {built.directory / f'run-{simulator}' / 'sim.log'})")
    job = {"dataset": dataset_spec, "epochs": epochs, "seed": seed,
           "limit_train": limit_train, "limit_test": limit_test,
           "return_weights": return_weights}
    rtl = runner.run(built, "spikefab.sim.tb_es" if es else "spikefab.sim.tb_train", job,
                     progress=progress)

    float_accuracy = float_history = None
    if float_model:
        floats = run_training(make_model("float", config, algo="eggroll" if es else algo),
                              dataset, epochs=epochs, seed=seed, progress=False,
                              eval_each_epoch=False)
        float_accuracy = floats["test_accuracy"]
        float_history = floats["history"]

    report = {
        "dataset": dataset_spec, "algo": algo, "config": config.name,
        "config_hash": config.hash(),
        "lanes": config.lanes, "simulator": simulator, "epochs": epochs, "seed": seed,
        "train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
        "bit_exact": rtl["passed"] and rtl.get("mismatches", 1) == 0
        and rtl.get("compared_samples") == epochs * len(dataset.y_train) + len(dataset.y_test),
        "float_test_accuracy": float_accuracy,
        **({"float_history": float_history} if float_history is not None else {}),
        "build_s": built.build_s,
        "wall_s": time.perf_counter() - start,
        **{key: value for key, value in rtl.items() if key not in ("passed",)},
    }
    if waves:
        report["waves"] = [str(p) for p in sorted(built.directory.rglob("*.fst"))
                           + sorted(built.directory.rglob("*.vcd"))]
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise runner.SimulatorError(f"the simulation reported no {', '.join(missing)}; "
                                    f"see {rtl['log']}")
    report["throughput"] = throughput(config, report)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {key: value for key, value in report.items() if key != "weights"}
    (out_dir / "report.json").write_text(json.dumps(saved, indent=1) + "\n")
    return report


def throughput(config, report, build_root="build"):
    """Training and inference samples per second of the measured cycles per sample, at
    each board's target clock and, where ``build_root/<board>/report.json`` holds a
    bitstream of this very config, at that build's fmax."""
    clocks = [(f"{name} target", board.target_hz / 1e6) for name, board in BOARDS.items()]
    for name in BOARDS:
        path = Path(build_root) / name / "report.json"
        try:
            built = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if built.get("config_hash") == config.hash() and built.get("fmax_mhz"):
            clocks.append((f"{name} fmax ({path})", built["fmax_mhz"]))
    return [{"clock": clock, "clock_mhz": mhz,
             **samples_per_second(report["cycles_per_train_sample"],
                                  report["cycles_per_infer_sample"], mhz * 1e6)}
            for clock, mhz in clocks]


def _percent(value):
    return "—" if value is None else f"{value:.2%}"


def neurobench_rows(report):
    """The table's rows of NeuroBench's metrics of the test split (:mod:`spikefab.metrics`):
    golden's twin's, and beside them those the chip counts itself."""
    bench, chip = report.get("neurobench"), report.get("neurobench_chip") or {}
    if not bench:
        return []
    ops = bench["synaptic_operations"]

    def fraction(value):
        return "" if value is None else f"{value:.4f}"

    return [
        ("NeuroBench (test split, per sample):", "", "", ""),
        ("  footprint, bytes (weights + membranes)", "",
         f"{bench['footprint_bytes']:,} ({bench['weight_bytes']:,} + "
         f"{bench['neuron_state_bytes']:,})", ""),
        ("  connection sparsity", fraction(chip.get("connection_sparsity")),
         fraction(bench["connection_sparsity"]), ""),
        ("  activation sparsity (hidden + output)", "",
         fraction(bench["activation_sparsity"]), ""),
        ("  activation sparsity, output layer",
         fraction(chip.get("output_activation_sparsity")),
         fraction(bench["activation_sparsity_by_layer"][-1]), ""),
        ("  synaptic ops: dense", "", f"{ops['dense']:,.0f}", ""),
        ("  synaptic ops: effective ACs (MACs: 0)", "", f"{ops['effective_acs']:,.1f}", ""),
        ("  SOPs performed (fan-out per spike)",
         "" if chip.get("sops") is None else f"{chip['sops']:,.1f}", f"{ops['sops']:,.1f}",
         ""),
        ("  membrane updates", "", "" if bench["membrane_updates"] is None
         else f"{bench['membrane_updates']:,.1f}", ""),
    ]


def format_table(report):
    """The report as a small text table: hardware, golden and float side by side."""
    rows = [
        ("test accuracy", _percent(report["hw_test_accuracy"]),
         _percent(report["golden_test_accuracy"]), _percent(report["float_test_accuracy"])),
        ("train accuracy (online)", _percent(report.get("train_accuracy")), "", ""),
        ("cycles / train sample", f"{report['cycles_per_train_sample']:,.0f}", "", ""),
        ("cycles / infer sample", f"{report['cycles_per_infer_sample']:,.0f}", "", ""),
        ("SOPs / train sample", f"{report['sops_per_train_sample']:,.0f}", "", ""),
        ("weight writes / train sample", f"{report['weight_writes_per_train_sample']:,.1f}",
         "", ""),
        ("weights / cycle (P = %d)" % report["lanes"], f"{report['weights_per_cycle']:.2f}",
         "", ""),
    ]
    if report.get("memory_bound_ratio"):
        rows.append(("cycles / memory-port bound (training)",
                     f"{report['memory_bound_ratio']:.3f}", "", ""))
    for rate in report.get("throughput", []):
        rows.append((f"train / infer samples/s at {rate['clock_mhz']:.1f} MHz "
                     f"({rate['clock']})",
                     f"{rate['train_samples_per_s']:,.0f} / {rate['infer_samples_per_s']:,.0f}",
                     "", ""))
    rows += neurobench_rows(report)
    header = ("", "hardware (RTL)", "golden", "float")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(4)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
              for row in rows]
    verdict = "bit-exact: every sample and every weight equal golden" if report["bit_exact"] \
        else f"NOT bit-exact: {report.get('failure', 'see the log')}"
    lines.append("")
    lines.append(f"{report['dataset']} / config {report['config']} on {report['simulator']}, "
                 f"{report['epochs']} epochs: {verdict}")
    lines.append(f"simulated {report.get('simulated_cycles', 0):,} cycles in "
                 f"{report['sim_wall_s']:.1f} s ({report['sim_cycles_per_s']:,.0f} cycles/s)")
    return "\n".join(lines)
