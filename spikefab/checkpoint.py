"""Checkpoints: weights, the config they were trained under, and where the run stands.

A checkpoint is a zip of ``.npy`` members (numpy's ``.npz`` layout, no pickles):

=============== ==========================================================================
``format``      ``"spikefab-checkpoint-1"``
``config``      the :class:`~spikefab.config.Config` as JSON; ``config_hash`` its hash
``engine``      the engine that trained it: ``golden``, ``float`` or ``rtl``
``meta``        JSON object: dataset, algo, seed, limits, epochs, test accuracy, …
``state``       optional JSON object: the run after its last finished epoch
                (:class:`spikefab.train.TrainState`), what ``train --resume`` continues
``w0``, ``w1``… the weights of each layer, ``(fan_in, fan_out)``
=============== ==========================================================================

**Writing** goes to a temporary file in the checkpoint's folder, which is flushed,
fsynced and renamed over the old checkpoint (:func:`os.replace`): a failure or a Ctrl-C at
any point leaves the previous checkpoint as it was. The name given is the name written
(no ``.npz`` is appended). :func:`check_save_path` refuses, before any training, a path
that cannot be written.

**Reading** refuses, with one clear message, a file that is not such a zip, a member that
is not ``.npy``, unknown or missing members, text members that are not text, a stored
hash that does not match the stored config (corruption or a hand edit), a config other
than the caller expects, and weights of the wrong shape or kind: integers within the
config's ``w_bits`` (``golden`` and ``rtl``), or finite reals as well (``float``).
"""

import io
import json
import math
import os
import stat
import zipfile
from dataclasses import dataclass

import numpy as np

from spikefab.config import Config, ConfigError
from spikefab.files import check_writable, target_of, write_atomically


__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "check_save_path",
           "check_config",
           "Checkpoint", "CheckpointError", "FORMAT", "ENGINES"]

FORMAT = "spikefab-checkpoint-1"
ENGINES = ("golden", "float", "rtl")
TEXT_MEMBERS = ("format", "config", "config_hash", "engine", "meta")
OPTIONAL_TEXT_MEMBERS = ("state",)
MAX_TEXT_BYTES = 1 << 22        # a config, meta or state is a few kB; a history grows slowly
NPY_HEADER_BYTES = 1 << 16      # room for a .npy member's magic and header


class CheckpointError(Exception):
    """A checkpoint that cannot be used, read or written."""


@dataclass
class Checkpoint:
    """A checkpoint as read: ``state`` is None when it holds no training state."""
    config: Config
    weights: list
    engine: str
    meta: dict
    state: dict | None


# -- writing -------------------------------------------------------------------------------

def check_save_path(path):
    """Refuse, with one line, a path a checkpoint cannot be written to (before training:
    :func:`spikefab.files.check_writable`)."""
    check_writable(path, option="--save", what="a checkpoint", error=CheckpointError)


def save_checkpoint(path, config, weights, *, engine, meta=None, state=None):
    """Write a checkpoint to exactly ``path``, atomically (see the module docstring).

    ``state`` is the JSON-ready dict of a :class:`~spikefab.train.TrainState`.
    """
    members = {"format": FORMAT, "config": config.to_json(), "config_hash": config.hash(),
               "engine": engine, "meta": json.dumps(meta or {})}
    if state is not None:
        members["state"] = json.dumps(state)
    members.update({f"w{layer}": np.asarray(w) for layer, w in enumerate(weights)})
    path = os.fspath(path)
    existed = os.path.exists(path)
    try:
        write_atomically(target_of(path), lambda file: np.savez(file, **members))
    except OSError as error:
        kept = "the previous one is left as it was" if existed else "nothing was written"
        raise CheckpointError(f"cannot write checkpoint {path}: "
                              f"{error.strerror or error}; {kept}") from None


# -- reading -------------------------------------------------------------------------------

def load_checkpoint(path, expect_config=None):
    """Return ``(config, weights, engine, meta)``; see :func:`read_checkpoint`."""
    checkpoint = read_checkpoint(path, expect_config)
    return checkpoint.config, checkpoint.weights, checkpoint.engine, checkpoint.meta


def read_checkpoint(path, expect_config=None):
    """Read and check every member of the checkpoint at ``path``.

    ``expect_config``, when given, must equal the checkpoint's config in every field
    but ``init_seed``.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(_open_file(path)) as archive:
            return _read_archive(path, archive, expect_config)
    except zipfile.BadZipFile as error:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file: "
                              f"{error}") from None


def _open_file(path):
    """The checkpoint's bytes in memory (a file that changes meanwhile is no matter)."""
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise CheckpointError(f"checkpoint {path} is a folder, not a file")
            if not stat.S_ISREG(mode):
                raise CheckpointError(f"checkpoint {path} is not a regular file")
            return io.BytesIO(file.read())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a file") from None
    except OSError as error:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file: "
                              f"{error.strerror}") from None


def _read_archive(path, archive, expect_config):
    infos = _member_infos(path, archive)
    texts = {name: _read_text(path, archive, infos[name])
             for name in TEXT_MEMBERS + OPTIONAL_TEXT_MEMBERS if name in infos}
    if texts.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    config = _read_config(path, texts)
    check_config(path, config, expect_config)
    engine = texts.get("engine")
    if engine not in ENGINES:
        raise CheckpointError(f"checkpoint {path}: unknown engine {engine!r}; "
                              f"valid engines: {', '.join(ENGINES)}")
    _check_weight_names(path, infos, config)
    meta = _read_json_object(path, texts, "meta")
    state = _read_json_object(path, texts, "state") if "state" in texts else None
    if state is not None:
        _check_state(path, state, config)
    weights = [_read_weights(path, archive, infos, config, engine, layer)
               for layer in range(len(config.weight_shapes))]
    return Checkpoint(config, weights, engine, meta, state)


