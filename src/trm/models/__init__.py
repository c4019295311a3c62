"""Models shipped inside the package, ready to use after ``pip install`` with no training.

Each sub-folder is a pretrained model folder (``config.json``, ``model.safetensors``, ``README.md`` card; see
:mod:`trm.deploy.pretrained`) named by its folder: ``trm solve sudoku6 PUZZLE``. :func:`shipped_model` is the
one place that turns a name into a folder; :func:`trm.checkpoint.resolve_model_dir` calls it for a path that
does not exist, so a local path always wins over a shipped name. Imports nothing (layer 0).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def shipped_names() -> list[str]:
    """The names of the models shipped with this installation."""
    return sorted(p.name for p in HERE.iterdir() if (p / "model.safetensors").is_file())


def shipped_model(name: str) -> Path | None:
    """The folder of the shipped model ``name`` (e.g. ``"sudoku6"``), None when there is no such model."""
    if name not in shipped_names():  # only plain names: never a path that escapes this folder
        return None
    return HERE / name
