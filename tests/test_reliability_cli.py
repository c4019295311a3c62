"""The command line's one error boundary (docs/RELIABILITY.md): one line and exit code 2 for every error a user
or the environment causes, an internal-error line and exit code 3 for a bug (its traceback only with --debug or
TRM_DEBUG=1), 130 on Ctrl-C, and a closed or full standard output reported instead of crashing at exit."""

import errno
import os
import subprocess
import sys

import pytest

import trm.cli.info as info_cmd
from trm.cli import main
from trm.config import ConfigError
from trm.utils import TRMError


def _raise(error):
    def run(args):
        raise error

    return run


@pytest.mark.parametrize(
    "error, code, message",
    [
        (TRMError("runs/x: no model.safetensors found"), 2, "trm: error: runs/x: no model.safetensors found"),
        (ConfigError("model.n: expected an integer, got 'x'"), 2, "trm: error: model.n: expected an integer"),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/no/such"),
            2,
            "trm: error: /no/such: No such file or directory",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/root/x"),
            2,
            "trm: error: /root/x: Permission denied",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "out.gif"),
            2,
            "trm: error: out.gif: Is a directory",
        ),
        (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), 2, "File name too long"),
        (
            OSError(errno.ENOSPC, "No space left on device", "r/metrics.jsonl"),
            2,
            "r/metrics.jsonl: No space left",
        ),
        (OSError(errno.EFBIG, "File too large"), 2, "trm: error: File too large"),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            2,
            "cannot decode input as utf-8: invalid start byte",
        ),
        (OverflowError("int too large to convert to float"), 2, "a number is out of range"),
        (MemoryError(), 2, "out of memory"),
        (
            RuntimeError("boom\nsecond line"),
            3,
            "trm: internal error: RuntimeError: boom second line (run with --debug",
        ),
        (KeyError("x"), 3, "trm: internal error: KeyError"),
    ],
)
def test_errors_become_one_line_and_a_code(monkeypatch, capsys, error, code, message):
    monkeypatch.setattr(info_cmd, "run", _raise(error))
    monkeypatch.delenv("TRM_DEBUG", raising=False)
    assert main(["info"]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(info_cmd, "run", _raise(RuntimeError("boom")))
    monkeypatch.delenv("TRM_DEBUG", raising=False)
    assert main(["info", "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("please report it)")
    monkeypatch.setenv("TRM_DEBUG", "1")
    assert main(["info"]) == 3
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("TRM_DEBUG", "0")
    assert main(["info"]) == 3
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_exits_130_quietly(monkeypatch, capsys):
    monkeypatch.setattr(info_cmd, "run", _raise(KeyboardInterrupt()))
    assert main(["info"]) == 130
    assert capsys.readouterr().err == ""


def test_a_broken_subcommand_does_not_break_the_others(monkeypatch, capsys):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "trm.cli.presets":
            raise ImportError("cannot import name 'X'")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    assert main(["presets"]) == 3
    assert "internal error: ImportError" in capsys.readouterr().err
    monkeypatch.setattr(info_cmd, "run", lambda args: 0)
    assert main(["info"]) == 0


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["no-such-command"])
    assert e.value.code == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["info"]])
def test_full_stdout_is_one_line(monkeypatch, capsys, args):
    monkeypatch.setattr(info_cmd, "run", lambda a: print("a report line\n" * 10) or 0)
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        assert main(args) == 2
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert (
        err.startswith("trm: error: ") and "No space left on device" in err and len(err.splitlines()) == 1
    ), err


def test_closed_stdout_is_one_line_and_nothing_at_exit():
    """The reader went away before we wrote (a closed pipe): one line, exit 2, no message from the interpreter."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("TRM_DEBUG", None)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "trm", "--help"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert r.returncode == 2, r.stderr
    assert r.stderr == "trm: error: standard output was closed before trm finished writing (broken pipe)\n"
