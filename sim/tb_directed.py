"""cocotb tests of ``spikefab_tb`` driven by a list of steps that pytest writes in the job.

``play_steps`` plays ``job["steps"]`` through the host driver and checks each against
golden (reply and weight signature after every sample, full read-back at the end):

- ``{"op": "train" | "infer", "events": bool, "data": [...], "label": int}`` — a sample,
  pixels ``(n_in,)`` or an event raster ``(T, n_in)``;
- ``{"op": "set", "lr_shifts": [...], "margin": int}`` — run-time registers;
- ``{"op": "reseed"}`` — restart the rounding generator (stochastic rounding).

``job["stall"]`` makes the transport idle before bytes and hold back ``tx__ready`` at
random; ``job["perturb"] = [layer, pre, post, delta]`` changes one of golden's weights
(the test of the checker itself); ``job["write_weights"]`` writes golden's initial weights
first and ``job["signature"] = False`` reads every weight back instead of using the
testbench's signature (both for the SPRAM build).

``malformed_requests`` sends damaged and invalid requests, each of which must get its error
status and leave weights, registers and the SOP, write and sample counters as they were;
then a frame cut short (``TIMEOUT``) and stray bytes between frames (dropped).
"""

import struct

import cocotb
import numpy as np

from spikefab.driver import ChipError
from spikefab.protocol import SOF, Op, Status, decode_frame, request_frame

from spikefab.sim.harness import check_weights, connect, load_job, reporting
from spikefab.sim.scoreboard import Scoreboard


@cocotb.test()
async def play_steps(dut):
    job, config = load_job()
    await reporting(job, _play_steps(dut, job, config))


async def _play_steps(dut, job, config):
    chip = await connect(dut, config, stall=job.get("stall", 0.0), seed=job.get("seed", 0))
    board = Scoreboard(config)
    if job.get("perturb"):
        # Golden believes one weight differs from the chip's: checks the checker.
        layer, pre, post, delta = job["perturb"]
        board.golden.weights[layer][pre, post] += delta
    signature = job.get("signature", True)
    if job.get("write_weights"):
        await chip.write_weights(board.golden.weights)  # SPRAM starts undefined
    figures = []
    for number, step in enumerate(job["steps"]):
        what = f"step {number} ({step['op']})"
        if step["op"] == "set":
            await chip.set_lr_shifts(step["lr_shifts"])
            await chip.set_margin(step["margin"])
            board.golden.lr_shifts = tuple(step["lr_shifts"])
            board.golden.margin = step["margin"]
            continue
        if step["op"] == "reseed":
            await chip.reseed_rounding()
            board.golden.reseed_rounding()
            continue
        data = np.asarray(step["data"])
        if step["op"] == "train":
            hw = await chip.train(data, step["label"], events=step["events"])
            golden = board.expect(data, step["label"], events=step["events"])
        else:
            hw = await chip.infer(data, events=step["events"])
            golden = board.expect(data, events=step["events"])
        board.compare(what, hw, golden)
        await check_weights(dut, chip, board, what, signature=signature)
        figures.append({"prediction": hw.prediction, "counts": hw.counts,
                        "writes": hw.weight_writes, "cycles": hw.cycles})
    await check_weights(dut, chip, board, "after the last step", read_back=True,
                        signature=signature)
    return {"compared_samples": board.samples, "samples": figures,
            "bytes_sent": chip.transport.bytes_sent}


async def _refused(chip, frame, status, what):
    """Send a raw ``frame``; the reply must be the error ``status``."""
    await chip.transport.send(frame)
    head = await chip.transport.recv(3)
    assert head[0] == SOF, f"{what}: a reply starting with {head[0]:#04x}"
    (length,) = struct.unpack_from("<H", head, 1)
    body = decode_frame(head + await chip.transport.recv(length + 2))
    assert body[0] == status, f"{what}: status {body[0]:#04x}, expected {status.name}"


@cocotb.test()
async def malformed_requests(dut):
    job, config = load_job()
    await reporting(job, _malformed_requests(dut, config))


