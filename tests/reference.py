"""A plainly written, slow statement of the golden contract, for property tests.

Pure Python integers, time-major (all layers inside each timestep), one synapse at a
time: nothing here shares code with the fast kernels it checks. Every intermediate value
is checked against the width the contract gives it.
"""


def check_width(value, bits, what):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert lo <= value <= hi, f"{what}={value} leaves {bits} signed bits"
    return value


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
            n_pre, n_post = sizes[layer], sizes[layer + 1]
            out = []
            for j in range(n_post):
                current = 0
                for i in range(n_pre):
                    if spikes[i]:
                        current += int(w[i][j])
                check_width(current, config.v_bits + 1, "synaptic input")
                leaked = v[layer][j] - (v[layer][j] >> config.leak_shift)
                u = max(config.v_min, min(config.v_max, leaked + current))
                if u >= config.threshold:
                    out.append(1)
                    u = 0 if config.reset == "zero" else u - config.threshold
                else:
                    out.append(0)
                v[layer][j] = check_width(u, config.v_bits, "membrane")
            sops += sum(spikes) * n_post
            spikes = out
            for j, s in enumerate(spikes):
                counts[layer + 1][j] += s
    out_counts = counts[-1]
    prediction = out_counts.index(max(out_counts))
    return counts, prediction, sops


def next_xorshift32(x):
    for shift in (13, -17, 5):
        x ^= (x << shift if shift > 0 else x >> -shift) % 2**32
    return x


def reference_train(config, weights, feedback, raster, label, rounding=None):
    """Mutates ``weights`` (lists of lists) and ``rounding`` (a one-item list holding the
    rounding generator's state, for stochastic rounding); returns (counts, prediction,
    sops, writes)."""
    counts, prediction, sops = reference_forward(config, weights, raster)
    error = list(counts[-1])
    error[label] -= config.target_count
    if config.error_clip:
        error = [max(-config.error_clip, min(config.error_clip, e)) for e in error]
    if max(abs(e) for e in error) <= config.margin:
        return counts, prediction, sops, 0
    signals = []
    for (index, sign), layer_counts in zip(feedback, counts[1:-1]):
        layer_signal = []
        for j, c in enumerate(layer_counts):
            delta = sum(int(sign[j][m]) * error[int(index[j][m])] for m in range(config.k_fb))
            gate = 1 if config.gate_lo <= c <= config.gate_hi else 0
            layer_signal.append(gate * delta)
        signals.append(layer_signal)
    signals.append(error)
    shifts = [config.lr_shift_hidden] * len(config.hidden) + [config.lr_shift_out]
    writes = 0
    # Output layer first, presynaptic neurons in order: the order of the rounding draws.
    for layer in reversed(range(len(weights))):
        w, pre, post, shift = weights[layer], counts[layer], signals[layer], shifts[layer]
        for i, a in enumerate(pre):
            if a == 0:
                continue            # every change of the row is 0
            if config.rounding == "stochastic":
                rounding[0] = next_xorshift32(rounding[0])
                row_dither = rounding[0] // 2**16
            for j, p in enumerate(post):
                product = -(p * a)
                if config.rounding == "stochastic":
                    dither = (row_dither + j * 0x9E37) % 2**16
                    offset = dither * 2**shift // 2**16       # its top `shift` bits
                    magnitude = (abs(product) + offset) // 2**shift
                    delta = magnitude if product >= 0 else -magnitude
                elif shift:
                    # half away from zero, written as Python's round() would not do it
                    magnitude = (abs(product) * 2 + (1 << shift)) // (1 << (shift + 1))
                    delta = magnitude if product >= 0 else -magnitude
                else:
                    delta = product
                new = max(config.w_min, min(config.w_max, w[i][j] + delta))
                check_width(new, config.w_bits, "weight")
                if new != w[i][j]:
                    w[i][j] = new
                    writes += 1
    return counts, prediction, sops, writes
