"""Evolution strategies (golden.es, golden.es_float, spikefab.bptt) and their CLI.

The integer contract is checked against plain statements written here (factor bits,
member weights, update), not against the functions under test.
"""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab import cli
from spikefab.config import PRESETS, ConfigError, preset
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.golden.es import (GoldenES, accumulate_update,
                                apply_es_update, fitness, generation_plan, member_weights,
                                pair_factors, pair_signals, rank_sums,
                                run_member_on_the_fly)
from spikefab.golden.es_float import FloatES
from spikefab.golden.learning import RoundingGenerator
from spikefab.golden.network import GoldenNet
from spikefab.golden.rng import ORDER_SEED_OFFSET, XorShift32
from spikefab.train import train_epochs

from conftest import random_configs, random_raster, small_config


# -- plain statements of the contract --------------------------------------------------

def plain_xorshift_words(seed, count):
    x = (seed & 0xFFFFFFFF) or 0x9E3779B9
    words = []
    for _ in range(count):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        words.append(x)
    return words


def plain_factors(shapes, rank, seed):
    """Rule 2 read literally: per layer A (fan_out × r) then B (fan_in × r), each from
    fresh words, entry (row, t) = bit row·r + t, LSB first, 1 → +1, 0 → -1."""
    words = plain_xorshift_words(seed, 4096)
    position = 0
    factors = []
    for fan_in, fan_out in shapes:
        matrices = []
        for rows in (fan_out, fan_in):
            matrix = [[0] * rank for _ in range(rows)]
            for row in range(rows):
                for t in range(rank):
                    n = row * rank + t
                    bit = (words[position + n // 32] >> (n % 32)) & 1
                    matrix[row][t] = 1 if bit else -1
            position += -(-rows * rank // 32)
            matrices.append(matrix)
        factors.append(tuple(matrices))       # (A, B) as ±1 lists
    return factors


def plain_member_weight(config, w, A, B, i, j, sign):
    S = sum(A[j][t] * B[i][t] for t in range(config.es_rank))
    return min(max(w + sign * S * 2 ** config.es_sigma_shift, config.w_min), config.w_max)


def plain_update(config, weights, factor_sets, signals, shifts, rounding_state):
    """Rules 7–8 read literally; returns (new weights, writes, rounding state)."""
    weights = [w.astype(np.int64).copy() for w in weights]
    writes = 0
    state = rounding_state
    for layer, w in enumerate(weights):
        s = shifts[layer]
        fan_in, fan_out = w.shape
        for i in range(fan_in):
            if config.rounding == "stochastic":
                state = plain_xorshift_words(state, 1)[0]
                R = state >> 16
            for j in range(fan_out):
                Z = 0
                for (factors, d) in zip(factor_sets, signals):
                    A, B = factors[layer]
                    Z += d * sum(A[j][t] * B[i][t] for t in range(config.es_rank))
                if config.rounding == "stochastic":
                    rho = ((R + j * 0x9E37) % 65536) >> (16 - s)
                else:
                    rho = 2 ** (s - 1) if s else 0
                m = min((abs(Z) + rho) // 2 ** s, config.es_max_step)
                if Z == 0 or m == 0:
                    continue
                new = min(max(w[i, j] + (m if Z > 0 else -m), config.w_min), config.w_max)
                if new != w[i, j]:
                    w[i, j] = new
                    writes += 1
    return weights, writes, state


def es_config(config, draw):
    return config.replace(es_rank=draw(st.integers(1, 8)),
                          es_sigma_shift=draw(st.integers(0, config.w_bits - 1)),
                          es_population=2 * draw(st.integers(1, 3)),
                          es_lr_shift=draw(st.integers(0, 4)),
                          es_max_step=draw(st.integers(1, min(3, 1 << (config.w_bits - 1)))))


def rail_weights(config, rng):
    """Weights crowded at the rails (and zero), so saturation is hit often."""
    weights = []
    for shape in config.weight_shapes:
        choice = rng.integers(0, 4, shape)
        w = rng.integers(config.w_min, config.w_max + 1, shape)
        w = np.where(choice == 0, config.w_max, np.where(choice == 1, config.w_min, w))
        weights.append(w)
    return weights


# -- rule 2: factor bits ---------------------------------------------------------------

def test_factor_bits_pinned_by_hand():
    # XorShift32(1)'s words: 270369 = 0x42021 (bits 0, 5, 13, 18 set), then
    # 67634689 = 0x4080601 (bits 0, 9, 10, 19, 26), 2647435461 = 0x9DCCA8C5.
    config = small_config(n_in=12, hidden=(32,), n_out=3, es_rank=1)
    (a, b), (a2, b2) = pair_factors(config, 1)
    assert list(a) == [1 if n in (0, 5, 13, 18) else 0 for n in range(32)]   # word 1
    assert list(b) == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]                  # word 2
    assert list(a2) == [1, 0, 1]          # word 3, 0x...C5 = 0b11000101: bits 0, 2
    assert len(b2) == 32
    # rank 3: row j of A holds bits 3j … 3j+2 of the word, entry t at bit t
    config3 = small_config(n_in=2, hidden=(4,), n_out=2, es_rank=3)
    (a, b), _ = pair_factors(config3, 1)
    assert list(a) == [0b001, 0b100, 0b000, 0b000]      # bits 0 and 5 of 0x42021
    assert list(b) == [0b001, 0b000]                    # bit 0 of 0x4080601


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 40), hidden=st.lists(st.integers(1, 40), min_size=1, max_size=2),
       n_out=st.integers(2, 12), rank=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_factor_bits_follow_the_documented_order(n_in, hidden, n_out, rank, seed):
    config = small_config(n_in=n_in, hidden=tuple(hidden), n_out=n_out, es_rank=rank)
    expected = plain_factors(config.weight_shapes, rank, seed)
    for (a, b), (A, B) in zip(pair_factors(config, seed), expected):
        for bits, matrix in ((a, A), (b, B)):
            assert [[1 if (int(x) >> t) & 1 else -1 for t in range(rank)] for x in bits] \
                == matrix


def test_rank_sum_is_the_signed_dot_product():
    config = small_config(n_in=9, hidden=(7,), n_out=3, es_rank=5)
    for seed in (3, 0xDEADBEEF):
        plain = plain_factors(config.weight_shapes, 5, seed)
        for S, (A, B) in zip(rank_sums(config, pair_factors(config, seed)), plain):
            expected = [[sum(A[j][t] * B[i][t] for t in range(5)) for j in range(len(A))]
                        for i in range(len(B))]
            assert S.tolist() == expected


# -- rules 3–4: member weights and the forward pass ------------------------------------

@st.composite
def member_cases(draw):
    config = es_config(draw(random_configs()), draw)
    seed = draw(st.integers(0, 2**32 - 1))
    sign = draw(st.sampled_from([1, -1]))
    return config, seed, sign, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member_cases())
def test_on_the_fly_member_equals_explicit_perturbed_weights(case):
    config, seed, sign, data_seed = case
    rng = np.random.default_rng(data_seed)
    net = GoldenES(config, rail_weights(config, rng))
    factors = pair_factors(config, seed)
    plain = plain_factors(config.weight_shapes, config.es_rank, seed)
    explicit = []
    for w, (A, B) in zip(net.weights, plain):
        explicit.append(np.array([[plain_member_weight(config, int(w[i, j]), A, B, i, j, sign)
                                   for j in range(w.shape[1])] for i in range(w.shape[0])]))
    assert all((m == e).all() for m, e in
               zip(member_weights(config, net.weights, factors, sign), explicit))
    stored = [w.copy() for w in net.weights]
    member_net = GoldenNet(config, explicit)
    for _ in range(3):
        raster = random_raster(rng, config, density=rng.random())
        on_the_fly = run_member_on_the_fly(net, factors, sign, raster)
        reference = member_net.forward(raster)
        assert [list(c) for c in on_the_fly.counts] == [list(c) for c in reference.counts]
        assert on_the_fly.sops == reference.sops
    assert all((w == s).all() for w, s in zip(net.weights, stored))   # never stored


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member_cases())
def test_fast_population_path_equals_the_on_the_fly_members(case):
    config, seed, _, data_seed = case
    rng = np.random.default_rng(data_seed)
    net = GoldenES(config, rail_weights(config, rng))
    rasters = np.array([random_raster(rng, config, density=rng.random()) for _ in range(3)])
    labels = rng.integers(0, config.n_out, 3)
    seeds = [seed + k for k in range(config.es_population // 2)]
    fitnesses, _, correct, sops = net.evaluate_population(rasters, labels, seeds)
    expected_correct = expected_sops = 0
    for m in range(config.es_population):
        factors = pair_factors(config, seeds[m // 2])
        runs = [run_member_on_the_fly(net, factors, 1 - 2 * (m % 2), r) for r in rasters]
        counts = np.array([run.output_counts for run in runs])
        assert fitnesses[m] == fitness(config, counts, labels)
        expected_correct += int((counts.argmax(axis=1) == labels).sum())
        expected_sops += sum(run.sops for run in runs)
    assert (correct, sops) == (expected_correct, expected_sops)


def test_population_pairs_are_antithetic_and_scored_on_the_batch():
    config = small_config(n_in=8, hidden=(6,), n_out=3, es_rank=2, es_sigma_shift=2,
                          es_population=6)
    rng = np.random.default_rng(5)
    net = GoldenES(config)
    rasters = np.array([random_raster(rng, config) for _ in range(4)])
    labels = np.array([0, 2, 1, 2])
    seeds = [11, 22, 33]
    fitnesses, _, correct, _ = net.evaluate_population(rasters, labels, seeds)
    expected_correct = 0
    for m in range(6):
        factors = pair_factors(config, seeds[m // 2])
        sign = 1 if m % 2 == 0 else -1
        counts = np.array([run_member_on_the_fly(net, factors, sign, r).output_counts
                           for r in rasters])
        error = counts.copy()
        error[np.arange(4), labels] -= config.target_count
        squares = np.maximum(np.abs(error) - config.margin, 0) ** 2
        squares[np.arange(4), labels] *= 4
        assert fitnesses[m] == -squares.sum()
        expected_correct += (counts.argmax(axis=1) == labels).sum()
    assert correct == expected_correct
    # the two members of a pair move each unsaturated weight by opposite amounts
    plus, minus = (member_weights(config, net.weights, pair_factors(config, 11), s)
                   for s in (1, -1))
    for w, p, q in zip(net.weights, plus, minus):
        inside = (p > config.w_min) & (p < config.w_max) & (q > config.w_min) & \
            (q < config.w_max)
        assert ((p - w)[inside] == (w - q)[inside]).all()


# -- rules 5–6: fitness and pair signals -----------------------------------------------

def test_fitness_hand_computed():
    config = small_config(n_out=3, target_count=6)
    # e = [3, 0, 0] (label 1) and [1, 0, -4] (label 2, counted 4 times)
    assert fitness(config, [[3, 6, 0], [1, 0, 2]], [1, 2]) == -(9 + 1 + 4 * 16)
    margin = small_config(n_out=3, target_count=6, margin=1)
    # beyond the margin: [2, 0, 0] and [0, 0, 3]
    assert fitness(margin, [[3, 6, 0], [1, 0, 2]], [1, 2]) == -(4 + 4 * 9)
    clipped = small_config(n_out=3, target_count=6, error_clip=2)
    assert fitness(clipped, [[3, 6, 0]], [0]) == -(4 * 4 + 4 + 0)


def test_pair_signals_hand_computed():
    # Δ = 10, 0, -20; M = 30, K = 3: min(3, (9·|Δ| + 30) div 60) = 2, 0, 3
    assert pair_signals([-10, -20, -5, -5, -30, -10]).tolist() == [2, 0, -3]
    assert pair_signals([-4, -4, -9, -9]).tolist() == [0, 0]
    # one pair decides: its signal is the largest
    assert pair_signals([0, -1, -7, -7]).tolist() == [3, 0]
    # (3·4·100 + 103) div 206 = 6, clipped to 3; (12 + 103) div 206 = 0
    assert pair_signals([0, -100, 1, 0, 0, 1, 5, 4]).tolist() == [3, 0, 0, 0]


# -- rules 7–8: the update -------------------------------------------------------------

@st.composite
def update_cases(draw):
    config = es_config(draw(random_configs()), draw)
    pairs = config.es_population // 2
    seeds = [draw(st.integers(0, 2**32 - 1)) for _ in range(pairs)]
    signals = [draw(st.integers(-3, 3)) for _ in range(pairs)]
    shifts = [draw(st.integers(0, 5)) for _ in config.weight_shapes]
    return config, seeds, signals, shifts, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases())
def test_update_equals_the_plain_statement(case):
    config, seeds, signals, shifts, data_seed = case
    weights = rail_weights(config, np.random.default_rng(data_seed))
    net = GoldenES(config, weights)
    sums = [rank_sums(config, pair_factors(config, seed)) for seed in seeds]
    Z = accumulate_update(config, sums, signals)
    rounding = RoundingGenerator(config) if config.rounding == "stochastic" else None
    writes = apply_es_update(config, net.weights, Z, shifts, rounding)
    plain_sets = [plain_factors(config.weight_shapes, config.es_rank, s) for s in seeds]
    expected, expected_writes, state = plain_update(config, weights, plain_sets, signals,
                                                    shifts, config.rounding_seed)
    assert [w.tolist() for w in net.weights] == [w.tolist() for w in expected]
    assert writes == expected_writes
    if rounding is not None:
        assert int(rounding.state[0]) == state


def test_zero_changes_and_held_rails_are_not_written():
    config = small_config(n_in=2, hidden=(2,), n_out=2, w_bits=4, init_range=(4, 4),
                          es_lr_shift=1,
                          es_max_step=2)
    weights = [np.array([[7, -8], [0, 3]]), np.array([[7, -8], [1, 1]])]
    Z = [np.array([[5, -9], [0, 1]]), np.array([[-1, 0], [4, -3]])]
    net = GoldenES(config, weights)
    writes = apply_es_update(config, net.weights, Z, (1, 1))
    # layer 0: 7 at the top rail held (no write), -8 held, Z = 0 skipped,
    #   (|1| + 1) >> 1 = 1: 3 → 4.  layer 1: (1 + 1) >> 1 = 1: 7 → 6; Z = 0 skipped;
    #   (4 + 1) >> 1 = 2: 1 → 3; (3 + 1) >> 1 = 2: 1 → -1.
    assert net.weights[0].tolist() == [[7, -8], [0, 4]]
    assert net.weights[1].tolist() == [[6, -8], [3, -1]]
    assert writes == 4
    assert apply_es_update(config, net.weights, [np.zeros((2, 2), int)] * 2, (1, 1)) == 0


def test_max_step_caps_the_move():
    config = small_config(n_in=1, hidden=(1,), n_out=2, es_lr_shift=0, es_max_step=1)
    net = GoldenES(config, [np.array([[0]]), np.array([[0, 0]])])
    apply_es_update(config, net.weights, [np.array([[50]]), np.array([[-50, 1]])], (0, 0))
    assert net.weights[0].tolist() == [[1]] and net.weights[1].tolist() == [[-1, 1]]


# -- the schedule and training ---------------------------------------------------------

def test_generation_plan_partitions_the_epoch_and_draws_pair_seeds():
    rng = XorShift32(9 + ORDER_SEED_OFFSET)
    plan = list(generation_plan(rng, 10, 4, 3))
    order = XorShift32(9 + ORDER_SEED_OFFSET)
    permutation = order.permutation(10)
    assert [list(index) for index, _ in plan] == \
        [list(permutation[0:4]), list(permutation[4:8]), list(permutation[8:10])]
    assert [list(seeds) for _, seeds in plan] == \
        [[order.next() for _ in range(3)] for _ in range(3)]
    assert rng.state == order.state


@pytest.fixture(scope="module")
def digits_small():
    config = preset("digits")
    return load_dataset("digits", config).limit(48, 40)


def test_a_few_generations_improve_the_fitness(digits_small):
    config = preset("digits").replace(es_population=16, es_batch=48, es_lr_shift=4,
                                      es_sigma_shift=1)
    rasters = encode(digits_small.x_train, config)
    labels = digits_small.y_train
    net = GoldenES(config)

    def center_fitness():
        counts = np.array([net.forward(r).output_counts for r in rasters])
        return fitness(config, counts, labels)

    before = center_fitness()
    rng = XorShift32(1)
    for _ in range(25):
        seeds = [rng.next() for _ in range(8)]
        result = net.generation(rasters, labels, seeds)
    assert result.weight_writes > 0
    assert center_fitness() > before * 0.8      # squared error down by a fifth


def test_golden_eggroll_resumes_bit_exactly(digits_small):
    config = preset("digits").replace(es_population=4, es_batch=16,
                                      rounding="stochastic")
    straight = GoldenES(config)
    figures, state = train_epochs(straight, digits_small, epochs=2, seed=3, progress=False,
                                  eval_each_epoch=False)
    first = GoldenES(config)
    _, half = train_epochs(first, digits_small, epochs=1, seed=3, progress=False,
                           eval_each_epoch=False)
    again = GoldenES(config, half.weights)
    resumed, state2 = train_epochs(again, digits_small, epochs=2, seed=3, progress=False,
                                   eval_each_epoch=False, resume=half)
    assert all((a == b).all() for a, b in zip(straight.weights, again.weights))
    assert int(straight.rounding.state[0]) == int(again.rounding.state[0])
    assert figures["generations"] == resumed["generations"] == 2 * 3
    assert figures["test_accuracy"] == resumed["test_accuracy"]


# -- float references ------------------------------------------------------------------

def float_counts_explicit(net, rasters, weights):
    """FloatNet's own forward on given float weights."""
    from spikefab.golden.float_model import FloatNet
    ref = FloatNet(net.config, weights)
    return np.array([ref.forward(r).output_counts for r in rasters])


@pytest.mark.parametrize("rank", [2, None])
def test_float_members_equal_explicitly_perturbed_networks(rank):
    config = small_config(n_in=10, hidden=(8,), n_out=3, es_population=4, es_rank=2)
    rng = np.random.default_rng(2)
    net = FloatES(config, rank=rank, sigma=3.0)
    rasters = np.array([random_raster(rng, config) for _ in range(5)])
    noises = [net.pair_noise(s) for s in (7, 8)]
    counts, _ = net.population_counts(rasters, noises)
    for m in range(4):
        sign = 1 if m % 2 == 0 else -1
        noise = noises[m // 2]
        if rank is None:
            E = [3.0 * e for e in noise]
        else:
            E = [3.0 / np.sqrt(rank) * b @ a.T for a, b in noise]
        weights = [w + sign * e for w, e in zip(net.weights, E)]
        # float32 sums in another order may flip a spike at an exact tie; none here
        assert (counts[m] == float_counts_explicit(net, rasters, weights)).all()


def test_float_eggroll_gradient_equals_the_sum_over_members():
    config = small_config(n_in=5, hidden=(4,), n_out=3, es_population=4, es_rank=3)
    net = FloatES(config, sigma=2.0)
    noises = [net.pair_noise(s) for s in (1, 2)]
    coef = np.array([0.5, -0.25])
    gradients = net._gradient(noises, coef)
    for layer in range(2):
        expected = sum(c * 2.0 / np.sqrt(3) * noise[layer][1] @ noise[layer][0].T
                       for c, noise in zip(coef, noises))
        assert np.allclose(gradients[layer], expected, atol=1e-5)


# -- config -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"es_population": 7}, "es_population must be even"),
    ({"es_population": 0}, "es_population must be at least 2"),
    ({"es_rank": 0}, "es_rank must be at least 1"),
    ({"es_rank": 9}, "es_rank must be at most 8"),
    ({"es_sigma_shift": 8}, "es_sigma_shift must be at most 7"),
    ({"es_lr_shift": 24}, "es_lr_shift plus es_anneal_max=1 must stay at most 24"),
    ({"es_batch": 0}, "es_batch must be at least 1"),
    ({"es_max_step": 0}, "es_max_step must be at least 1"),
    ({"es_lr_shift": 17, "rounding": "stochastic"}, "es_lr_shift must be at most 16"),
    ({"es_rank": 2.0}, "es_rank must be an integer"),
    ({"es_anneal_max": 9}, "es_anneal_max must be at most 8"),
    ({"es_anneal_generations": -1}, "es_anneal_generations must be at least 0"),
    ({"es_lr_shift": 15, "es_anneal_max": 2, "rounding": "stochastic"},
     "es_lr_shift plus es_anneal_max=2 must stay at most 16 with rounding='stochastic'"),
])
def test_config_refuses_bad_es_fields(change, message):
    with pytest.raises(ConfigError, match=message):
        preset("digits").replace(**change)


def test_es_fields_keep_old_hashes_and_change_new_ones():
    assert PRESETS["digits"].hash() == "e683105e361166a6"
    assert PRESETS["mnist"].hash() == "3ac5cccf3f55a83e"
    config = preset("digits")
    for field, value in (("es_population", 2), ("es_rank", 1), ("es_batch", 1),
                         ("es_lr_shift", 0), ("es_max_step", 2), ("es_sigma_shift", 0),
                         ("es_anneal_generations", 0), ("es_anneal_max", 0)):
        changed = config.replace(**{field: value})
        assert changed.hash() != config.hash()
        assert type(config).from_json(changed.to_json()) == changed


# -- CLI -------------------------------------------------------------------------------

def run_cli(capsys, *args):
    code = cli.main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("algo, engine, message", [
    ("es", "golden", "--algo es runs on --engine float, not golden"),
    ("bptt", "golden", "--algo bptt runs on --engine float, not golden"),
    ("es", "rtl", "--algo es runs on --engine float, not rtl; the chip's ES is the "
                  "low-rank one: --algo eggroll"),
    ("bptt", "rtl", "--algo bptt runs on --engine float, not rtl"),
])
def test_cli_refuses_an_engine_the_algorithm_lacks(capsys, algo, engine, message):
    code, out, err = run_cli(capsys, "--algo", algo, "--engine", engine)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikefab: error: ")
    assert message in lines[0]


def test_cli_eggroll_json_has_the_es_figures(capsys):
    code, out, err = run_cli(capsys, "--algo", "eggroll", "--limit-train", "20",
                             "--limit-test", "10", "--epochs", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert {"dataset", "algo", "engine", "config", "epochs", "train_accuracy",
            "test_accuracy", "train_samples_per_s", "weight_writes_per_sample",
            "wall_s", "generations", "population", "rank"} <= set(result)
    assert result["engine"] == "golden" and result["generations"] == 2     # 20 / 16
    assert result["population"] == 64 and result["rank"] == 4
    # every member's decisions on the samples of its generations
    assert 0 <= result["train_accuracy"] <= 1
    assert result["history"][0]["train_accuracy"] == result["train_accuracy"]


# -- BPTT ------------------------------------------------------------------------------

def test_bptt_without_torch_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    code, out, err = run_cli(capsys, "--algo", "bptt")
    assert code == 2 and out == ""
    assert err.strip() == ("spikefab: error: --algo bptt needs PyTorch, which is not "
                           "installed: pip install 'spikefab[bench]'")


def test_bptt_network_is_floatnets_and_a_step_lowers_the_loss(digits_small):
    pytest.importorskip("torch")
    from spikefab.bptt import BPTTNet
    config = preset("digits")
    rasters = encode(digits_small.x_train[:16], config)
    labels = digits_small.y_train[:16]
    net = BPTTNet(config, batch=16, lr=5e-3)
    counts, _ = net._counts(rasters)
    # integer weights over threshold 256 and decay 15/16 are exact in float32: the
    # same spikes as FloatNet's own forward
    assert counts.detach().numpy().astype(int).tolist() == \
        [list(net.forward(r).output_counts) for r in rasters]
    first = net.generation(rasters, labels).fitness[0]
    for _ in range(8):
        last = net.generation(rasters, labels).fitness[0]
    assert last > first
    assert [list(net.forward(r).output_counts) for r in rasters[:2]] == \
        net._counts(rasters[:2])[0].detach().numpy().astype(int).tolist()


def test_cli_saves_eggroll_evaluates_it_and_refuses_to_resume_float_es(capsys, tmp_path):
    golden = tmp_path / "golden.npz"
    code, out, err = run_cli(capsys, "--algo", "eggroll", "--limit-train", "16",
                             "--limit-test", "10", "--epochs", "1", "--json", "--save",
                             str(golden))
    assert code == 0, err
    trained = json.loads(out)["test_accuracy"]
    assert cli.main(["eval", "--checkpoint", str(golden), "--limit-test", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == trained
    code, out, err = run_cli(capsys, "--resume", str(golden), "--epochs", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["generations"] == 2
    floats = tmp_path / "float.npz"
    code, _, err = run_cli(capsys, "--algo", "es", "--limit-train", "16", "--limit-test", "10",
                           "--epochs", "1", "--json", "--save", str(floats))
    assert code == 0, err
    code, _, err = run_cli(capsys, "--resume", str(floats), "--epochs", "2")
    assert code == 2
    assert "cannot be resumed: --algo es on float keeps optimiser state" in err


def test_rank_sweep_measures_every_rank_and_full_rank_holds_more(tmp_path):
    """make bench's ES sweep: one point per rank, each with its time and its peak
    memory; the full-rank population's noise (fan_in × fan_out floats per pair) outweighs
    EGGROLL's ((fan_in + fan_out) × r), so its peak is the larger at every rank here."""
    from spikefab.es_bench import _ranks, plot_ranks, rank_sweep

    config = preset("digits")
    dataset = load_dataset("digits", config).limit(40, 10)
    sweep = rank_sweep(config, dataset, (1, 2), batch=4, generations=1, repeats=1,
                       log=lambda line: None)
    assert [p["rank"] for p in sweep["ranks"]] == [1, 2]
    for point in sweep["ranks"]:
        assert point["eggroll_float_s"] > 0 and point["eggroll_golden_s"] > 0
        assert point["full_rank_bytes_over_eggroll"] > 1.5
        assert point["eggroll_float_peak_bytes"] > 0
    assert sweep["population"] == config.es_population and sweep["batch"] == 4
    plot_ranks({"presets": [sweep]}, tmp_path / "es.png")
    assert (tmp_path / "es.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _ranks("1-3") == (1, 2, 3) and _ranks("2,8") == (2, 8)


@pytest.mark.parametrize("args, message", [
    (["--generations", "0"], "--generations: must be at least 1, not 0"),
    (["--batch", "8,a"], "--batch: not an integer: 'a'"),
    (["--population", "3", "--config", "digits", "--dataset", "digits"],
     "es_population must be even"),
    (["--config", "digits", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
])
def test_es_bench_refuses_bad_options_in_one_line(capsys, args, message):
    from spikefab.es_bench import main

    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and "Traceback" not in "\n".join(err)
    assert message in err[-1] and err[-1].startswith("python -m spikefab.es_bench")
