"""``trm data build grid-pairs --source FILE``: your own grid puzzles, input grid -> output grid, from JSONL or
CSV (docs/DATA.md, "Your own grid puzzles"; the task: :mod:`trm.tasks.grid`).

JSONL: one object a line, ``{"input": GRID, "output": GRID}`` (blank lines skipped). CSV: a header naming the
columns ``input`` and ``output`` (others ignored), one pair a record. A GRID is what :func:`trm.tasks.grid.
read_grid` reads: text (rows separated by newlines, or by ``|`` on one line; one character per cell), a list of
row strings, or a list of rows of tokens (strings or integers; JSONL only). The alphabet is every symbol of the
file, sorted (numerically when every token is an integer), at most :data:`~trm.tasks.grid.MAX_SYMBOLS`.

Splits: the distinct inputs are shuffled with ``--seed``; the first ``--test`` inputs (default a tenth) are the
test split, the next ``--val`` (default a tenth) the val split, the rest train. Every pair of an input goes to
its input's split, so no held-out input is ever trained on; a held-out split keeps one pair per input.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...tasks.base import TaskInfo
from ...tasks.grid import MAX_SYMBOLS, GridTask, canvas_shape, encode, read_grid
from ..errors import DataError
from ..options import BuildOptions, DatasetPreset, opt
from ..write import one_per_puzzle, write_dataset

MAX_FILE_BYTES = 1 << 30  # a grid-pairs source file is read whole
EXAMPLES = 4  # training inputs kept in trm_task.json: what `trm serve` shows as examples


@dataclasses.dataclass
class GridPairsOptions(BuildOptions):
    """``grid-pairs``'s own option."""

    padded: bool | None = opt(
        None,
        "grid-pairs: grids of several sizes (padded to the largest, the answer's size learned); without it "
        "every input and output must have one size",
        kind="flag",
    )


Pair = tuple[list[list[str]], list[list[str]], Any]  # input rows, output rows, the input as given


