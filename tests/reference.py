"""A plainly written, slow statement of the golden contract, for property tests.

Pure Python integers, time-major (all layers inside each timestep), one synapse at a
time: nothing here shares code with the fast kernels it checks, and nothing here is
received from them. The generators, the feedback table, the initial weights, the dither
step and the rate encoder's draws are built again from the words of the contract
(``golden/*.py`` docstrings and the README), so a change in golden's generators or
tables — which the hardware imports and therefore follows — is a difference here.
Every intermediate value is checked against the width the contract gives it.
"""

from fractions import Fraction

#: The golden ratio: the dither's Weyl step is ``2**16 / φ`` and xorshift32's stand-in
#: for a zero seed ``2**32 / φ``, both rounded (``golden.learning``, ``golden.rng``).
GOLDEN_RATIO = (1 + 5 ** 0.5) / 2
DITHER_STEP = round(2 ** 16 / GOLDEN_RATIO)          # 40503 = 0x9E37, odd
XORSHIFT_ZERO_SEED = round(2 ** 32 / GOLDEN_RATIO)   # 2654435769 = 0x9E3779B9
#: LFSR16: x^16 + x^14 + x^13 + x^11 + 1. In a right-shifting Galois LFSR the tap of
#: x^k is bit k - 1 of the mask.
LFSR16_TAPS = (16, 14, 13, 11)
LFSR16_MASK = sum(1 << (k - 1) for k in LFSR16_TAPS)  # 0xB400
LFSR16_STEPS_PER_DRAW = 8
#: The training order's generator is seeded with the run's seed + 0x5EED (spikefab.train).
ORDER_SEED_OFFSET = 0x5EED


def check_width(value, bits, what):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert lo <= value <= hi, f"{what}={value} leaves {bits} signed bits"
    return value


# -- generators ---------------------------------------------------------------------------

def next_xorshift32(x):
    """Marsaglia's xorshift32 step (13, 17, 5), written with products and quotients."""
    x ^= (x * 2 ** 13) % 2 ** 32
    x ^= x // 2 ** 17
    x ^= (x * 2 ** 5) % 2 ** 32
    return x


class Xorshift32:
    """xorshift32 from ``seed`` (0 is replaced by ``2**32 / φ``); :meth:`next` returns the
    new state, :meth:`below` ``next() % n``, :meth:`permutation` a Fisher-Yates shuffle
    of ``0 … n-1`` (for i from n-1 down to 1, swap i with ``below(i + 1)``)."""

    def __init__(self, seed):
        self.state = seed % 2 ** 32 or XORSHIFT_ZERO_SEED

    def next(self):
        self.state = next_xorshift32(self.state)
        return self.state

    def below(self, n):
        return self.next() % n

    def permutation(self, n):
        order = list(range(n))
        for i in reversed(range(1, n)):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order


