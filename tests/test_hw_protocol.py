"""The chip behind its host protocol, in Amaranth's simulator, through the host driver:
requests against golden, every error reply (and ``protocol.request_status``'s word on
it), random requests against ``request_status``, damaged frames and stray bytes, a
repeated sample answered from its results, and fuzzed frames that must never hang the
chip or change a weight."""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.driver import Chip, ChipError
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.hw.top import SpikefabTop
from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, SAMPLE_REPLY, SAMPLE_REQUEST, SOF, Op,
                               Register, Status, decode_frame, request_frame,
                               request_status)
from spikefab.sim.amaranth_transport import AmaranthTransport

from conftest import small_config
from hw_support import peek_weights, simulate
from test_hw_bridge import requests


TIMEOUT = 300


def chip_config(**overrides):
    fields = dict(n_in=9, hidden=(6, 4), n_out=3, timesteps=4, lanes=2, threshold=30)
    fields.update(overrides)
    return small_config(**fields)


def run_chip(config, body, *, stall=0.0, seed=0, weight_latency=2):
    """Run ``await body(chip, transport, golden, ctx)`` against a fresh chip."""
    top = SpikefabTop(config, timeout=TIMEOUT, weight_latency=weight_latency)
    golden = GoldenNet(config)

    async def testbench(ctx):
        transport = AmaranthTransport(ctx, top, limit=200_000,
                                      rng=np.random.default_rng(seed), stall=stall)
        await body(Chip(transport, config), transport, golden, ctx, top)

    simulate(top, testbench)


def weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# The weight memory's latency is 3 on the ECP5: the bridge's weight reads follow it.
@pytest.mark.parametrize("weight_latency", [2, 3])
def test_requests_match_golden_under_stalls(weight_latency):
    config = chip_config()

    async def body(chip, transport, golden, ctx, top):
        status = await chip.check()
        assert status["lr_shifts"] == config.lr_shifts and status["margin"] == config.margin
        assert weights_equal(await chip.read_weights(), golden.weights)
        rng = np.random.default_rng(1)
        new = [rng.integers(config.w_min, config.w_max + 1, s) for s in config.weight_shapes]
        await chip.write_weights(new)
        golden.weights = [w.astype(np.int16) for w in new]
        assert weights_equal(await chip.read_weights(), golden.weights)
        await chip.set_lr_shifts((1, 2, 0))
        await chip.set_margin(1)
        golden.lr_shifts, golden.margin = (1, 2, 0), 1
        assert (await chip.status())["lr_shifts"] == (1, 2, 0)
        writes = 0
        per_sample = []
        for n in range(4):
            label = n % config.n_out
            if n % 2:
                raster = (rng.random((config.timesteps, config.n_in)) < 0.5).astype(np.uint8)
                hw = await chip.train(raster, label, events=True)
            else:
                pixels = rng.integers(0, 256, config.n_in)
                raster = encode(pixels[None], config)[0]
                hw = await chip.train(pixels, label)
            ref = golden.train(raster, label)
            assert (hw.counts, hw.prediction, hw.sops, hw.weight_writes) == \
                ([int(c) for c in ref.output_counts], ref.prediction, ref.sops,
                 ref.weight_writes)
            writes += hw.weight_writes
            per_sample.append(hw)
        pixels = rng.integers(0, 256, config.n_in)
        hw = await chip.infer(pixels)
        per_sample.append(hw)
        assert hw.prediction == golden.predict(encode(pixels[None], config)[0])
        assert weights_equal(await chip.read_weights(), golden.weights)
        counters = await chip.counters()
        assert counters["samples"] == 5 and counters["weight_writes"] == writes > 0
        # The totals are the sums of what each sample's reply said.
        assert counters["cycles"] == sum(r.cycles for r in per_sample)
        assert counters["sops"] == sum(r.sops for r in per_sample) > 0
        await chip.clear_counters()
        assert (await chip.counters())["samples"] == 0

    run_chip(config, body, stall=0.3, weight_latency=weight_latency)


