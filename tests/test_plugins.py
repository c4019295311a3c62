"""Registries find their entries (trm.tasks.plugins.Registry): a new puzzle family or dataset preset is a new
module, or an entry point of another distribution; nothing else is edited (docs/EXTENDING.md)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import sys
import textwrap
from pathlib import Path

import pytest

from trm.data.options import BuildOptions, DatasetPreset, opt, option_fields
from trm.data.presets import DATASET_PRESETS
from trm.errors import TRMError
from trm.tasks import TASKS
from trm.tasks.plugins import Registry


@pytest.fixture
def package(tmp_path: Path, monkeypatch):
    """A package ``plugpkg`` on sys.path whose modules declare ``ENTRY``."""
    root = tmp_path / "plugpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "alpha.py").write_text("ENTRY = 'alpha:1'\n")
    (root / "beta.py").write_text("ENTRY = ['beta:2', 'gamma:3']\n")
    (root / "helper.py").write_text("X = 1  # declares nothing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [m for m in sys.modules if m == "plugpkg" or m.startswith("plugpkg.")]:
        del sys.modules[name]


def _registry(**kw) -> Registry:
    return Registry("plugpkg", "ENTRY", key=lambda e: e.split(":")[0], **kw)


def test_modules_declaring_entries_are_found_after_the_builtins(package):
    reg = _registry(builtins=lambda: ["zero:0"])
    assert list(reg) == ["zero", "alpha", "beta", "gamma"]
    assert reg["gamma"] == "gamma:3" and "helper" not in reg and len(reg) == 4
    assert reg.origin("beta") == "plugpkg.beta" and reg.origin("zero") == "the built-ins"


def test_a_new_module_is_a_new_entry(package):
    (package / "delta.py").write_text("ENTRY = 'delta:4'\n")
    assert "delta" in _registry()


def test_two_entries_with_one_name_are_an_error_naming_both(package):
    (package / "omega.py").write_text("ENTRY = 'alpha:9'\n")
    with pytest.raises(
        TRMError, match="two entrys named 'alpha': one from plugpkg.alpha, one from plugpkg.omega"
    ):
        list(_registry())


class _EntryPoint:
    def __init__(self, name: str, value: str, obj=None, error: Exception | None = None):
        self.name, self.value, self._obj, self._error = name, value, obj, error

    def load(self):
        if self._error:
            raise self._error
        return self._obj


def test_entry_points_of_installed_distributions_are_entries(package, monkeypatch):
    found = {"plug.group": [_EntryPoint("ext", "ext.mod:E", "ext:5")]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: found.get(group, []))
    reg = _registry(group="plug.group")
    assert reg["ext"] == "ext:5" and reg.origin("ext") == "the entry point 'ext' (ext.mod:E)"


def test_a_broken_entry_point_names_itself(package, monkeypatch):
    broken = [_EntryPoint("bad", "bad.mod:E", error=ImportError("no module named bad"))]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: broken)
    with pytest.raises(TRMError, match="entry point 'bad' .bad.mod:E. failed to load: no module named bad"):
        list(_registry(group="plug.group"))


def test_the_project_registries_hold_the_builtins_first():
    assert list(TASKS)[:4] == ["sudoku", "maze", "arc", "custom"]
    assert list(DATASET_PRESETS)[:2] == ["sudoku6", "sudoku-hard"]


@dataclasses.dataclass
class _ColourOptions(BuildOptions):
    colours: int | None = opt(None, "test builder: number of colours", ge=2, le=9)


def test_a_builder_declares_its_own_options(tmp_path):
    seen = {}

    def build(out, o, preset):
        seen.update(colours=o.colours, train=o.train)
        return Path(out)

    preset = DatasetPreset(
        "paint", "test", build, ("train", "colours"), {"colours": 3}, options_class=_ColourOptions
    )
    preset.build(tmp_path, train=5)
    assert seen == {"colours": 3, "train": 5}
    preset.build(tmp_path, colours=7, size=None)  # another builder's option, not given: ignored
    assert seen["colours"] == 7
    with pytest.raises(TRMError, match="--colours: 12 is out of range"):
        preset.build(tmp_path, colours=12)
    with pytest.raises(TRMError, match="option 'size' does not apply to the paint preset"):
        preset.build(tmp_path, size=9)
    with pytest.raises(TRMError, match="unknown dataset option 'colours' for the sudoku6 preset"):
        DATASET_PRESETS["sudoku6"].build(tmp_path / "x", colours=3)
    names = [f.name for f in option_fields([BuildOptions, _ColourOptions])]
    assert names.count("train") == 1 and names[-1] == "colours"


def test_cli_flags_come_from_every_builders_options(monkeypatch):
    """A preset with its own options class gets its flags in `trm data build` without editing the CLI."""
    import argparse

    from trm.cli import data as cli_data

    extra = DatasetPreset("paint", "test", lambda *a: None, ("colours",), options_class=_ColourOptions)
    monkeypatch.setattr(cli_data, "DATASET_PRESETS", {**DATASET_PRESETS, "paint": extra})
    parser = argparse.ArgumentParser()
    cli_data.add_build_options(parser)
    assert parser.parse_args(["--colours", "4"]).colours == 4
    assert "number of colours" in parser.format_help()


def test_a_family_in_its_own_module_joins_the_task_registry(tmp_path, monkeypatch):
    """The discovery TASKS runs: a module of the package that says FAMILY = ... is a family."""
    import trm.tasks

    code = textwrap.dedent(
        """
        from trm.tasks.base import TokensTask

        class Plug(TokensTask):
            kind = "plugtest"
            title = "plug test"

        FAMILY = Plug
        """
    )
    pkg = tmp_path / "trm_plug_tasks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "plug.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry(
        "trm_plug_tasks", "FAMILY", key=lambda c: c.kind, builtins=lambda: list(trm.tasks.TASKS.values())
    )
    assert list(reg)[-1] == "plugtest" and reg["plugtest"].title == "plug test"
    sys.modules.pop("trm_plug_tasks.plug", None)
    sys.modules.pop("trm_plug_tasks", None)