async def _malformed_requests(dut, config):
    chip = await connect(dut, config)
    board = Scoreboard(config)
    status_before = await chip.status()
    counters_before = await chip.counters()
    signature = dut.weight_signature.value.to_unsigned()
    depth = chip.layout.weight_depth
    pixels = bytes([0] * config.n_in)

    def request(op, payload=b""):
        return request_frame(op, 0x40, payload)

    good = request(Op.STATUS)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0x01
    cases = [
        (bytes(bad_crc), Status.BAD_CRC, "a flipped CRC bit"),
        (request(0x7E), Status.BAD_OPCODE, "an unknown opcode"),
        (request(Op.READ_WEIGHTS, struct.pack("<IH", depth, 1)),
         Status.BAD_ADDRESS, "a read past the weight memory"),
        (request(Op.WRITE_WEIGHTS, struct.pack("<IH", depth - 1, 2)
                        + bytes(2 * chip.layout.lanes * chip.layout.weight_bytes)),
         Status.BAD_ADDRESS, "a write running past the weight memory"),
        (request(Op.WRITE_WEIGHTS, struct.pack("<IH", 0, 3) + bytes(1)),
         Status.BAD_LENGTH, "a write shorter than its count"),
        (request(Op.SET_REGISTER, bytes([0x80, config.timesteps + 1])),
         Status.BAD_VALUE, "a margin above T"),
        (request(Op.SET_REGISTER, bytes([0x81, 1])),
         Status.BAD_VALUE, "a rounding reseed with a non-zero value"),
        (request(Op.SET_REGISTER, bytes([0x40, 1])), Status.BAD_ADDRESS,
         "an unknown register"),
        (request(Op.TRAIN, struct.pack("<BH", 0, config.n_out) + pixels),
         Status.BAD_VALUE, "a label out of range"),
        (request(Op.TRAIN, struct.pack("<BH", 0, 0) + pixels[:-1]),
         Status.BAD_LENGTH, "a pixel sample one byte short"),
        (request(Op.TRAIN, struct.pack("<BH", 1, 0)
                        + struct.pack("<H", config.n_in) + b"\xff\xff" * config.timesteps),
         Status.BAD_SAMPLE, "an event address out of range"),
        (request(Op.TRAIN, struct.pack("<BH", 1, 0) + b"\xff\xff"),
         Status.BAD_SAMPLE, "an event sample missing timesteps"),
    ]
    if config.pixel_max < 255:  # else no byte can exceed it
        cases.append((request(Op.TRAIN, struct.pack("<BH", 0, 0)
                                     + bytes([config.pixel_max + 1]) + pixels[1:]),
                      Status.BAD_SAMPLE, "a pixel above pixel_max"))
    for frame, status, what in cases:
        await _refused(chip, frame, status, what)
        assert dut.weight_signature.value.to_unsigned() == signature, \
            f"{what}: the weights changed"
    assert await chip.status() == status_before, "the registers changed"
    # Busy cycles may grow (a bad sample is found while it runs); nothing else may.
    after = await chip.counters()
    for name in ("sops", "weight_writes", "samples"):
        assert after[name] == counters_before[name], \
            f"the {name} counter changed: {counters_before} → {after}"
    # A frame cut short: the chip times out, replies TIMEOUT and takes the next frame.
    await _refused(chip, good[:3], Status.TIMEOUT, "a frame cut short")
    # Stray bytes between frames are dropped: the next request is answered at once.
    await chip.transport.send(b"\x00\x17\xff")
    await chip.status()
    assert chip.link["retries"] == 0, f"requests were retried: {dict(chip.link)}"
    # The chip still learns exactly like golden.
    sample = np.full(config.n_in, config.pixel_max // 2, dtype=np.int64)
    hw = await chip.train(sample, 1)
    board.compare("the sample after the malformed requests", hw, board.expect(sample, 1))
    await check_weights(dut, chip, board, "after the malformed requests", read_back=True)
    try:
        await chip.request(0x7F)
    except ChipError as error:
        assert error.status == Status.BAD_OPCODE
    else:
        raise AssertionError("an unknown opcode was accepted")
    return {"cases": len(cases) + 1}
