"""The grid of a design-space sweep: config fields and boards, parsed and validated.

A grid names config fields (any :class:`~spikefab.config.Config` field but ``name``)
and the values each takes, and the boards (:data:`~spikefab.hw.families.BOARDS`). It
comes from the command line (``--grid k_fb=1,2,4 --grid hidden=64,128x32 --board
icebreaker,ulx3s``; a tuple field's value is written with ``x`` between its entries) or
from a JSON or TOML file holding one object of ``field: [values]`` (lists for tuple
fields, and an optional ``board`` list). The points are every combination of the values,
in the order given (the first field varies slowest, the board fastest), each a config
``base.replace(**values)``. :func:`make_grid` builds and validates every point's config
before anything runs: a bad field, value or combination is one :class:`GridError` line
naming it.
"""

import dataclasses
import difflib
import itertools
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

from spikefab.config import Config, ConfigError
from spikefab.hw.families import BOARDS


__all__ = ["GridError", "Grid", "Point", "parse_grid_options", "read_grid_file", "make_grid",
           "parse_boards", "format_value", "SWEEPABLE"]

#: Fields a grid may vary: every field of the config but its (informative) name.
SWEEPABLE = tuple(f.name for f in dataclasses.fields(Config) if f.name != "name")
_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}
BOARD_KEY = "board"


class GridError(ValueError):
    """A grid that names an unknown field or board, or a value a config refuses."""


@dataclass(frozen=True)
class Point:
    """One point of the grid: its config, board and the swept fields' values."""
    values: tuple           # ((field, value), …) in the grid's field order
    board: str
    config: Config

    @property
    def key(self):
        """What identifies the point's row in a table (the config's hash covers every
        field, so a point is found again whatever grid named it)."""
        return (self.board, self.config.hash())

    def label(self):
        return " ".join([f"{f}={format_value(v)}" for f, v in self.values] + [self.board])


@dataclass(frozen=True)
class Grid:
    fields: tuple           # swept field names, in order
    boards: tuple
    points: tuple           # of Point, in grid order

    def configs(self):
        """The distinct configs in grid order, each with its points (one per board)."""
        groups = {}
        for point in self.points:
            groups.setdefault(point.config.hash(), []).append(point)
        return list(groups.values())


def format_value(value):
    """A value as the command line writes it: tuples joined by ``x``."""
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _field_name(name, where):
    if name in SWEEPABLE:
        return name
    close = difflib.get_close_matches(name, SWEEPABLE, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    if name == "name":
        hint = " (a config's name is informative only)"
    raise GridError(f"{where}: {name!r} is not a config field a sweep can vary{hint}")


def _from_text(field, text, where):
    """A command-line value of ``field``, typed as the config declares it."""
    kind = _TYPES[field]
    try:
        if typing.get_origin(kind) is tuple:
            return tuple(int(part, 0) for part in text.split("x"))
        return int(text, 0) if kind is int else text
    except ValueError:
        shape = "integers joined by 'x'" if kind is not int else "an integer"
        raise GridError(f"{where}: {field} value {text!r} is not {shape}") from None


def _from_file(field, value, where):
    """A grid file's value of ``field``: JSON/TOML types checked against the config's."""
    kind = _TYPES[field]
    if typing.get_origin(kind) is tuple:
        value = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                           for v in value):
            return tuple(value)
    elif isinstance(value, kind) and not isinstance(value, bool):
        return value
    wanted = {int: "an integer", str: "a string"}.get(kind, "a list of integers")
    raise GridError(f"{where}: {field} value {value!r} is not {wanted}")


def _no_repeats(name, values, where):
    seen = set()
    for value in values:
        if value in seen:
            raise GridError(f"{where}: {name} value {format_value(value)} given twice")
        seen.add(value)
    if not values:
        raise GridError(f"{where}: {name} has no values")
    return tuple(values)


def parse_grid_options(options):
    """``["k_fb=1,2,4", …]`` (the ``--grid`` options) → ``{field: (values…)}``."""
    axes = {}
    for option in options:
        where = f"--grid {option}"
        name, equals, text = option.partition("=")
        if not equals or not text.strip():
            raise GridError(f"{where}: write FIELD=VALUE[,VALUE…], e.g. k_fb=1,2,4")
        field = _field_name(name.strip(), where)
        if field in axes:
            raise GridError(f"{where}: {field} given twice")
        values = [_from_text(field, part.strip(), where) for part in text.split(",")]
        axes[field] = _no_repeats(field, values, where)
    return axes


def read_grid_file(path):
    """A JSON or TOML grid file → ``({field: (values…)}, boards or None)``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise GridError(f"cannot read grid file {path}: "
                        f"{getattr(error, 'strerror', None) or error}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise GridError(f"grid file {path} is not valid {kind}: {error}") from None
    if not isinstance(data, dict):
        raise GridError(f"grid file {path} must hold one object of field: [values]")
    axes, boards = {}, None
    for name, values in data.items():
        values = values if isinstance(values, list) else [values]
        where = f"grid file {path}"
        if name == BOARD_KEY:
            boards = _no_repeats(BOARD_KEY, [str(v) for v in values], where)
            continue
        field = _field_name(name, where)
        axes[field] = _no_repeats(field, [_from_file(field, v, where) for v in values],
                                  where)
    return axes, boards


def parse_boards(text):
    """``"icebreaker,ulx3s"`` → the board names (:func:`make_grid` checks them)."""
    return tuple(part.strip() for part in text.split(","))


def make_grid(base, axes, boards):
    """Every point of ``axes`` × ``boards`` over ``base``, each config built and
    validated (the first refusal raises :class:`GridError` naming its point)."""
    for board in boards:
        if board not in BOARDS:
            raise GridError(f"unknown board {board!r}; valid boards: "
                            f"{', '.join(sorted(BOARDS))}")
    boards = _no_repeats("--board", list(boards), "--board")
    fields = tuple(axes)
    points = []
    for combination in itertools.product(*(axes[f] for f in fields)):
        values = tuple(zip(fields, combination))
        try:
            config = base.replace(**dict(values))
        except ConfigError as error:
            where = " ".join(f"{f}={format_value(v)}" for f, v in values)
            raise GridError(f"grid point {where}: {error}") from None
        points += [Point(values, board, config) for board in boards]
    return Grid(fields, boards, tuple(points))
