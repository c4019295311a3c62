"""Training data for every paper task (docs/DATA.md): the official on-disk format, the group sampler, generators,
readers and builders for Sudoku (any box shape), Maze (any size) and ARC. The puzzle rules themselves live in
:mod:`trm.tasks`.

Modules: :mod:`~trm.data.format` (read and validate), :mod:`~trm.data.write` (atomic writing), :mod:`~trm.data.sampler` (training sampler and test
iterator), :mod:`~trm.data.sudoku_generate` (with :mod:`~trm.tasks.sudoku_batch`, the vectorised solver),
:mod:`~trm.data.maze_generate`, :mod:`~trm.data.readers` (CSV files, Sudoku collections, ARC task files),
:mod:`~trm.data.build` (one builder module per task), :mod:`~trm.data.presets` (named datasets),
:mod:`~trm.data.jobs` (worker processes).
"""

from .errors import DataError
from .format import IGNORE, DatasetMetadata, SplitData, load_split, load_task_info
from .write import write_dataset

__all__ = [
    "IGNORE",
    "DataError",
    "DatasetMetadata",
    "SplitData",
    "load_split",
    "load_task_info",
    "write_dataset",
]