def _records(path: Path) -> list[tuple[int, Any, Any]]:
    """(line number, input, output) of every pair in a JSONL or CSV file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: larger than {MAX_FILE_BYTES >> 30} GiB")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out: list[tuple[int, Any, Any]] = []
    if suffix in (".jsonl", ".json", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as e:
                raise DataError(f"{path}:{n}: not a JSON object ({getattr(e, 'msg', e)})") from None
            if not isinstance(obj, dict) or "input" not in obj or "output" not in obj:
                raise DataError(f'{path}:{n}: expected an object with "input" and "output"')
            out.append((n, obj["input"], obj["output"]))
    elif suffix == ".csv":
        reader = csv.reader(text.splitlines(keepends=True))
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: the file is empty")
            cols = [h.strip().lower() for h in header]
            if "input" not in cols or "output" not in cols:
                raise DataError(
                    f"{path}:1: expected a header naming the columns input and output, got {header}"
                )
            i, o = cols.index("input"), cols.index("output")
            line = reader.line_num
            for row in reader:
                if row:
                    if len(row) <= max(i, o):
                        raise DataError(f"{path}:{line + 1}: expected {len(cols)} columns, got {len(row)}")
                    out.append((line + 1, row[i], row[o]))
                line = reader.line_num
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: bad CSV ({e})") from None
    else:
        raise DataError(f"{path}: expected a .jsonl or .csv file of input/output grids")
    if not out:
        raise DataError(f"{path}: the file holds no input/output pairs")
    return out


def _all_ints(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(row, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in row)
        for row in value
    )


def read_pairs(path: str | Path, padded: bool = False) -> tuple[list[Pair], dict[str, Any]]:
    """Every pair of the file, read and checked, and the ``grid`` info of the dataset (alphabet, height, width,
    padded, numeric). :class:`DataError` names the line and what is wrong."""
    path = Path(path)
    pairs: list[Pair] = []
    symbols: dict[str, int] = {}  # symbol -> line it first appears on
    numeric, shape, first_line = True, None, 0
    height = width = 0
    for n, given_in, given_out in _records(path):
        grids = []
        for name, value in (("input", given_in), ("output", given_out)):
            try:
                rows, _ = read_grid(value, f"{path}:{n}: {name}")
            except DataError as e:
                raise DataError(str(e)) from None
            numeric = numeric and _all_ints(value)
            for row in rows:
                for s in row:
                    if s not in symbols:
                        symbols[s] = n
                        if len(symbols) > MAX_SYMBOLS:
                            raise DataError(
                                f"{path}:{n}: {name}: symbol {json.dumps(s)} would be symbol number {len(symbols)}; "
                                f"a grid dataset has at most {MAX_SYMBOLS} symbols"
                            )
            size = (len(rows), len(rows[0]))
            if not padded:
                if shape is None:
                    shape, first_line = size, n
                elif size != shape:
                    raise DataError(
                        f"{path}:{n}: the {name} is {size[0]}x{size[1]} but the grids of line {first_line} are "
                        f"{shape[0]}x{shape[1]}; grids of several sizes need --padded"
                    )
            height, width = max(height, size[0]), max(width, size[1])
            grids.append(rows)
        pairs.append((grids[0], grids[1], given_in))
    alphabet = sorted(symbols, key=(lambda s: (int(s), s)) if numeric else None)
    grid = {
        "alphabet": alphabet,
        "height": height,
        "width": width,
        "padded": bool(padded),
        "numeric": numeric,
    }
    return pairs, grid


def _default_share(n: int) -> int:
    return max(1, math.ceil(n / 10))


def build_grid_pairs(
    out_dir,
    source: str | Path,
    *,
    padded: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    n_val: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """The dataset of the pairs in ``source``: splits by distinct input (see the module doc), ``n_train``
    limiting the training pairs (a seeded subsample), the ``grid`` info in trm_task.json."""
    pairs, grid = read_pairs(source, padded)
    task = GridTask(TaskInfo(GridTask.kind, 0, None, grid), *_shape(grid))  # the model's task: its encoding
    groups: dict[bytes, list[int]] = {}
    for i, (inp, _, _) in enumerate(pairs):
        groups.setdefault(json.dumps(inp).encode(), []).append(i)
    keys = list(groups)
    n_inputs = len(keys)
    if n_inputs < 2:
        raise DataError(
            f"{source}: needs at least 2 distinct inputs (one to train on, one to test), got {n_inputs}"
        )
    n_test = _default_share(n_inputs) if n_test is None else n_test
    n_val = (_default_share(n_inputs) if n_inputs >= 3 else 0) if n_val is None else n_val
    if n_test + n_val >= n_inputs:
        raise DataError(
            f"{source}: {n_inputs} distinct inputs cannot give {n_test} test and {n_val} validation inputs and "
            "leave some to train on"
        )
    order = np.random.default_rng(seed).permutation(n_inputs)
    held = {"test": order[:n_test], "val": order[n_test : n_test + n_val]}
    train_idx = [i for k in order[n_test + n_val :] for i in groups[keys[k]]]
    if n_train is not None and n_train < len(train_idx):
        pick = np.sort(np.random.default_rng(seed + 1).choice(len(train_idx), n_train, replace=False))
        train_idx = [train_idx[j] for j in pick]
    conflicting = sum(len({json.dumps(pairs[i][1]) for i in g}) > 1 for g in groups.values())

    def split(indices: list[int]) -> dict[str, np.ndarray]:
        inputs = np.stack([_encode(task, pairs[i][0], grid) for i in indices])
        labels = np.stack([_encode(task, pairs[i][1], grid) for i in indices])
        return one_per_puzzle(inputs, labels)

    splits = {"train": split(train_idx)}
    counts = {"train_pairs": len(train_idx)}
    for name, ks in held.items():
        if len(ks):
            splits[name] = split([groups[keys[k]][0] for k in ks])  # one pair per held-out input
            counts[f"{name}_pairs"] = len(ks)
    rows, cols = canvas_shape(grid["height"], grid["width"], grid["padded"])
    info = {
        "task": GridTask.kind,
        "grid": grid,
        "source": Path(source).name,  # the file's name only: the info travels with the model
        "seed": seed,
        "pairs": len(pairs),
        "distinct_inputs": n_inputs,
        **counts,
        "held_out_duplicates_dropped": sum(len(groups[keys[k]]) - 1 for ks in held.values() for k in ks),
        "conflicting_inputs": conflicting,  # inputs given with two different outputs
        "examples": [pairs[i][2] for i in train_idx[:EXAMPLES]],
    }
    return write_dataset(
        out_dir,
        splits,
        ["<blank>"],
        vocab_size=task.vocab,
        seq_len=rows * cols,
        ignore_label_id=0,
        task_info=info,
        overwrite=overwrite,
    )


def _shape(grid: dict[str, Any]) -> tuple[int, int]:
    rows, cols = canvas_shape(grid["height"], grid["width"], grid["padded"])
    return rows * cols, len(grid["alphabet"]) + (2 if grid["padded"] else 1)


def _encode(task: GridTask, rows: list[list[str]], grid: dict[str, Any]) -> np.ndarray:
    codes = np.array([[task.codes[s] for s in row] for row in rows], np.int64)
    return encode(codes, grid["height"], grid["width"], grid["padded"])


def _grid_pairs(out, o: GridPairsOptions, _: DatasetPreset) -> Path:
    return build_grid_pairs(
        out,
        o.source,
        padded=bool(o.padded),
        n_train=o.train,
        n_test=o.test,
        n_val=o.val,
        seed=o.seed,
        overwrite=o.overwrite,
    )


PRESETS = [
    DatasetPreset(
        "grid-pairs",
        'your own grid puzzles: --source FILE (.jsonl of {"input": grid, "output": grid}, or .csv with input,'
        "output columns); --test/--val distinct inputs held out (default a tenth each), --train caps the "
        "training pairs, --padded for grids of several sizes (docs/DATA.md)",
        _grid_pairs,
        ("train", "test", "val", "padded"),
        source="a .jsonl or .csv file of input/output grids (docs/DATA.md, 'Your own grid puzzles')",
        source_required=True,
        options_class=GridPairsOptions,
    )
]
