"""The saccade event-camera emulator (golden/saccade.py), its datasets and its preset.

The pixel rule is checked against a plain loop written here from the module docstring,
fed by the numpy interpolation (``saccade_frames``), which is coded apart from the
kernel's; the properties a sensor must have (polarities, refractory period, threshold,
sensor and window bounds, silence on a blank image) are checked on digits.
"""

import hashlib
import os

import numpy as np
import pytest

from spikefab.config import preset
from spikefab.golden import saccade, saccade_dataset
from spikefab.golden.datasets import DatasetError, load_dataset, load_digits_dataset
from spikefab.golden.saccade import (LOG_TABLE, fixed_log2, pixel_thresholds, saccade_events,
                                     saccade_frames, saccade_params, saccade_rasters)

from test_checkpoint import assert_one_line_error, run_cli
from test_datasets import idx_bytes

DIGITS_PARAMS = saccade_params(8)


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def image(digits, index=0):
    return digits.x_train[index].reshape(8, 8)


def reference_events(img, params, jitter):
    """The pixel rule of the module docstring, one pixel at a time, on ``saccade_frames``:
    a list of ``(step, y, x, polarity)``."""
    levels = LOG_TABLE[saccade_frames(img, params, jitter)]
    on, off = pixel_thresholds(params)
    r = params.refractory_steps
    events = []
    for y in range(params.sensor):
        for x in range(params.sensor):
            ref, last = levels[0, y, x], None
            for e in range(params.event_steps):
                level = levels[e + 1, y, x]
                if last is not None and e - last < r:
                    ref = level
                elif level - ref >= on[y, x] or ref - level >= off[y, x]:
                    events.append((e, y, x, int(level > ref)))
                    ref, last = level, e
    return sorted(events)


