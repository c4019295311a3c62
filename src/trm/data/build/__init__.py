"""Dataset builders, one module per task: :mod:`~trm.data.build.sudoku`, :mod:`~trm.data.build.maze`,
:mod:`~trm.data.build.arc`. Every builder writes the official layout (:mod:`trm.data.format`) atomically: into a
temporary directory next to ``out_dir``, renamed into place only when complete, so a failed build leaves
nothing behind. The named datasets of ``trm data build`` are :data:`trm.data.presets.DATASET_PRESETS`."""
