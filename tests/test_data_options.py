"""``trm data build`` options are declared once (:class:`trm.data.presets.BuildOptions`: help and bounds in the
field metadata, narrowed per preset), the command line is generated from them, and every out-of-range value is
refused with one line, exit code 2, nothing written; property-based over the declared bounds."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trm.cli import main
from trm.data.errors import DataError
from trm.data.presets import DATASET_PRESETS, BuildOptions
from trm.typed import in_bounds

from .fuzz_profile import fuzz

NUMBERS = [
    f for f in dataclasses.fields(BuildOptions) if "ge" in f.metadata and f.metadata.get("kind") != "pair"
]
PAIRS = [f for f in dataclasses.fields(BuildOptions) if f.metadata.get("kind") == "pair"]


def _bounds(preset, f):
    return {**f.metadata, **DATASET_PRESETS[preset].bounds.get(f.name, {})}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["sudoku6", "--train", "-1", "--test", "5"],
            "--train: -1 is out of range (allowed: in [1, 100000000])",
        ),
        (["sudoku6", "--train", "0", "--test", "0"], "--train: 0 is out of range"),
        (["sudoku6", "--test", "0"], "--test: 0 is out of range"),
        (["sudoku-generated", "--size", "0"], "--size: 0 is out of range (allowed: in [4, 25])"),
        (["sudoku-generated", "--size", "100"], "--size: 100 is out of range"),
        (["sudoku-generated", "--blanks", "9,3"], "--blanks: 9,3 is not a range lo,hi with lo <= hi"),
        (["sudoku-generated", "--box", "0x3"], "--box: 0,3 is out of range"),
        (["sudoku6", "--augmentations", "-1"], "--augmentations: -1 is out of range"),
        (["maze-small", "--size", "3"], "--size: 3 is out of range (allowed: in [5, 256])"),
        (["maze-small", "--min-path", "-2"], "--min-path: -2 is out of range"),
        (["maze-small", "--workers", "0"], "--workers: 0 is out of range"),
        (["sudoku6", "--seed", "-1"], "--seed: -1 is out of range"),
        (["arc-small", "--size", "31"], "--size: 31 is out of range (allowed: in [1, 30])"),
    ],
)
def test_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, words):
    out = tmp_path / "d"
    assert main(["data", "build", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"trm: error: {words}") and "\n" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_every_preset_default_is_within_bounds():
    for preset in DATASET_PRESETS.values():
        opts = dataclasses.replace(BuildOptions(), **preset.defaults)
        opts.check(preset.bounds)


def test_the_command_line_has_one_flag_per_option(capsys):
    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    text = capsys.readouterr().out
    for f in dataclasses.fields(BuildOptions):
        if f.metadata.get("cli") is not False:
            assert "--" + f.name.replace("_", "-") in text, f.name
    assert "[allowed: in [1, 100000000]]" in " ".join(text.split())


@fuzz(60)
@given(data=st.data())
def test_any_number_out_of_range_is_refused_and_in_range_passes(data):
    preset = data.draw(st.sampled_from(sorted(DATASET_PRESETS)))
    f = data.draw(st.sampled_from(NUMBERS))
    m = _bounds(preset, f)
    value = data.draw(st.integers(-(2**64), 2**64))
    opts = BuildOptions(**{f.name: value})
    if in_bounds(m, value):
        opts.check(DATASET_PRESETS[preset].bounds)
    else:
        with pytest.raises(DataError, match=f"--{f.name.replace('_', '-')}: {value} is out of range"):
            opts.check(DATASET_PRESETS[preset].bounds)


@fuzz(40)
@given(data=st.data())
def test_pairs_are_bounded_and_ordered(data):
    f = data.draw(st.sampled_from(PAIRS))
    lo, hi = data.draw(st.integers(-5, 2**31)), data.draw(st.integers(-5, 2**31))
    ok = (
        in_bounds(f.metadata, lo)
        and in_bounds(f.metadata, hi)
        and (lo <= hi or not f.metadata.get("ordered"))
    )
    if ok:
        BuildOptions(**{f.name: (lo, hi)}).check()
    else:
        with pytest.raises(DataError):
            BuildOptions(**{f.name: (lo, hi)}).check()


@pytest.mark.parametrize("value", [True, 1.5, "3", [1]])
def test_wrong_types_from_python_are_refused(value):
    with pytest.raises(DataError, match="--train"):
        BuildOptions(train=value).check()


def test_out_of_range_from_the_python_api_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="--size"):
        DATASET_PRESETS["sudoku-generated"].build(tmp_path / "d", size=0)
    with pytest.raises(DataError, match="--train"):
        DATASET_PRESETS["maze-small"].build(tmp_path / "d", train=-1)
    assert list(tmp_path.iterdir()) == []
