"""One vocabulary across the command line (docs/CLI.md): the shared flags have one default everywhere, former
spellings still work with a warning, services do not share a port, `trm demo` does not replace a run silently."""

from __future__ import annotations

import argparse

import pytest

from trm.cli import build_parser, main
from trm.cli.common import add_overrides, overrides_of
from trm.config import Config


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _option(p: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in p._actions if flag in a.option_strings), None)


def test_device_and_dtype_default_to_auto_everywhere():
    parsers = _subparsers()
    with_device = {name for name, p in parsers.items() if _option(p, "--device")}
    assert {"demo", "train", "eval", "solve", "serve", "mcp"} <= with_device
    for name in with_device:
        p = parsers[name]
        for flag in ("--device", "--dtype"):
            action = _option(p, flag)
            assert action is not None, f"trm {name} has --device but not {flag}"
            if name == "train":  # a shortcut for train.device / train.dtype: unset keeps the config's, auto
                assert action.default is None
                assert getattr(Config().train, flag[2:]) == "auto"
            else:
                assert action.default == "auto", f"trm {name} {flag} defaults to {action.default!r}"


def test_services_listen_on_distinct_ports():
    parsers = _subparsers()
    serve, mcp = (_option(parsers[n], "--port").default for n in ("serve", "mcp"))
    assert serve != mcp and {serve, mcp} == {8000, 8001}


def test_quiet_is_the_one_progress_flag():
    parsers = _subparsers()
    data_build = next(
        a for a in parsers["data"]._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["build"]
    for p in (parsers["eval"], data_build):
        assert _option(p, "--quiet") is not None
    # the former spelling of eval's is hidden from --help but still parses, into the same option
    assert "--no-progress" not in parsers["eval"].format_help()
    args = parsers["eval"].parse_args(["RUN", "--data", "D", "--no-progress"])
    assert args.quiet is True


@pytest.mark.parametrize(
    "argv, dest, value, new",
    [
        (["--no-progress"], "quiet", True, "--quiet"),
        (["--max-steps", "5"], "max_steps", 5, "--sup-steps"),
        (["--vote", "confidence"], "select", "confidence", "--select"),
    ],
)
def test_former_spellings_work_with_a_warning(argv, dest, value, new, capsys):
    args = _subparsers()["eval"].parse_args(["RUN", "--data", "D", *argv])
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert f"{argv[0]} is deprecated" in err and new in err
    # the new spelling: the same value, no warning
    if new != "--quiet":
        args = _subparsers()["eval"].parse_args(["RUN", "--data", "D", new, argv[1]])
        assert getattr(args, dest) == value and "deprecated" not in capsys.readouterr().err


def test_threads_are_bounded(capsys):
    for command in (["solve", "sudoku6", "1"], ["eval", "RUN", "--data", "D"]):
        with pytest.raises(SystemExit) as e:
            main([*command, "--threads", "0"])
        assert e.value.code == 2 and "--threads" in capsys.readouterr().err


def test_demo_refuses_to_replace_a_run(tmp_path, capsys):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "metrics.jsonl").write_text("{}\n")
    assert main(["demo", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "--overwrite" in err
    assert (run / "metrics.jsonl").read_text() == "{}\n"  # untouched


def test_demo_seeds_are_separate():
    args = _subparsers()["demo"].parse_args(["--seed", "2"])
    assert (args.seed, args.data_seed) == (2, 0)
    args = _subparsers()["demo"].parse_args(["--data-seed", "3", "train.lr=1e-3"])
    assert (args.seed, args.data_seed, args.overrides) == (0, 3, ["train.lr=1e-3"])


def test_train_flag_shortcuts(tmp_path, capsys):
    from trm.cli.train import _flag_overrides

    args = _subparsers()["train"].parse_args(["sudoku6_mlp", "--seed", "3", "--dtype", "float32"])
    assert _flag_overrides(args, []) == ["train.seed=3", "train.dtype=float32"]
    # the same key both ways is refused before anything is read or written
    argv = ["train", "sudoku6_mlp", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]
    assert main([*argv, "--seed", "1", "train.seed=2"]) == 2
    assert "--seed and train.seed= both given" in capsys.readouterr().err
    assert main([*argv, "--device", "cpu", "train.system.device=cpu"]) == 2
    assert not (tmp_path / "r").exists()


def test_benchmark_overrides_are_positional_and_the_former_option_still_works(capsys):
    p = argparse.ArgumentParser()
    p.add_argument("--data")
    add_overrides(p, old="--set", nargs="*")
    args = p.parse_intermixed_args(["train.lr=1", "--data", "D", "model.n=2"])
    assert overrides_of(args) == ["train.lr=1", "model.n=2"] and "deprecated" not in capsys.readouterr().err
    args = p.parse_intermixed_args(["--set", "train.lr=1", "train.seed=2", "--data", "D"])
    assert overrides_of(args) == ["train.lr=1", "train.seed=2"]
    assert "--set is deprecated" in capsys.readouterr().err


def test_a_missing_extra_names_its_packages_not_a_pypi_name():
    """A missing optional dependency names the packages of the extra (read from pyproject.toml through the
    installed metadata) and the checkout's spelling, never `pip install 'trm[...]'` (another project on PyPI)."""
    from trm.utils import install_hint

    hint = install_hint("serve")
    assert "'fastapi" in hint and "'uvicorn" in hint and "pip install -e '.[serve]'" in hint
    assert "trm[" not in hint
    assert "'mcp" in install_hint("mcp") and "'onnxruntime" in install_hint("onnx")
