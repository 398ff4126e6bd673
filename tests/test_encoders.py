import numpy as np
import pytest

from hypothesis import given, settings, strategies as st

from spikefab.golden.encoders import encode, rate_encode, sigma_delta_encode

import reference
from conftest import small_config, with_rails


def test_rate_encoder_follows_the_lfsr_draw_order():
    # The plain LFSR of tests/reference.py, not golden's: draw n = t·3 + p.
    config = small_config(n_in=3, timesteps=4, lfsr_seed=0x1234)
    pixels = np.array([[128, 10, 250]])
    draws = reference.lfsr16_draws(0x1234, 12, 8)
    expected = [[int(pixels[0, p] > draws[3 * t + p]) for p in range(3)] for t in range(4)]
    assert rate_encode(pixels, config)[0].tolist() == expected


def test_rate_encoder_pinned_from_0xACE1():
    # Draws from 0xACE1 (tests/test_independent_refs.py, stepped by hand): 0xC4 = 196,
    # 0x62 = 98, 0x3B = 59. A pixel spikes when strictly above its draw.
    config = small_config(n_in=3, timesteps=1)
    pixels = np.array([[196, 99, 59], [197, 98, 60], [0, 255, 58]])
    assert rate_encode(pixels, config)[:, 0].tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


@settings(max_examples=25)
@given(seed=st.sampled_from([1, 0xACE1, 0xFFFF]), bits=st.integers(1, 8), n_in=st.integers(1, 20),
       timesteps=st.integers(1, 12), data=st.data())
def test_rate_encoder_equals_the_plain_statement(seed, bits, n_in, timesteps, data):
    """Pixels drawn with both rails (0, never a spike, and 2**bits - 1) and their
    neighbours a third of the time; LFSR seeds at both rails (1, 0xFFFF) and the
    preset's (few seeds: golden computes a whole period per seed, 0.2 s)."""
    config = small_config(n_in=n_in, timesteps=timesteps, lfsr_seed=seed, pixel_bits=bits)
    pixels = [data.draw(with_rails(0, config.pixel_max)) for _ in range(n_in)]
    raster = rate_encode(np.array([pixels]), config)[0]
    assert raster.tolist() == reference.rate_encode(pixels, config)


def test_rate_encoder_zero_never_fires_and_full_almost_always():
    config = small_config(n_in=200, timesteps=50)
    raster = rate_encode(np.array([[0] * 100 + [255] * 100]), config)[0]
    assert raster[:, :100].sum() == 0
    # 255 > draw fails only when the draw is 255
    assert raster[:, 100:].mean() > 0.99


def test_rate_encoder_statistics_match_intensity():
    config = small_config(n_in=256, timesteps=64)
    pixels = np.arange(256)[None, :]
    rates = rate_encode(pixels, config)[0].mean(axis=0)
    expected = pixels[0] / 256
    assert np.abs(rates - expected).max() < 0.2
    assert np.abs(rates - expected).mean() < 0.05
    assert np.corrcoef(rates, expected)[0, 1] > 0.98


def test_rate_encoder_reloads_the_lfsr_every_sample():
    config = small_config()
    pixels = np.array([[100, 120, 140, 160, 180, 200]] * 2)
    rasters = rate_encode(pixels, config)
    assert np.array_equal(rasters[0], rasters[1])


def test_sigma_delta_counts_round_to_nearest():
    config = small_config(n_in=256, timesteps=16)
    counts = sigma_delta_encode(np.arange(256)[None, :], config)[0].sum(axis=0)
    assert list(counts) == [(128 + 16 * x) // 256 for x in range(256)]


def test_sigma_delta_spreads_spikes_evenly():
    config = small_config(n_in=1, timesteps=16)
    raster = sigma_delta_encode(np.array([[64]]), config)[0, :, 0]
    # σ: 128 → 192 → 256 (spike, → 0) → 64 → 128 → …: one spike every 4 steps
    assert list(raster) == [0, 1, 0, 0] * 4


def test_encode_dispatches_on_config():
    pixels = np.array([[30, 60, 90, 120, 150, 180]])
    rate = small_config(encoding="rate")
    sd = small_config(encoding="sigma-delta")
    assert np.array_equal(encode(pixels, rate), rate_encode(pixels, rate))
    assert np.array_equal(encode(pixels, sd), sigma_delta_encode(pixels, sd))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 5), np.int64), "shape"),
    (np.full((1, 6), 256), "0 … 255"),
    (np.full((1, 6), -1), "0 … 255"),
    (np.full((1, 6), 0.5), "integers"),
])
def test_encoders_reject_bad_pixels(bad, message):
    with pytest.raises(ValueError, match=message):
        rate_encode(bad, small_config())
