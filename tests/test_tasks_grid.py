"""Your own grid puzzles (issue 28): ``trm data build grid-pairs`` reads JSONL/CSV input/output grids over any
alphabet, fixed or padded size; :class:`trm.tasks.grid.GridTask` reads a user's grid and writes the answer back
in the user's symbols, from the dataset info the checkpoint keeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trm.data.build.grid import build_grid_pairs, read_pairs
from trm.data.errors import DataError
from trm.data.format import load_split, load_task_info
from trm.data.presets import DATASET_PRESETS
from trm.tasks import PuzzleError, TaskInfo, get_task
from trm.tasks.grid import MAX_SIDE, MAX_SYMBOLS, GridTask, crop, encode, read_grid


def _jsonl(path: Path, pairs) -> Path:
    path.write_text("".join(json.dumps({"input": i, "output": o}) + "\n" for i, o in pairs))
    return path


def flip(rows: list[str]) -> list[str]:
    return rows[::-1]


def _flips(n: int, side: int = 3, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rows = ["".join(rng.choice(list(".#o"), side)) for _ in range(side)]
        out.append(("\n".join(rows), "\n".join(flip(rows))))
    return out


# ------------------------------------------------------------------------------------------------ reading grids


def test_a_grid_is_text_rows_or_token_lists():
    assert read_grid("ab\ncd\n") == ([["a", "b"], ["c", "d"]], "text")
    assert read_grid("ab|cd")[0] == [["a", "b"], ["c", "d"]]  # one line: '|' separates rows
    assert read_grid("a|b", sep=False)[0] == [["a", "|", "b"]]
    assert read_grid(["ab", "cd"]) == ([["a", "b"], ["c", "d"]], "list")
    assert read_grid([[1, 10], ["x", "yy"]])[0] == [["1", "10"], ["x", "yy"]]
    for bad, msg in [
        ("ab\nc", "ragged grid: row 2 has 1 cells, row 1 has 2"),
        ("", "the grid is empty"),
        ([], "the grid is empty"),
        ([[1, True]], "row 1, column 2: a token is a non-empty string or an integer"),
        ([[1, 2.5]], "row 1, column 2"),
        ([3], "row 1: a grid row is a string or a list of tokens"),
        (7, "a grid is text"),
        ("x" * (MAX_SIDE + 1), f"at most {MAX_SIDE} rows"),
        ("x" * (1 << 21), "the grid text is longer than 1,048,576 characters"),
    ]:
        with pytest.raises(PuzzleError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            read_grid(bad, "f.jsonl:3: input")


def test_padded_canvas_round_trips_any_size():
    for h, w in [(1, 1), (2, 3), (4, 4), (3, 1)]:
        codes = np.arange(h * w).reshape(h, w) % 5
        tokens = encode(codes, 4, 4, padded=True)
        assert tokens.shape == (25,) and (crop(tokens, 4, 4) == codes).all()
    assert crop(np.zeros(25, np.int64), 4, 4).shape == (0, 0)


# ------------------------------------------------------------------------------------------------ the builder


def test_build_jsonl_fixed_size(tmp_path):
    pairs = _flips(40)
    out = build_grid_pairs(tmp_path / "d", _jsonl(tmp_path / "p.jsonl", pairs), seed=3)
    info = load_task_info(out)
    assert info["task"] == "grid" and info["grid"] == {
        "alphabet": ["#", ".", "o"],
        "height": 3,
        "width": 3,
        "padded": False,
        "numeric": False,
    }
    assert (info["train_pairs"], info["val_pairs"], info["test_pairs"]) == (32, 4, 4)
    assert info["source"] == "p.jsonl"  # the name only: the info travels with the model
    train, test = load_split(out, "train"), load_split(out, "test")
    assert train.metadata.seq_len == 9 and train.metadata.vocab_size == 4
    assert set(np.unique(train.inputs)) <= {1, 2, 3}
    # the same build again: the same splits (seeded); another seed: other splits
    again = build_grid_pairs(tmp_path / "e", tmp_path / "p.jsonl", seed=3)
    assert (load_split(again, "test").inputs == test.inputs).all()
    other = build_grid_pairs(tmp_path / "f", tmp_path / "p.jsonl", seed=4)
    assert not (load_split(other, "test").inputs == test.inputs).all()
    # what the model's task reads: a test input as text, its label written back as the file wrote it
    task = get_task(info, 9, 4)
    text = task.example_text(test.inputs[0])
    parsed = task.parse(text)
    assert (parsed.tokens == test.inputs[0]).all()
    assert (text, task.format(test.labels[0], parsed)) in pairs


def test_held_out_inputs_are_never_trained_on(tmp_path):
    base = _flips(20)
    dup = [base[0]] * 5 + [(base[1][0], base[2][1])]  # an input five times, another with two outputs
    src = _jsonl(tmp_path / "p.jsonl", base + dup)
    for seed in range(6):
        out = build_grid_pairs(tmp_path / f"d{seed}", src, n_test=5, n_val=3, seed=seed)
        train = {r.tobytes() for r in load_split(out, "train").inputs}
        for split in ("test", "val"):
            held = [r.tobytes() for r in load_split(out, split).inputs]
            assert not train & set(held) and len(set(held)) == len(held)
        info = load_task_info(out)
        assert info["distinct_inputs"] == 20 and info["conflicting_inputs"] == 1
        assert info["train_pairs"] + info["test_pairs"] + info["val_pairs"] + info[
            "held_out_duplicates_dropped"
        ] == len(base + dup)


def test_build_csv_and_numeric_tokens(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text('id,input,output\n1,ab|ba,ba|ab\n2,"aa\nbb",bb|aa\n3,bb|ab,ab|bb\n4,aa|ab,ab|aa\n')
    out = build_grid_pairs(tmp_path / "c", csv, n_val=0)
    assert load_task_info(out)["grid"]["alphabet"] == ["a", "b"] and load_task_info(out)["test_pairs"] == 1
    nums = [([[i % 3, 10], [2, i % 2]], [[i % 2, 2], [10, i % 3]]) for i in range(6)]
    out = build_grid_pairs(tmp_path / "n", _jsonl(tmp_path / "n.jsonl", nums), n_val=0)
    info = load_task_info(out)
    assert info["grid"]["alphabet"] == ["0", "1", "2", "10"] and info["grid"]["numeric"] is True
    task = get_task(info, 4, 5)
    parsed = task.parse([[0, 10], [2, 1]])
    assert json.loads(task.format(parsed.tokens, parsed)) == [[0, 10], [2, 1]]
    assert task.format(parsed.tokens, task.parse("0 10\n2 1")) == "0 10\n2 1"  # wide symbols: spaced text
    assert task.format(parsed.tokens, task.parse("0 10|2 1")) == "0 10|2 1"
    with pytest.raises(PuzzleError, match="longer than"):
        task.parse("0 " * (1 << 20))


def test_padded_grids_of_several_sizes(tmp_path):
    pairs = [("ab|ba", "a"), ("abb", "bb|aa|ab"), ("b", "ab"), ("a|b", "ba|ab"), ("aa", "b")]
    src = _jsonl(tmp_path / "p.jsonl", pairs)
    with pytest.raises(
        DataError, match=r"p.jsonl:1: the output is 1x1 but the grids of line 1 are 2x2; .*--padded"
    ):
        build_grid_pairs(tmp_path / "x", src)
    out = build_grid_pairs(tmp_path / "d", src, padded=True, n_val=0)
    info = load_task_info(out)
    assert (info["grid"]["height"], info["grid"]["width"], info["grid"]["padded"]) == (3, 3, True)
    train = load_split(out, "train")
    assert train.metadata.seq_len == 16 and train.metadata.vocab_size == 4
    task = get_task(info, 16, 4)
    parsed = task.parse("ab|ba")
    answer = encode(np.array([[1, 1], [0, 0], [0, 1]]), 3, 3, True)
    assert task.format(answer, parsed) == "bb|aa|ab" and task.cells(answer, parsed).shape == (3, 2)
    assert task.label() == "up to 3x3 grid"
    with pytest.raises(PuzzleError, match="the grid is 4x1; this model takes grids of up to 3x3"):
        task.parse("a\nb\na\nb")


@pytest.mark.parametrize(
    "content, msg",
    [
        ("", "holds no input/output pairs"),
        ('{"input": "ab", "output": "ba"}\n{"input": "ab"\n', r"p.jsonl:2: not a JSON object"),
        (
            '{"input": "ab", "output": "ba"}\n[1, 2]\n',
            r'p.jsonl:2: expected an object with "input" and "output"',
        ),
        (
            '{"input": "ab", "output": "ba"}\n\n{"input": "a|bc", "output": "ba"}\n',
            r"p.jsonl:3: input: ragged",
        ),
        (
            '{"input": "ab", "output": "ba"}\n{"input": "abc", "output": "bac"}\n',
            r"p.jsonl:2: the input is 1x3",
        ),
        ('{"input": "ab", "output": "ba"}\n{"input": "ab", "output": "ba"}\n', "at least 2 distinct inputs"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_line(tmp_path, content, msg):
    src = tmp_path / "p.jsonl"
    src.write_text(content)
    with pytest.raises(DataError, match=msg) as e:
        build_grid_pairs(tmp_path / "d", src)
    assert "\n" not in str(e.value) and not (tmp_path / "d").exists()


def test_more_bad_files(tmp_path):
    many = [(chr(48 + i) * 2, "ab") for i in range(MAX_SYMBOLS + 2)]
    with pytest.raises(
        DataError,
        match=rf'p.jsonl:65: input: symbol "p" would be symbol number 65; .* at most {MAX_SYMBOLS} symbols',
    ):
        read_pairs(_jsonl(tmp_path / "p.jsonl", many))
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(DataError, match="expected a .jsonl or .csv file"):
        read_pairs(tmp_path / "p.txt")
    (tmp_path / "h.csv").write_text("question,answer\nab,ba\n")
    with pytest.raises(DataError, match="h.csv:1: expected a header naming the columns input and output"):
        read_pairs(tmp_path / "h.csv")
    with pytest.raises(DataError, match="file not found"):
        read_pairs(tmp_path / "none.jsonl")
    src = _jsonl(tmp_path / "q.jsonl", _flips(5))
    with pytest.raises(DataError, match="cannot give 3 test and 2 validation inputs"):
        build_grid_pairs(tmp_path / "d", src, n_test=3, n_val=2)


def test_the_preset_and_its_options(tmp_path):
    preset = DATASET_PRESETS["grid-pairs"]
    src = _jsonl(tmp_path / "p.jsonl", _flips(30))
    out = preset.build(tmp_path / "d", source=str(src), test=5, val=0, train=10, seed=1)
    info = load_task_info(out)
    assert (info["train_pairs"], info["test_pairs"], "val_pairs" in info) == (10, 5, False)
    with pytest.raises(DataError, match="grid-pairs needs --source"):
        preset.build(tmp_path / "e")
    with pytest.raises(DataError, match="option 'size' does not apply to the grid-pairs preset"):
        preset.build(tmp_path / "e", source=str(src), size=4)


# ------------------------------------------------------------------------------------------------ the task


def _task(**grid) -> GridTask:
    g = {"alphabet": [".", "#", "o"], "height": 2, "width": 3, "padded": False, "numeric": False, **grid}
    return get_task({"task": "grid", "grid": g}, 6, 4)


def test_the_task_reads_and_writes_the_users_symbols():
    task = _task()
    assert task.info == TaskInfo("grid", 0, None, task.info.extra) and task.label() == "2x3 grid"
    for given, form in [
        (".#o\no#.", "text"),
        (".#o|o#.", "text"),
        ([".#o", "o#."], "rows"),
        ([list(".#o"), list("o#.")], "list"),
    ]:
        parsed = task.parse(given)
        assert parsed.tokens.tolist() == [1, 2, 3, 3, 2, 1] and parsed.layout["form"] == form
        out = task.format(parsed.tokens, parsed)
        assert out == (given if isinstance(given, str) else json.dumps(given))
    assert task.parse('[".#o", "o#."]').tokens.tolist() == [1, 2, 3, 3, 2, 1]  # JSON text from a CLI
    assert task.format(np.array([0, 1, 2, 3, 9, 1]), task.parse("...|...")) == "?.#|o?."
    assert task.cells(np.array([1, 2, 3, 3, 2, 1]), None).tolist() == [list(".#o"), list("o#.")]
    with pytest.raises(
        PuzzleError, match='unknown symbol "x" at row 2, column 1; the model\'s symbols: "." "#" "o"'
    ):
        task.parse("...\nx..")
    with pytest.raises(PuzzleError, match="the grid is 1x3; this model takes grids of 2x3"):
        task.parse("...")
    with pytest.raises(PuzzleError, match="seq_len 6 and vocab 4, this one 6 and 5"):
        get_task({"task": "grid", "grid": task.info.extra}, 6, 5)
    assert task.verify(task.parse("...|..."), np.ones(6)) == (None, [])
    assert task.augmenter() is None and len(task.symmetries(8, 0)) == 1


def test_a_bare_grid_model_reads_fallback_symbols():
    task = get_task("grid", 4, 3)
    assert task.alphabet == ["0", "1"] and task.format(np.array([1, 2, 2, 1]), task.parse("01|10")) == "01|10"


def test_example_puzzles_come_from_the_dataset():
    info = TaskInfo("grid", 0)
    assert GridTask.example_puzzle(info, 3, {"examples": ["a", "b"]}) == "b"
    assert GridTask.example_puzzle(info, 0, {}) is None
