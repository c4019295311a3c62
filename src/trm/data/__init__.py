"""Training data for every paper task (SPEC §6): the official on-disk format, the group sampler, and
builders for Sudoku (any box shape), Maze (any size) and ARC.

Modules: :mod:`~trm.data.format` (read/write/validate), :mod:`~trm.data.sampler` (training sampler and test
iterator), :mod:`~trm.data.sudoku`, :mod:`~trm.data.maze`, :mod:`~trm.data.arc` (task logic),
:mod:`~trm.data.builders` (datasets and presets), :mod:`~trm.data.render` (terminal view).
"""

from .errors import DataError
from .format import IGNORE, DatasetMetadata, SplitData, load_split, load_task_info, write_dataset

__all__ = ["IGNORE", "DataError", "DatasetMetadata", "SplitData", "load_split", "load_task_info", "write_dataset"]