def test_reseed_restarts_the_rounding_generator():
    # Two training runs of the same samples from the same weights: equal only because
    # the chip's rounding generator starts again from its seed (golden's likewise).
    config = chip_config(rounding="stochastic", lr_shift_hidden=4, lr_shift_out=3)
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (3, config.n_in))
    rasters = encode(pixels, config)

    async def body(chip, transport, golden, ctx, top):
        start = [w.copy() for w in golden.weights]
        runs = []
        for run in range(2):
            await chip.write_weights(start)
            golden.weights = [w.copy() for w in start]
            if run:
                await chip.reseed_rounding()
                golden.reseed_rounding()
            for n, (px, raster) in enumerate(zip(pixels, rasters)):
                hw = await chip.train(px, n % config.n_out)
                ref = golden.train(raster, n % config.n_out)
                assert (hw.counts, hw.weight_writes) == \
                    ([int(c) for c in ref.output_counts], ref.weight_writes)
            runs.append(await chip.read_weights())
            assert weights_equal(runs[-1], golden.weights)
        assert weights_equal(*runs)
        # Without the reseed the second run would have differed.
        golden.weights = [w.copy() for w in start]
        for n, raster in enumerate(rasters):
            golden.train(raster, n % config.n_out)
        assert not weights_equal(runs[0], golden.weights)

    run_chip(config, body)


def _sample(mode, label, data):
    return struct.pack("<BH", mode, label) + data


CONFIG = chip_config()
DEPTH = 47          # weight words of CONFIG (checked below)
REFUSALS = {
    "unknown-opcode": (Status.BAD_OPCODE, 0x7E, b""),
    "status-with-payload": (Status.BAD_LENGTH, Op.STATUS, b"\x00"),
    "write-short-header": (Status.BAD_LENGTH, Op.WRITE_WEIGHTS, b"\x00\x00"),
    "write-count-disagrees": (Status.BAD_LENGTH, Op.WRITE_WEIGHTS,
                              struct.pack("<IH", 0, 2) + b"\x01\x02"),
    "write-past-the-end": (Status.BAD_ADDRESS, Op.WRITE_WEIGHTS,
                           struct.pack("<IH", DEPTH - 1, 2) + bytes(4)),
    "write-zero-words": (Status.BAD_ADDRESS, Op.WRITE_WEIGHTS, struct.pack("<IH", 0, 0)),
    "read-past-the-end": (Status.BAD_ADDRESS, Op.READ_WEIGHTS, struct.pack("<IH", DEPTH, 1)),
    "read-zero-words": (Status.BAD_ADDRESS, Op.READ_WEIGHTS, struct.pack("<IH", 0, 0)),
    "read-wrong-length": (Status.BAD_LENGTH, Op.READ_WEIGHTS, struct.pack("<I", 0)),
    "lr-shift-too-large": (Status.BAD_VALUE, Op.SET_REGISTER, bytes([Register.LR_SHIFT, 25])),
    "margin-above-T": (Status.BAD_VALUE, Op.SET_REGISTER, bytes([Register.MARGIN, 5])),
    "reseed-nonzero": (Status.BAD_VALUE, Op.SET_REGISTER,
                       bytes([Register.RESEED_ROUNDING, 1])),
    "unknown-register": (Status.BAD_ADDRESS, Op.SET_REGISTER, bytes([0x40, 0])),
    "register-wrong-length": (Status.BAD_LENGTH, Op.SET_REGISTER, bytes([0])),
    "sample-bad-mode": (Status.BAD_VALUE, Op.TRAIN, _sample(2, 0, bytes(9))),
    "sample-bad-label": (Status.BAD_VALUE, Op.TRAIN, _sample(0, 3, bytes(9))),
    "pixels-too-few": (Status.BAD_LENGTH, Op.INFER, _sample(0, 0, bytes(8))),
    "sample-no-header": (Status.BAD_LENGTH, Op.TRAIN, b"\x00"),
    "events-malformed": (Status.BAD_SAMPLE, Op.TRAIN,
                         _sample(1, 0, struct.pack("<4H", 2, 1, 0xFFFF, 0xFFFF))),
    "counters-with-payload": (Status.BAD_LENGTH, Op.READ_COUNTERS, b"\x00"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_requests_get_error_replies_and_change_nothing(case):
    code, op, payload = REFUSALS[case]
    assert Layout(CONFIG).weight_depth == DEPTH
    # The written-down rule agrees (a malformed event stream is found as it runs).
    assert request_status(op, payload, CONFIG) == (Status.OK if code == Status.BAD_SAMPLE
                                                   else code)

    async def body(chip, transport, golden, ctx, top):
        with pytest.raises(ChipError) as refusal:
            await chip.request(op, payload)
        assert refusal.value.status == code
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)
        status = await chip.status()              # still answering, registers unchanged
        assert status["lr_shifts"] == CONFIG.lr_shifts and status["margin"] == CONFIG.margin
        assert (await chip.counters())["samples"] == 0

    run_chip(CONFIG, body)


def test_narrow_weights_out_of_range_are_refused_before_any_write():
    config = chip_config(w_bits=4, init_range=(7, 7, 7), threshold=8)

    async def body(chip, transport, golden, ctx, top):
        words = bytes([1, 2, 3, 4, 5, 8])     # the last weight, 8, does not fit 4 bits
        with pytest.raises(ChipError) as refusal:
            await chip.request(Op.WRITE_WEIGHTS, struct.pack("<IH", 0, 3) + words)
        assert refusal.value.status == Status.BAD_VALUE
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)
        await chip.request(Op.WRITE_WEIGHTS, struct.pack("<IH", 0, 1) + bytes([0xF8, 7]))
        assert peek_weights(ctx, top.core)[0][0, :2].tolist() == [-8, 7]

    run_chip(config, body)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(requests(CONFIG), min_size=6, max_size=10))