def _member_infos(path, archive):
    """The archive's members by name (without ``.npy``); refuse odd or unknown ones."""
    known = set(TEXT_MEMBERS + OPTIONAL_TEXT_MEMBERS)
    infos = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise CheckpointError(f"checkpoint {path}: {info.filename} is not a .npy member")
        name = info.filename[:-len(".npy")]
        if name in infos:
            raise CheckpointError(f"checkpoint {path}: member {info.filename} appears twice")
        if name not in known and not _is_weight_name(name):
            raise CheckpointError(f"checkpoint {path}: unexpected member {info.filename}")
        infos[name] = info
    for name in TEXT_MEMBERS:
        if name not in infos:
            raise CheckpointError(f"checkpoint {path} has no member {name}")
    return infos


def _check_weight_names(path, infos, config):
    """Refuse weight members beyond the config's layers."""
    layers = len(config.weight_shapes)
    for name in infos:
        if _is_weight_name(name) and int(name[1:]) >= layers:
            raise CheckpointError(f"checkpoint {path}: unexpected member {name}.npy "
                                  f"(config {config.name} has {layers} weight layers)")


def _is_weight_name(name):
    return name.startswith("w") and name[1:].isdigit() and str(int(name[1:])) == name[1:]


def _read_member(path, archive, info, max_bytes):
    """One ``.npy`` member as an array: no pickles, no header promising more than the
    member holds, nothing larger than ``max_bytes``."""
    where = f"checkpoint {path}: member {info.filename}"
    if info.file_size > max_bytes:
        raise CheckpointError(f"{where} is {info.file_size} bytes, more than it can need")
    try:
        with archive.open(info) as file:
            return _read_npy(file, info.file_size)
    except CheckpointError as error:
        raise CheckpointError(f"{where} {error}") from None
    # Any fault of a damaged member (zip CRC, zlib, header syntax, …) is refused alike.
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{where} is unreadable: {error or type(error).__name__}") \
            from None


def _read_npy(file, size):
    """Read one ``.npy`` stream of ``size`` bytes without allocating what it promises."""
    version = np.lib.format.read_magic(file)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
    else:
        raise CheckpointError(f"has .npy version {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise CheckpointError("holds Python objects (a pickle), which are never loaded")
    count = math.prod(shape)
    data = file.read(size + 1)
    if len(data) != count * dtype.itemsize:
        raise CheckpointError(f"is truncated or padded: its header promises "
                              f"{count * dtype.itemsize} bytes, it holds {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_text(path, archive, info):
    array = _read_member(path, archive, info, MAX_TEXT_BYTES)
    if array.dtype.kind != "U" or array.shape != ():
        raise CheckpointError(f"checkpoint {path}: member {info.filename[:-4]} must be "
                              f"text, not a {array.dtype} array of shape {array.shape}")
    return str(array[()])


def _read_json_object(path, texts, name):
    try:
        value = json.loads(texts[name])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {path}: member {name} is not valid JSON: "
                              f"{error}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"checkpoint {path}: member {name} must be a JSON object")
    return value


def _read_config(path, texts):
    try:
        config = Config.from_json(texts["config"])
    except ConfigError as error:
        raise CheckpointError(f"checkpoint {path} holds no valid config: {error}") from None
    if texts.get("config_hash") != config.hash():
        raise CheckpointError(f"checkpoint {path} is corrupt: its config hash "
                              f"{texts.get('config_hash')} does not match its config "
                              f"({config.hash()})")
    return config


def check_config(path, config, expect_config):
    """Refuse ``config`` (checkpoint ``path``'s) unless it is ``expect_config`` (or None)."""
    # init_seed only chose where training started, not the numeric contract.
    if expect_config is None or expect_config.replace(init_seed=config.init_seed) == config:
        return
    changed = sorted(k for k, v in expect_config.to_dict().items()
                     if config.to_dict().get(k) != v and k != "init_seed")
    raise CheckpointError(f"checkpoint {path} was made for config {config.name} "
                          f"(hash {config.hash()}), not {expect_config.name} "
                          f"(hash {expect_config.hash()}); fields that differ: "
                          f"{', '.join(changed)}")


def _check_state(path, state, config):
    from spikefab.train import TrainState
    try:
        TrainState.check_dict(state, config)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path}: its training state is unusable: "
                              f"{error}") from None


def _read_weights(path, archive, infos, config, engine, layer):
    """Layer ``layer``'s weights, checked for shape, kind and range."""
    name = f"w{layer}"
    shape = config.weight_shapes[layer]
    if name not in infos:
        raise CheckpointError(f"checkpoint {path} has no member {name} "
                              f"(the weights of layer {layer})")
    w = _read_member(path, archive, infos[name],
                     NPY_HEADER_BYTES + 16 * math.prod(shape))
    where = f"checkpoint {path}: weight layer {name}"
    if w.shape != shape:
        raise CheckpointError(f"{where} has shape {w.shape}, the config needs {shape}")
    if w.dtype.kind in "iu":
        if w.size and (int(w.min()) < config.w_min or int(w.max()) > config.w_max):
            raise CheckpointError(f"{where} holds values outside w_bits={config.w_bits} "
                                  f"({config.w_min} … {config.w_max})")
        return w.astype(np.int64)
    if w.dtype.kind == "f" and engine == "float":
        if not np.isfinite(w).all():
            raise CheckpointError(f"{where} holds a value that is not finite")
        return w.astype(np.float32)
    needed = "integers or finite floats" if engine == "float" else "integers"
    raise CheckpointError(f"{where} holds {w.dtype} values; a {engine} checkpoint's "
                          f"weights are {needed}")
