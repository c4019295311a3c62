"""The layers of docs/ARCHITECTURE.md: the import-linter contract of pyproject.toml (also run by .ci/run), and
the example puzzles that moved into the task layer so that the service no longer imports the data package."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trm.data import maze_generate, sudoku_generate
from trm.tasks import TaskInfo, maze, sudoku
from trm.tasks.examples import example_puzzle

ROOT = Path(__file__).resolve().parents[1]


def test_import_contract_is_kept():
    """``lint-imports`` with the contract of pyproject.toml: every contract kept (about a second)."""
    pytest.importorskip("importlinter")
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).is_file():
        pytest.skip("import-linter is installed but its lint-imports command is not on PATH")
    out = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_examples_are_the_dataset_generators_first_puzzle(seed):
    """The task layer's examples are what the data package's generators make first for the same seed."""
    for box, blanks in (((2, 2), (8, 10)), ((2, 3), (18, 24))):
        n = box[0] * box[1]
        made = example_puzzle(TaskInfo("sudoku", n, box), seed, {"task": "sudoku", "blanks": list(blanks)})
        puzzles, _ = sudoku_generate.generate(1, box, blanks=blanks, seed=seed)
        assert made == sudoku.format_sudoku(puzzles[0])
    for n, walled, perfect in ((9, False, False), (9, True, False), (9, False, True), (8, True, True)):
        made = example_puzzle(
            TaskInfo("maze", n), seed, {"task": "maze", "walled": walled, "perfect": perfect}
        )
        perfect = perfect and n % 2 == 1
        min_path = max(1, maze_generate.default_min_path(n, walled or perfect) // 2)
        mazes, _ = maze_generate.generate(
            1, n=n, min_path=min_path, seed=seed, walled=walled, perfect=perfect
        )
        assert made == maze.format_maze(mazes[0])