def test_random_requests_get_the_status_request_status_says(cases):
    async def body(chip, transport, golden, ctx, top):
        for op, payload, _, _ in cases:
            before = peek_weights(ctx, top.core)
            try:
                await chip.request(op, payload)
                status = Status.OK
            except ChipError as refusal:
                status = refusal.status
            ref = request_status(op, payload, CONFIG)
            events = op in (Op.INFER, Op.TRAIN) and payload[:1] == b"\x01"
            assert status == ref or \
                events and (status, ref) == (Status.BAD_SAMPLE, Status.OK), \
                f"op {op:#04x}, payload {payload.hex()}: the chip said {status!r}, " \
                f"request_status {ref!r}"
            if status != Status.OK:
                assert weights_equal(peek_weights(ctx, top.core), before), \
                    f"op {op:#04x}, payload {payload.hex()}: refused, but weights changed"

    run_chip(CONFIG, body)


FRAME_FAULTS = {
    "bad-crc": lambda f: f[:-1] + bytes([f[-1] ^ 0x40]),
    "flipped-body-bit": lambda f: f[:5] + bytes([f[5] ^ 0x01]) + f[6:],
    "zero-length": lambda f: bytes([SOF, 0, 0]) + f[-2:],
    "longer-than-buffer": lambda f: bytes([SOF]) + struct.pack("<H", 2000) + bytes(2000)
    + b"\x00\x00",
    "cut-short": lambda f: f[:-3],
    "no-start-byte": lambda f: f[1:],
}
# None: no reply at all (the frame is dropped or abandoned; the chip hunts for SOF).
EXPECTED = {"bad-crc": Status.BAD_CRC, "flipped-body-bit": Status.BAD_CRC,
            "zero-length": None, "longer-than-buffer": None, "cut-short": Status.TIMEOUT,
            "no-start-byte": None}


@pytest.mark.parametrize("fault", FRAME_FAULTS)
def test_damaged_frames_get_error_replies(fault):
    write = request_frame(Op.WRITE_WEIGHTS, 5, struct.pack("<IH", 0, 1) + b"\x11\x22")

    async def body(chip, transport, golden, ctx, top):
        await transport.send(FRAME_FAULTS[fault](write))
        replies = await transport.drain(TIMEOUT + 50)
        if EXPECTED[fault] is None:
            assert replies == b""
        else:
            reply = decode_frame(replies)
            assert reply[0] == EXPECTED[fault]
            if fault != "cut-short":    # the head as received (a TIMEOUT's seq is not yet)
                assert reply[1:3] == bytes([Op.WRITE_WEIGHTS, 5])
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)
        await chip.status()
        assert chip.link["retries"] == 0

    run_chip(CONFIG, body)


async def exchange(transport, frame):
    """Send one raw frame; the body of the reply."""
    await transport.send(frame)
    head = await transport.recv(3)
    assert head[0] == SOF
    return decode_frame(head + await transport.recv(struct.unpack_from("<H", head, 1)[0] + 2))