def rounding_draws(seed, count):
    """The rounding generator's first ``count`` row dithers ``R``: the high halves of
    xorshift32's states after ``seed`` (rule 6 of ``golden.learning``)."""
    state, out = seed, []
    for _ in range(count):
        state = next_xorshift32(state)
        out.append(state // 2 ** 16)
    return out


def lfsr16_states(seed, count):
    """The first ``count`` states of the Galois LFSR after ``seed`` (one step each)."""
    state, out = seed, []
    for _ in range(count):
        state = (state // 2) ^ (LFSR16_MASK if state % 2 else 0)
        out.append(state)
    return out


def lfsr16_draws(seed, count, bits):
    """Draw ``n``: the low ``bits`` bits of the state after ``8·(n + 1)`` steps."""
    states = lfsr16_states(seed, LFSR16_STEPS_PER_DRAW * count)
    return [s % 2 ** bits for s in states[LFSR16_STEPS_PER_DRAW - 1::LFSR16_STEPS_PER_DRAW]]


# -- tables made on the host --------------------------------------------------------------

def feedback_tables(config):
    """Every hidden layer's ``(index, sign)`` as lists of rows (``golden.learning``):
    one xorshift32 from ``feedback_seed``; per neuron a Fisher-Yates permutation of the
    outputs, output ``j mod n_out`` swapped to the front, the first ``k_fb`` kept, then
    one draw per entry for its sign (+1 when bit 0 is 1)."""
    rng = Xorshift32(config.feedback_seed)
    tables = []
    for size in config.hidden:
        index, sign = [], []
        for j in range(size):
            order = rng.permutation(config.n_out)
            front = order.index(j % config.n_out)
            order[0], order[front] = order[front], order[0]
            index.append(order[:config.k_fb])
            sign.append([1 if rng.next() % 2 == 1 else -1 for _ in range(config.k_fb)])
        tables.append((index, sign))
    return tables


def init_weights(config):
    """Every layer's weights as lists of rows (``golden.network``): one xorshift32 from
    ``init_seed``, layers in order, presynaptic index outer, postsynaptic inner, each
    ``-r + below(2r + 1)``."""
    rng = Xorshift32(config.init_seed)
    sizes = config.layer_sizes
    weights = []
    for layer, r in enumerate(config.init_range):
        rows = []
        for _ in range(sizes[layer]):
            rows.append([-r + rng.below(2 * r + 1) for _ in range(sizes[layer + 1])])
        weights.append(rows)
    return weights


# -- encoders -----------------------------------------------------------------------------

def rate_encode(pixels, config):
    """One sample's raster ``[t][p]``: pixel ``p`` spikes at ``t`` when it exceeds draw
    ``t · n_in + p`` of the LFSR reloaded with ``lfsr_seed``."""
    draws = lfsr16_draws(config.lfsr_seed, config.timesteps * config.n_in,
                         config.pixel_bits)
    return [[1 if int(pixels[p]) > draws[t * config.n_in + p] else 0
             for p in range(config.n_in)] for t in range(config.timesteps)]


# -- arithmetic ---------------------------------------------------------------------------

def round_half_away(x, shift):
    """``x / 2**shift`` to the nearest integer, a tie away from zero (exact fractions)."""
    q = Fraction(x, 2 ** shift)
    magnitude = int(abs(q) + Fraction(1, 2))        # floor of |q| + 1/2
    return magnitude if q >= 0 else -magnitude


def lif_neuron(config, v, current):
    """One neuron, one timestep (``golden.lif``): ``(spike, new v)``."""
    check_width(current, config.v_bits + 1, "synaptic input")
    leaked = v - (v >> config.leak_shift)
    u = max(config.v_min, min(config.v_max, leaked + current))
    if u >= config.threshold:
        return 1, check_width(0 if config.reset == "zero" else u - config.threshold,
                              config.v_bits, "membrane")
    return 0, check_width(u, config.v_bits, "membrane")


def layer_step(config, weights, spikes, v):
    """One layer, one timestep: the output spikes; ``v`` (a list) is updated."""
    out = []
    for j in range(len(v)):
        current = 0
        for i, s in enumerate(spikes):
            if s:
                current += int(weights[i][j])
        spike, v[j] = lif_neuron(config, v[j], current)
        out.append(spike)
    return out


def reference_forward(config, weights, raster):
    sizes = config.layer_sizes
    v = [[0] * n for n in sizes[1:]]
    counts = [[0] * n for n in sizes]
    sops = 0
    for t in range(config.timesteps):
        spikes = [int(s) for s in raster[t]]
        for i, s in enumerate(spikes):
            counts[0][i] += s
        for layer, w in enumerate(weights):
            sops += sum(spikes) * sizes[layer + 1]
            spikes = layer_step(config, w, spikes, v[layer])
            for j, s in enumerate(spikes):
                counts[layer + 1][j] += s
    out_counts = counts[-1]
    prediction = out_counts.index(max(out_counts))
    return counts, prediction, sops


def update_layer(w, pre, post, shift, w_min, w_max, rounding=None):
    """Rules 6–7 on one weight layer ``w`` (lists of rows, changed in place); returns the
    writes. ``rounding`` is a one-item list holding the rounding generator's state for
    stochastic rounding (advanced in place), None for round-to-nearest."""
    writes = 0
    w_bits = (w_max + 1).bit_length()
    for i, a in enumerate(pre):
        if a == 0:
            continue            # every change of the row is 0, and no draw
        if rounding is not None:
            rounding[0] = next_xorshift32(rounding[0])
            row_dither = rounding[0] // 2 ** 16
        for j, p in enumerate(post):
            product = -(p * a)
            if rounding is not None:
                dither = (row_dither + j * DITHER_STEP) % 2 ** 16
                offset = dither * 2 ** shift // 2 ** 16       # its top `shift` bits
                magnitude = (abs(product) + offset) // 2 ** shift
                delta = magnitude if product >= 0 else -magnitude
            else:
                delta = round_half_away(product, shift)
            new = max(w_min, min(w_max, w[i][j] + delta))
            check_width(new, w_bits, "weight")
            if new != w[i][j]:
                w[i][j] = new
                writes += 1
    return writes


def reference_train(config, weights, raster, label, rounding=None):
    """Mutates ``weights`` (lists of lists) and ``rounding`` (a one-item list holding the
    rounding generator's state, for stochastic rounding); returns (counts, prediction,
    sops, writes, skipped). The feedback table is this module's own."""
    counts, prediction, sops = reference_forward(config, weights, raster)
    error = list(counts[-1])
    error[label] -= config.target_count
    if config.error_clip:
        error = [max(-config.error_clip, min(config.error_clip, e)) for e in error]
    if max(abs(e) for e in error) <= config.margin:
        return counts, prediction, sops, 0, True
    signals = []
    for (index, sign), layer_counts in zip(feedback_tables(config), counts[1:-1]):
        layer_signal = []
        for j, c in enumerate(layer_counts):
            delta = sum(sign[j][m] * error[index[j][m]] for m in range(config.k_fb))
            gate = 1 if config.gate_lo <= c <= config.gate_hi else 0
            layer_signal.append(gate * delta)
        signals.append(layer_signal)
    signals.append(error)
    shifts = [config.lr_shift_hidden] * len(config.hidden) + [config.lr_shift_out]
    writes = 0
    # Output layer first, presynaptic neurons in order: the order of the rounding draws.
    for layer in reversed(range(len(weights))):
        writes += update_layer(weights[layer], counts[layer], signals[layer], shifts[layer],
                               config.w_min, config.w_max,
                               rounding if config.rounding == "stochastic" else None)
    return counts, prediction, sops, writes, False
