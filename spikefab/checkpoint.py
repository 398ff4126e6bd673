"""Checkpoints: weights, the config they were trained under, and its hash, in one ``.npz``.

A checkpoint is refused, with one clear message, when it cannot be read, when its
stored hash does not match its stored config (corruption or a hand edit), or when the
caller expects a different config.
"""

import json
import zipfile

import numpy as np

from .config import Config, ConfigError


__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "FORMAT"]

FORMAT = "spikefab-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used."""


def save_checkpoint(path, config, weights, *, engine, meta=None):
    arrays = {f"w{layer}": np.asarray(w) for layer, w in enumerate(weights)}
    np.savez(path, format=FORMAT, config=config.to_json(), config_hash=config.hash(),
             engine=engine, meta=json.dumps(meta or {}), **arrays)


def load_checkpoint(path, expect_config=None):
    """Return ``(config, weights, engine, meta)``.

    ``expect_config``, when given, must equal the checkpoint's config in every field
    but ``init_seed``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file: {error}") from None
    if str(fields.get("format", "")) != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    try:
        config = Config.from_json(str(fields["config"]))
    except (KeyError, ConfigError) as error:
        raise CheckpointError(f"checkpoint {path} holds no valid config: {error}") from None
    if str(fields.get("config_hash", "")) != config.hash():
        raise CheckpointError(f"checkpoint {path} is corrupt: its config hash "
                              f"{fields.get('config_hash')} does not match its config "
                              f"({config.hash()})")
    # init_seed only chose where training started, not the numeric contract.
    if expect_config is not None and expect_config.replace(init_seed=config.init_seed) != config:
        changed = sorted(k for k, v in expect_config.to_dict().items()
                         if config.to_dict().get(k) != v)
        raise CheckpointError(f"checkpoint {path} was made for config {config.name} "
                              f"(hash {config.hash()}), not {expect_config.name} "
                              f"(hash {expect_config.hash()}); fields that differ: "
                              f"{', '.join(changed)}")
    weights = []
    for layer, shape in enumerate(config.weight_shapes):
        key = f"w{layer}"
        if key not in fields or fields[key].shape != shape:
            raise CheckpointError(f"checkpoint {path}: weight layer {layer} is missing or "
                                  f"not of shape {shape}")
        weights.append(fields[key])
    return config, weights, str(fields.get("engine", "")), json.loads(str(fields.get("meta", "{}")))
