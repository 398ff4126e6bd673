"""A sweep's results table: one row per point, written as JSON and CSV, read back to resume.

``<out>/sweep.json`` holds ``{"format", "options", "fields", "rows", …}``: the run's
options (dataset, epochs, seed, limits), the swept fields and one flat row per point
(``board``, the swept fields' values, ``config_hash``, then the figures of
:data:`COLUMNS`), in grid order. ``<out>/sweep.csv`` is the same rows as a table (tuple
values written ``64x32``). Both are written atomically after every finished point, so an
interrupted sweep loses only the points that were running. A sweep continues a table
made with the same options: a row that holds what the run asks for is kept and not run
again (:func:`reusable_rows`).
"""

import csv
import io
import json
from pathlib import Path

from spikefab.files import write_atomically
from spikefab.sweep_grid import format_value


__all__ = ["SweepError", "TABLE_JSON", "TABLE_CSV", "COLUMNS", "TIMING_COLUMNS",
           "STAGE_COLUMNS", "read_table", "reusable_rows", "write_table", "comparable",
           "check_out_dir"]

FORMAT = "spikefab-sweep-1"
TABLE_JSON = "sweep.json"
TABLE_CSV = "sweep.csv"
#: The figures of a row, in the table's column order (a row holds those its stages made).
COLUMNS = (
    "config_hash", "train_accuracy", "test_accuracy", "weight_writes_per_sample",
    "skipped_fraction", "sops_per_train_sample",
    "clock_mhz", "cycles_per_train_sample", "cycles_per_infer_sample",
    "train_samples_per_s", "infer_samples_per_s",
    "synth_luts", "synth_ffs",
    "pnr_luts", "pnr_luts_total", "pnr_ffs", "bram", "dsp", "fmax_mhz", "timing_met",
    "train_samples_per_s_fmax",
    "wall_s", "golden_samples_per_s", "synth_s", "pnr_s",
)
#: Figures that depend on the machine and its load, not on the point: left out when two
#: tables are compared (:func:`comparable`).
TIMING_COLUMNS = ("wall_s", "golden_samples_per_s", "synth_s", "pnr_s")
#: A row is done for a stage when it holds that stage's last figure.
STAGE_COLUMNS = {"train": "test_accuracy", "synth": "synth_luts", "pnr": "fmax_mhz"}


class SweepError(ValueError):
    """A table that cannot be continued or written, or an executor that cannot run."""


def check_out_dir(out_dir):
    """Create ``out_dir`` and make sure a file can be written there, before any work."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(str(out_dir / ".sweep-write-test"), lambda file: file.write(b""))
        (out_dir / ".sweep-write-test").unlink()
    except OSError as error:
        raise SweepError(f"cannot write to --out {out_dir}: "
                         f"{error.strerror or error}") from None


def read_table(out_dir):
    """The table in ``out_dir`` (a dict), or None when there is none yet."""
    path = Path(out_dir) / TABLE_JSON
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise SweepError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}"
                         ) from None
    try:
        table = json.loads(text)
    except ValueError as error:
        raise SweepError(f"{path} is not valid JSON ({error}); move it away to start "
                         f"the sweep afresh") from None
    if not (isinstance(table, dict) and table.get("format") == FORMAT
            and isinstance(table.get("options"), dict) and isinstance(table.get("rows"), list)
            and all(isinstance(row, dict) and isinstance(row.get("board"), str)
                    and isinstance(row.get("config_hash"), str) for row in table["rows"])):
        raise SweepError(f"{path} is not a spikefab sweep table ({FORMAT}); move it away "
                         f"to start the sweep afresh")
    return table


def reusable_rows(table, options, grid, stages):
    """The rows of ``table`` to keep, by point key, for a sweep of ``grid`` with
    ``options`` and ``stages``: those that hold every stage's figures. A table made with
    other options, or holding points outside the grid, is refused (it would mix runs)."""
    if table is None:
        return {}
    for name, value in options.items():
        if table["options"].get(name) != value:
            raise SweepError(
                f"{TABLE_JSON} in --out was made with {name}={table['options'].get(name)!r}, "
                f"not {value!r}: continue it with the same options, or use another --out")
    keys = {point.key for point in grid.points}
    outside = [row for row in table["rows"] if (row["board"], row["config_hash"]) not in keys]
    if outside:
        first = " ".join(f"{f}={format_value(outside[0].get(f))}"
                         for f in table.get("fields", [])) + f" {outside[0]['board']}"
        raise SweepError(
            f"{TABLE_JSON} in --out holds {len(outside)} point(s) outside this grid "
            f"(the first: {first.strip()}, config {outside[0]['config_hash']}): continue "
            f"it with a grid that includes them, or use another --out")
    needed = [STAGE_COLUMNS[stage] for stage in stages]
    return {(row["board"], row["config_hash"]): row for row in table["rows"]
            if all(column in row for column in needed)}


def _ordered_columns(fields, rows):
    present = set().union(*rows) if rows else set()
    return ["board", *fields] + [c for c in COLUMNS if c in present]


def write_table(out_dir, *, options, fields, rows, extra=None):
    """Write ``rows`` (in order) to ``sweep.json`` and ``sweep.csv``, each atomically."""
    out_dir = Path(out_dir)
    table = {"format": FORMAT, "options": options, "fields": list(fields), "rows": rows,
             **(extra or {})}
    text = json.dumps(table, indent=1) + "\n"
    columns = _ordered_columns(fields, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else format_value(row[c]) for c in columns])
    try:
        write_atomically(str(out_dir / TABLE_JSON), lambda file: file.write(text.encode()))
        write_atomically(str(out_dir / TABLE_CSV),
                         lambda file: file.write(buffer.getvalue().encode()))
    except OSError as error:
        raise SweepError(f"cannot write the sweep table in {out_dir}: "
                         f"{error.strerror or error}") from None


def comparable(rows):
    """``rows`` without the machine's timings: equal for any executor and order."""
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]