def as_tuples(events, params):
    return sorted((int(t) // params.step_us, int(y), int(x), int(p))
                  for x, y, t, p in events)


# -- the rule -------------------------------------------------------------------------------

@pytest.mark.parametrize("index", [0, 5, 17])
def test_kernel_equals_the_plain_rule(digits, index):
    img = image(digits, index)
    jitter = saccade.image_jitter(DIGITS_PARAMS, "train", index + 1)[index]
    events = saccade_events(img, DIGITS_PARAMS, "train", index)
    assert len(events) > 100
    assert as_tuples(events, DIGITS_PARAMS) == reference_events(img, DIGITS_PARAMS, jitter)


def test_kernel_equals_the_plain_rule_on_28x28_with_a_long_refractory_period():
    params = saccade_params(28, refractory_us=40_000, threshold=150, mismatch=40, seed=9)
    img = np.random.default_rng(3).integers(0, 256, (28, 28)) * \
        (np.random.default_rng(4).random((28, 28)) < 0.3)
    jitter = saccade.image_jitter(params, "test", 3)[2]
    events = saccade_events(img, params, "test", 2)
    assert params.refractory_steps == 7
    assert as_tuples(events, params) == reference_events(img, params, jitter)


def test_events_respect_the_threshold_against_the_last_reset(digits):
    """Every event's log change since its pixel's reference (frame 0, or ``r`` frames
    after its previous event) reaches that pixel's threshold, with the event's sign."""
    params = DIGITS_PARAMS
    img = image(digits, 3)
    jitter = saccade.image_jitter(params, "train", 4)[3]
    levels = LOG_TABLE[saccade_frames(img, params, jitter)]
    on, off = pixel_thresholds(params)
    previous = {}
    events = saccade_events(img, params, "train", 3)
    for x, y, t, p in events:
        e = t // params.step_us
        ref = levels[previous[x, y] + params.refractory_steps, y, x] \
            if (x, y) in previous else levels[0, y, x]
        change = levels[e + 1, y, x] - ref
        assert change >= on[y, x] if p else -change >= off[y, x]
        previous[x, y] = e
    assert on.min() >= params.threshold - params.mismatch
    assert on.max() <= params.threshold + params.mismatch
    assert on.min() < on.max() and not np.array_equal(on, off)   # fixed-pattern mismatch


def test_refractory_period_sensor_and_window(digits):
    params = saccade_params(8, refractory_us=20_000)
    for index in range(5):
        events = saccade_events(image(digits, index), params, "train", index)
        assert set(np.unique(events["p"])) == {0, 1}                  # both polarities
        assert events["x"].min() >= 0 and events["x"].max() < params.sensor
        assert events["y"].min() >= 0 and events["y"].max() < params.sensor
        assert events["t"].min() >= 0 and events["t"].max() < params.window_us
        order = np.lexsort((events["t"], events["x"], events["y"]))
        pixel = events["y"][order] * params.sensor + events["x"][order]
        gaps = np.diff(events["t"][order])[np.diff(pixel) == 0]
        assert gaps.min() >= params.refractory_us


def test_a_longer_refractory_period_or_higher_threshold_gives_fewer_events(digits):
    img = image(digits)
    counts = [len(saccade_events(img, saccade_params(8, **change)))
              for change in ({}, {"refractory_us": 30_000}, {"threshold": 300})]
    assert counts[0] > counts[1] > 0 and counts[0] > counts[2] > 0


def test_a_blank_image_gives_no_events():
    assert len(saccade_events(np.zeros((8, 8)), DIGITS_PARAMS)) == 0
    assert saccade_rasters(np.zeros((3, 64)), DIGITS_PARAMS, "train", 16).sum() == 0


def test_a_threshold_above_any_contrast_gives_no_events(digits):
    # White on black is 2048 units of log2/256 (4096 - 2048).
    params = saccade_params(8, threshold=int(LOG_TABLE[-1] - LOG_TABLE[0]) + 1, mismatch=0)
    assert len(saccade_events(image(digits), params)) == 0


def test_determinism_from_the_seed(digits):
    a = saccade_events(image(digits), DIGITS_PARAMS, "train", 7)
    assert np.array_equal(a, saccade_events(image(digits), DIGITS_PARAMS, "train", 7))
    other_seed = saccade_events(image(digits), saccade_params(8, seed=2), "train", 7)
    other_image_slot = saccade_events(image(digits), DIGITS_PARAMS, "test", 7)
    assert not np.array_equal(a, other_seed)
    assert not np.array_equal(a, other_image_slot)


def test_digits_rasters_are_pinned():
    """A checksum of the first 40 test rasters of saccade:digits for the preset: a change
    in the emulator (or in anything it draws on) must bump EMULATOR_VERSION and this."""
    data = load_dataset("saccade:digits", preset("saccade"))
    digest = hashlib.sha256(np.ascontiguousarray(data.x_test[:40]).tobytes()).hexdigest()
    assert digest[:16] == PINNED_DIGITS_RASTERS
    assert saccade_dataset.EMULATOR_VERSION == 2


PINNED_DIGITS_RASTERS = "bb2bf75b7ae801f9"


# -- interpolation and log ------------------------------------------------------------------

def test_frames_at_whole_pixels_are_the_image_and_keep_its_light(digits):
    img = image(digits).astype(np.int64)
    frames = saccade_frames(img, DIGITS_PARAMS, (0, 0))
    # Frame 0: the image's origin at (1, 0) sensor pixels (centred, then up by a = 1 px).
    assert np.array_equal(frames[0, 0:8, 1:9], 256 * img)
    assert frames[0].sum() == 256 * img.sum()
    # Between whole pixels the light is shared, not lost, while the image stays inside.
    inside = [k for k in range(len(frames)) if frames[k].sum() == 256 * img.sum()]
    assert len(inside) > 10
    half = saccade_frames(np.eye(8, dtype=np.int64) * 255, saccade_params(8), (8, 0))
    assert set(np.unique(half[0])) <= {0, 128 * 255, 256 * 255}


def test_fixed_log2_is_the_exact_floor():
    """``floor(256·log2 x)`` checked with integers only: ``2**r ≤ x**256 < 2**(r+1)``."""
    xs = np.concatenate([np.arange(1, 600), np.arange(600, 65536, 97), [65535, 65536]])
    for x, r in zip(xs.tolist(), fixed_log2(xs).tolist()):
        assert 1 << r <= x ** 256 < 1 << (r + 1), x
    assert LOG_TABLE[0] == 8 * 256 and LOG_TABLE[-1] == 16 * 256
    with pytest.raises(ValueError):
        fixed_log2([0])


def test_rasters_bin_and_pool_the_events(digits):
    images = digits.x_train[:4]
    for pool in (1, 2, 3):
        rasters = saccade_rasters(images, DIGITS_PARAMS, "train", 16, pool=pool)
        side = -(-DIGITS_PARAMS.sensor // pool)
        assert rasters.shape == (4, 16, 2 * side * side)
        for n in range(4):
            expect = np.zeros_like(rasters[n])
            for x, y, t, p in saccade_events(images[n], DIGITS_PARAMS, "train", n):
                step = t // DIGITS_PARAMS.step_us
                expect[step * 16 // DIGITS_PARAMS.event_steps,
                       p * side * side + (y // pool) * side + x // pool] = 1
            assert np.array_equal(rasters[n], expect)


def test_chunks_do_not_change_the_rasters(digits):
    whole = saccade_rasters(digits.x_test[:10], DIGITS_PARAMS, "test", 8)
    assert np.array_equal(whole, saccade_rasters(digits.x_test[:10], DIGITS_PARAMS, "test",
                                                 8, chunk=3))


@pytest.mark.parametrize("change, message", [
    ({"threshold": 0}, "threshold must be a positive integer"),
    ({"mismatch": 192}, "mismatch must be in"),
    ({"steps": 1.5}, "steps must be a positive integer"),
])
def test_bad_camera_parameters(change, message):
    with pytest.raises(ValueError, match=message):
        saccade_params(8, **change)


# -- datasets, cache, preset ----------------------------------------------------------------

def test_saccade_digits_fits_the_preset():
    config = preset("saccade")
    data = load_dataset("saccade:digits", config)
    assert data.kind == "events" and data.name == "saccade:digits"
    assert data.x_train.shape == (1438, config.timesteps, 200) == (1438, 16, config.n_in)
    assert data.x_test.shape == (359, 16, 200)
    assert 200 < data.x_train.sum((1, 2)).mean() < 400
    # Pooled 2×2: a 5×5 sensor.
    pooled = load_dataset("saccade:digits", config.replace(n_in=50))
    assert pooled.x_test.shape == (359, 16, 50)


def test_every_saccade_digits_sample_fits_the_chips_input_buffer():
    """An event sample's payload (header, then each timestep's addresses and an end word,
    two bytes each) must fit the chip's input buffer, or the chip refuses its frame."""
    from spikefab.hw.core import default_buffer_depth
    from spikefab.protocol import SAMPLE_HEADER, event_payload
    config = preset("saccade")
    data = load_dataset("saccade:digits", config)
    events = np.concatenate([data.x_train.sum((1, 2)), data.x_test.sum((1, 2))])
    worst = data.x_train[np.argmax(data.x_train.sum((1, 2)))]
    assert SAMPLE_HEADER + len(event_payload(worst)) <= default_buffer_depth(config)
    assert SAMPLE_HEADER + 2 * (events.max() + config.timesteps) <= default_buffer_depth(config)


def test_preset_learns_saccade_digits():
    from spikefab.train import make_model, train_epochs
    config = preset("saccade")
    data = load_dataset("saccade:digits", config)
    figures, _ = train_epochs(make_model("golden", config), data, epochs=2, seed=1,
                              progress=False, eval_each_epoch=False)
    assert figures["test_accuracy"] > 0.55, figures["test_accuracy"]


@pytest.mark.slow
def test_sparse_dfa_leads_dense_on_saccade_digits_with_fewer_writes():
    """The README's claim (issue 16): on the saccade preset, 20 epochs, seeds 1-4, sparse
    DFA (k_fb = 2) 85.58 % with 575 writes a sample, dense DFA 84.40 % with 889 (about
    15 s a rule)."""
    from spikefab.train import algo_config, make_model, run_training
    data = load_dataset("saccade:digits", preset("saccade"))
    figures = {}
    for algo in ("sparse-dfa", "dfa"):
        config = algo_config(preset("saccade"), algo)
        runs = [run_training(make_model("golden", config.replace(init_seed=seed)), data,
                             epochs=20, seed=seed, progress=False, eval_each_epoch=False)
                for seed in (1, 2, 3, 4)]
        figures[algo] = (np.mean([r["test_accuracy"] for r in runs]),
                         np.mean([r["weight_writes_per_sample"] for r in runs]))
    (sparse, sparse_writes), (dense, dense_writes) = figures["sparse-dfa"], figures["dfa"]
    assert abs(sparse - 0.8558) <= 0.003 and abs(dense - 0.8440) <= 0.003, figures
    assert sparse >= dense and sparse_writes < 0.7 * dense_writes, figures


@pytest.mark.parametrize("spec, message", [
    ("saccade:nosuch", "unknown dataset 'saccade:nosuch'; saccade: takes a pixel dataset"),
    ("saccade:nmnist:/tmp", "unknown dataset 'saccade:nmnist:/tmp'"),
    ("saccade:", "unknown dataset 'saccade:'"),
    ("saccade:idx:/nonexistent", "dataset folder /nonexistent does not exist"),
])
def test_bad_specs_are_one_line_errors(capsys, spec, message):
    refused(capsys, spec, message)


def test_sim_refuses_a_bad_spec_before_building(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sim", "--dataset", "saccade:nosuch", "--config", "saccade",
                           "--out", tmp_path)
    assert_one_line_error(code, err, "unknown dataset 'saccade:nosuch'")
    assert not any(tmp_path.iterdir())


def refused(capsys, spec, message, folder="", config="saccade"):
    """``spikefab train`` on ``spec + folder`` stops with one line holding ``message``."""
    code, _, err = run_cli(capsys, "train", "--dataset", f"{spec}{folder}", "--config", config)
    assert_one_line_error(code, err, message)


def test_inputs_that_no_pooling_gives(capsys):
    refused(
        capsys, "saccade:digits",
        "saccade:digits gives 2·H·W inputs (its 10×10 sensor after f×f pooling); "
        "the config's n_in=64 is none of [200, 50, 32, 18, 8]", config="digits")


def test_images_that_are_not_square(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(
            idx_bytes(rng.integers(0, 256, (n, 3, 4))))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(rng.integers(0, 3, n)))
    refused(capsys, "saccade:idx:", "saccades need square images, not 12 pixels", tmp_path)


def test_large_splits_are_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEFAB_CACHE", str(tmp_path))
    monkeypatch.setattr(saccade_dataset, "CACHE_MIN_PIXELS", 0)
    config = preset("saccade")
    first = load_dataset("saccade:digits", config)
    folder = tmp_path / "saccade"
    files = sorted(os.listdir(folder))
    assert len(files) == 2 and all(name.endswith(".npy") for name in files)

    def no_emulation(*args, **kwargs):
        raise AssertionError("emulated again instead of read from the cache")

    monkeypatch.setattr(saccade_dataset, "saccade_rasters", no_emulation)
    again = load_dataset("saccade:digits", config)
    assert np.array_equal(first.x_train, again.x_train)
    assert np.array_equal(first.x_test, again.x_test)
    # A damaged file is made again, in place; nothing temporary is left behind.
    (folder / files[0]).write_bytes(b"not an npy file")
    monkeypatch.undo()
    monkeypatch.setenv("SPIKEFAB_CACHE", str(tmp_path))
    monkeypatch.setattr(saccade_dataset, "CACHE_MIN_PIXELS", 0)
    remade = load_dataset("saccade:digits", config)
    assert np.array_equal(first.x_test, remade.x_test)
    assert np.array_equal(first.x_train, remade.x_train)
    assert sorted(os.listdir(folder)) == files


def test_an_unwritable_cache_folder_still_gives_the_rasters(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SPIKEFAB_CACHE", str(blocker))
    monkeypatch.setattr(saccade_dataset, "CACHE_MIN_PIXELS", 0)
    data = load_dataset("saccade:digits", preset("saccade"))
    assert data.x_test.shape == (359, 16, 200)


# -- on the chip ----------------------------------------------------------------------------

@pytest.mark.slow
def test_saccade_preset_on_verilator_is_bit_exact(tmp_path):
    """The saccade chip in Verilator on saccade:digits. Slow: no other test builds this
    config, and its Verilator build (25 s alone, minutes on a shared machine) would come
    on top of `make test`'s budget; README gives the figures."""
    from pathlib import Path
    from spikefab.sim.simulate import simulate
    root = Path(__file__).resolve().parents[1]
    report = simulate(preset("saccade"), "saccade:digits", epochs=1, seed=1,
                      out_dir=tmp_path, build_dir=root / "build" / "sim", limit_train=30,
                      limit_test=20, float_model=False, log=lambda line: None)
    assert report["bit_exact"], report.get("failure")
    assert report["hw_test_accuracy"] == report["golden_test_accuracy"]
    assert report["compared_samples"] == 50 and report["mismatches"] == 0
