"""The ``trm`` command: one dispatcher, one module per subcommand.

Each subcommand lives in ``trm/cli/<name>.py`` and exposes ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``; heavy imports happen inside ``run`` so that ``trm --help`` stays fast. Every
subcommand calls a library function, so everything is usable from Python too.

:func:`main` is the one error boundary of the command line (docs/RELIABILITY.md): exit code 0 on success,
1 when a command ran but its answer is negative (``trm solve``: the answer does not verify), 2 for every error
the user or the environment causes (bad values and files, missing paths, permissions, decode errors, numbers out
of range, a full disk, a closed or full standard output) with one line ``trm: error: ...`` on stderr, 3 for an
internal error (a bug: one line with a hint; the traceback with ``--debug`` or ``TRM_DEBUG=1``), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import os
import sys

from ..config import ConfigError
from ..errors import TRMError

# in the order shown by `trm --help`
SUBCOMMANDS = [
    "info",
    "presets",
    "demo",
    "data",
    "train",
    "eval",
    "solve",
    "export",
    "serve",
    "mcp",
    "import-official",
]


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file=None) -> None:
        # argparse ignores a failed write of --help or a usage error; let the error boundary report it instead
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="trm",
        description="Tiny Recursive Models: train, evaluate, solve, export and serve small recursive reasoners.",
    )
    parser.add_argument("--version", action="version", version=f"trm {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also TRM_DEBUG=1; accepted anywhere before `--`)",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in SUBCOMMANDS:
        modname = f"{__name__}.{name.replace('-', '_')}"
        if importlib.util.find_spec(modname) is None:
            continue
        try:
            mod = importlib.import_module(modname)
            mod.add_arguments(argparse.ArgumentParser(add_help=False))  # fails here, not half-way below
        except Exception as e:  # noqa: BLE001 - a broken subcommand must not take the others down
            p = sub.add_parser(name, help=f"(unavailable: {type(e).__name__})")
            p.add_argument("args", nargs=argparse.REMAINDER)
            p.set_defaults(_run=_reraise(e))
            continue
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _reraise(error: Exception):
    def run(args: argparse.Namespace) -> int:
        raise error

    return run


EXIT_OK, EXIT_NEGATIVE, EXIT_USER_ERROR, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# OSErrors that come from the user's paths or environment rather than from a bug in trm
_USER_ERRNOS = {
    getattr(errno, name)
    for name in (
        "ENOENT",
        "EACCES",
        "EPERM",
        "EISDIR",
        "ENOTDIR",
        "ENAMETOOLONG",
        "ELOOP",
        "EEXIST",
        "ENOTEMPTY",
        "EROFS",
        "ENOSPC",
        "EFBIG",
        "EDQUOT",
        "EPIPE",
        "EXDEV",
        "EBUSY",
        "ETXTBSY",
        "ENXIO",
        "ENODEV",
        "EMFILE",
        "ENFILE",
        "EIO",
        "ESPIPE",
    )
    if hasattr(errno, name)
}


class _StdoutError(Exception):
    """Writing our own standard output failed (closed pipe, full device)."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


def _take_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """Remove ``--debug`` wherever it appears before ``--`` (so ``trm train ... --debug`` works too)."""
    out, debug, passthrough = [], False, False
    for a in argv:
        if a == "--" or passthrough:
            passthrough = True
            out.append(a)
        elif a == "--debug":
            debug = True
        else:
            out.append(a)
    return out, debug


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so that flushing what is left at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except OSError as e:
        _silence_stdout()
        raise _StdoutError(e) from e
    except ValueError:  # stdout was closed by the command
        pass


def _os_message(e: OSError) -> str:
    reason = e.strerror or str(e) or type(e).__name__
    if e.filename is not None and e.filename2 is not None:
        return f"{e.filename} -> {e.filename2}: {reason}"
    if e.filename is not None:
        return f"{e.filename}: {reason}"
    return reason


def describe_error(e: BaseException) -> tuple[int, str]:
    """(exit code, message) of an exception that ended a command."""
    if isinstance(e, _StdoutError):
        if isinstance(e.error, BrokenPipeError):
            return EXIT_USER_ERROR, "standard output was closed before trm finished writing (broken pipe)"
        return EXIT_USER_ERROR, f"cannot write to standard output: {_os_message(e.error)}"
    if isinstance(e, (TRMError, ConfigError)):
        return EXIT_USER_ERROR, str(e)
    if isinstance(e, BrokenPipeError):
        return EXIT_USER_ERROR, "standard output was closed before trm finished writing (broken pipe)"
    if isinstance(e, OSError) and e.errno in _USER_ERRNOS:
        return EXIT_USER_ERROR, _os_message(e)
    if isinstance(e, UnicodeDecodeError):
        return EXIT_USER_ERROR, f"cannot decode input as {e.encoding}: {e.reason} at byte {e.start}"
    if isinstance(e, UnicodeEncodeError):
        return (
            EXIT_USER_ERROR,
            f"cannot encode text as {e.encoding}: {e.reason} (character {e.object[e.start : e.end]!a})",
        )
    if isinstance(e, OverflowError):
        return EXIT_USER_ERROR, f"a number is out of range ({e})"
    if (
        isinstance(e, MemoryError)
        or type(e).__name__ == "OutOfMemoryError"
        or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))
    ):
        return (
            EXIT_USER_ERROR,
            "out of memory; use smaller sizes (batch, samples, augmentations) or a larger machine",
        )
    text = str(e) if len(str(e)) <= 300 else str(e)[:300] + "..."
    return EXIT_INTERNAL_ERROR, (
        f"{type(e).__name__}: {text} (run with --debug or TRM_DEBUG=1 for the traceback; please report it)"
    )


def _report(e: BaseException, debug: bool) -> int:
    code, message = describe_error(e)
    try:
        _flush_stdout()
    except _StdoutError:
        pass
    try:
        if debug:
            import traceback

            traceback.print_exception(e.error if isinstance(e, _StdoutError) else e, file=sys.stderr)
        kind = "internal error" if code == EXIT_INTERNAL_ERROR else "error"
        print(f"trm: {kind}: " + " ".join(message.splitlines()), file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr itself is closed or full: the exit code still tells
        pass
    return code


def main(argv: list[str] | None = None) -> int:
    """Run ``trm`` with ``argv`` and return the exit code (see the module docstring); never raises but
    ``SystemExit`` from argument parsing (usage errors exit with 2, ``--help`` with 0)."""
    argv, debug = _take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get("TRM_DEBUG", "").strip() not in ("", "0")
    try:
        exit_request = None
        try:
            code = _dispatch(argv)
        except SystemExit as e:  # argparse: --help, --version, usage errors
            exit_request = e
            code = 0
        _flush_stdout()  # inside the boundary: a closed or full stdout is reported here, not at interpreter exit
        if exit_request is not None:
            raise exit_request
        return code
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _silence_stdout()
        return EXIT_INTERRUPTED
    except BaseException as e:  # noqa: BLE001 - the one place that turns every error into a line and a code
        return _report(e, debug)


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return EXIT_OK
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