def test_a_repeated_sample_is_answered_from_its_results_and_runs_once():
    rng = np.random.default_rng(5)
    pixels = [rng.integers(0, 256, CONFIG.n_in) for _ in range(2)]

    def train_frame(seq, n):
        return request_frame(Op.TRAIN, seq, SAMPLE_REQUEST.pack(mode=0, label=n + 1)
                             + bytes(pixels[n].astype(np.uint8)))

    async def body(chip, transport, golden, ctx, top):
        await chip.check()                                  # seq 0
        first = await exchange(transport, train_frame(9, 0))
        ref = golden.train(encode(pixels[0][None], CONFIG)[0], 1)
        fields = SAMPLE_REPLY.unpack(first, n_out=CONFIG.n_out)
        assert (fields["status"], fields["op"], fields["seq"]) == (Status.OK, Op.TRAIN, 9)
        assert list(fields["counts"]) == [int(c) for c in ref.output_counts]
        # Again, the same seq: the same reply, the chip does not train again. Stray bytes
        # and a damaged copy before it change nothing.
        assert await exchange(transport, train_frame(9, 0)) == first
        damaged = bytearray(train_frame(9, 0))
        damaged[6] ^= 0x10
        assert (await exchange(transport, b"\x00\x42" + bytes(damaged)))[0] == Status.BAD_CRC
        assert await exchange(transport, b"\x17" + train_frame(9, 0)) == first
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)
        # Another request came between, even with the same seq: the same seq now runs a
        # new sample.
        counters = COUNTERS_REPLY.unpack(
            await exchange(transport, request_frame(Op.READ_COUNTERS, 9)))
        assert counters["samples"] == 1
        again = await exchange(transport, train_frame(9, 1))
        ref = golden.train(encode(pixels[1][None], CONFIG)[0], 2)
        fields = SAMPLE_REPLY.unpack(again, n_out=CONFIG.n_out)
        assert list(fields["counts"]) == [int(c) for c in ref.output_counts]
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)
        assert (await chip.counters())["samples"] == 2

    run_chip(CONFIG, body)


def test_fuzzed_frames_never_hang_or_change_weights():
    """Twelve trials: random junk (every third) or a valid request with 1–3 distinct bits
    flipped. A damaged frame whose SOF and LEN survive must get exactly one reply, and it
    must be BAD_CRC (CRC-16/CCITT finds every error of up to 3 bits in frames this
    short); one whose SOF or LEN is hit, and junk, may get no reply or error replies,
    never OK. After every trial the weights are golden's and the chip answers STATUS.
    A chip that never replies fails: at least four trials must be answered BAD_CRC."""
    rng = np.random.default_rng(7)
    valid = [request_frame(op, 3, payload) for op, payload in (
        (Op.WRITE_WEIGHTS, struct.pack("<IH", 3, 2) + bytes(range(4))),
        (Op.TRAIN, _sample(0, 1, bytes(range(9)))),
        (Op.SET_REGISTER, bytes([0, 3])),
        (Op.STATUS, b""),
    )]

    async def body(chip, transport, golden, ctx, top):
        answered = 0
        for trial in range(12):
            frame = bytearray(valid[trial % len(valid)])
            must_answer = False
            if trial % 3 == 0:
                frame = bytearray(rng.integers(0, 256, int(rng.integers(1, 40))).tolist())
            else:
                flips = set()
                count = int(rng.integers(1, 4))
                while len(flips) < count:
                    flips.add((int(rng.integers(0, len(frame))), int(rng.integers(0, 8))))
                for position, bit in flips:
                    frame[position] ^= 1 << bit
                must_answer = min(position for position, _ in flips) >= 3
            await transport.send(bytes(frame))
            replies = await transport.drain(TIMEOUT + 100)
            statuses = []
            while replies:
                (length,) = struct.unpack_from("<H", replies, 1)
                statuses.append(decode_frame(replies[:length + 5])[0])
                replies = replies[length + 5:]
            assert Status.OK not in statuses, f"trial {trial}: a damaged frame was accepted"
            if must_answer:
                assert statuses == [Status.BAD_CRC], \
                    f"trial {trial}: a frame with a damaged body got {statuses}"
                answered += 1
            assert weights_equal(peek_weights(ctx, top.core), golden.weights)
            assert (await chip.status())["lr_shifts"] == CONFIG.lr_shifts
        assert answered >= 4, answered

    run_chip(CONFIG, body)


@pytest.mark.slow
def test_top_trains_and_infers_the_digits_preset_like_golden():
    """The whole chip, the ``digits`` preset as it is, through the host driver."""
    from spikefab.config import PRESETS
    from spikefab.golden.datasets import load_dataset

    config = PRESETS["digits"]
    data = load_dataset("digits", config)

    async def body(chip, transport, golden, ctx, top):
        await chip.check()
        for pixels, label in zip(data.x_train[:2], data.y_train[:2]):
            hw = await chip.train(pixels, int(label))
            ref = golden.train(encode(pixels[None], config)[0], int(label))
            assert (hw.counts, hw.prediction, hw.sops, hw.weight_writes) == \
                ([int(c) for c in ref.output_counts], ref.prediction, ref.sops,
                 ref.weight_writes)
        for pixels in data.x_test[:2]:
            hw = await chip.infer(pixels)
            assert hw.prediction == golden.predict(encode(pixels[None], config)[0])
        assert weights_equal(peek_weights(ctx, top.core), golden.weights)

    run_chip(config, body)
