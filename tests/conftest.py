"""Shared fixtures and strategies; the hypothesis profile every test runs under."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st

from spikefab.config import Config


# One profile, locally and in CI: examples derived from each test's own source
# (derandomize), no example database to replay, no wall-clock deadline and no health
# check that depends on the machine's speed. Hypothesis loads its "ci" profile when CI is
# set; this replaces it (and the unseeded default) everywhere, so a run draws the same
# examples wherever it runs. Module-level settings(...) objects in the test files are
# made after this file is loaded and inherit it.
settings.register_profile(
    "spikefab", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("spikefab")


def with_rails(lo, hi):
    """Integers in ``lo … hi`` that reach both rails and their neighbours often (a third
    of the draws), the rest spread over the range."""
    edges = sorted({v for v in (lo, lo + 1, hi - 1, hi) if lo <= v <= hi})
    return st.sampled_from(edges) | st.integers(lo, hi) | st.integers(lo, hi)


def small_config(**overrides):
    """A tiny valid config; tests override what they probe."""
    fields = dict(name="tiny", n_in=6, hidden=(5,), n_out=3, timesteps=6, v_bits=12,
                  threshold=40, leak_shift=2, init_range=(20, 20), target_count=6,
                  gate_hi=6, lr_shift_out=2, lr_shift_hidden=3)
    fields.update(overrides)
    if "hidden" in overrides and "init_range" not in overrides:
        fields["init_range"] = (20,) * (len(fields["hidden"]) + 1)
    # Fields bounded by others follow them unless the test sets them itself.
    T = fields["timesteps"]
    for name in ("target_count", "gate_hi"):
        if name not in overrides:
            fields[name] = min(fields[name], T)
    if "v_bits" not in overrides:
        fan_in = max((fields["n_in"], *fields["hidden"]))
        fields["v_bits"] = max(fields["v_bits"], (fan_in << 7).bit_length() + 1)
    return Config(**fields)


@st.composite
def random_configs(draw):
    """Small random configs spanning every option of the contract."""
    n_hidden = draw(st.integers(1, 2))
    hidden = tuple(draw(st.integers(1, 7)) for _ in range(n_hidden))
    n_in = draw(st.integers(1, 9))
    n_out = draw(st.integers(2, 5))
    w_bits = draw(st.integers(2, 8))
    fan_in = max((n_in, *hidden))
    v_min_bits = (fan_in << (w_bits - 1)).bit_length() + 1
    v_bits = draw(st.integers(max(v_min_bits, 4), max(v_min_bits, 4) + 4))
    timesteps = draw(st.integers(1, 8))
    gate_lo = draw(st.integers(0, timesteps))
    margin = draw(st.integers(0, timesteps))
    w_max = (1 << (w_bits - 1)) - 1
    return Config(
        n_in=n_in, hidden=hidden, n_out=n_out, timesteps=timesteps,
        v_bits=v_bits, w_bits=w_bits,
        threshold=draw(st.integers(1, (1 << (v_bits - 1)) - 1)),
        leak_shift=draw(st.integers(1, v_bits - 1)),
        reset=draw(st.sampled_from(["subtract", "zero"])),
        init_range=tuple(draw(st.integers(0, w_max)) for _ in range(n_hidden + 1)),
        init_seed=draw(st.integers(0, 2**32 - 1)),
        k_fb=draw(st.integers(1, n_out)),
        feedback_seed=draw(st.integers(0, 2**32 - 1)),
        target_count=draw(st.integers(0, timesteps)),
        margin=margin,
        error_clip=draw(st.just(0) | st.integers(margin + 1, timesteps))
        if margin < timesteps else 0,
        gate_lo=gate_lo, gate_hi=draw(st.integers(gate_lo, timesteps)),
        lr_shift_out=draw(st.integers(0, 5)), lr_shift_hidden=draw(st.integers(0, 5)),
        rounding=draw(st.sampled_from(["nearest", "stochastic"])),
        rounding_seed=draw(st.integers(1, 2**32 - 1)),
    )


@pytest.fixture
def tiny():
    return small_config()


def random_raster(rng, config, density=0.5):
    return (rng.random((config.timesteps, config.n_in)) < density).astype(np.uint8)
