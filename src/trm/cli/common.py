"""The command line's shared vocabulary: one declaration of each flag that several subcommands take, so that a
flag means the same thing and has the same default wherever it appears (docs/CLI.md lists them).

- ``--device`` / ``--dtype``: ``auto`` everywhere (the device: CUDA, else MPS, else the CPU; the dtype:
  bfloat16 on CUDA, float32 elsewhere); what ``auto`` chose is printed on standard error.
- ``--threads``: CPU threads, bounded.
- ``--quiet``: no progress bars.
- ``--seed``: the seed of the command's own random choices (training in ``train`` and ``demo``, the data in
  ``data build``, the noise and symmetries in ``solve`` and ``eval``); ``--data-seed`` where a command also
  builds data (``demo``).
- ``section.key=value``: config overrides, positional, in every command and benchmark that takes them.
- ``--overwrite``: replace what an output path already holds (``train``, ``demo``, ``data build``).

Old spellings stay accepted for one release through :func:`deprecated_alias`, with a warning naming the new one.
"""

from __future__ import annotations

import argparse
import sys

from ..models import shipped_names

DEVICES = "auto, cpu, cuda, cuda:N or mps"
DTYPES = ["auto", "float32", "bfloat16", "float16"]
MAX_THREADS = 4096
OVERRIDES_METAVAR = "section.key=value"
OVERRIDES_HELP = "config overrides, e.g. train.lr=3e-4 model.n=6 (docs/CLI.md)"


def shipped_list() -> str:
    """The shipped models' names for a help text: ``sudoku6, sudoku9, maze``."""
    return ", ".join(shipped_names()) or "none"


def warn(message: str) -> None:
    print(f"trm: warning: {message}", file=sys.stderr)


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept ``old`` as a spelling of ``new`` (same ``dest``) for one more release, warning when it is used."""

    actions = {
        "store": argparse._StoreAction,
        "store_true": argparse._StoreTrueAction,
        "append": argparse._AppendAction,
    }
    base = actions[kwargs.pop("action", "store")]

    class _Deprecated(base):
        def __call__(self, parser, namespace, values, option_string=None):
            warn(f"{old} is deprecated and goes in the next release; use {new}")
            super().__call__(parser, namespace, values, option_string)

    parser.add_argument(old, dest=dest, action=_Deprecated, help=argparse.SUPPRESS, **kwargs)


def threads_type(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, got {text!r}") from None
    if not 1 <= n <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be in 1..{MAX_THREADS}, got {n}")
    return n


def add_device(p: argparse.ArgumentParser, default: str | None = "auto", what: str = "") -> None:
    shown = "the run's config" if default is None else default
    p.add_argument("--device", default=default, help=f"{what}{DEVICES} (default {shown})")


def add_dtype(p: argparse.ArgumentParser, default: str | None = "auto", what: str = "") -> None:
    shown = "the run's config" if default is None else default
    p.add_argument(
        "--dtype",
        default=default,
        choices=DTYPES,
        help=f"{what}auto = bfloat16 on CUDA, float32 elsewhere (default {shown})",
    )


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=threads_type,
        default=None,
        help=f"CPU threads, 1..{MAX_THREADS} (default: every core)",
    )


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    deprecated_alias(p, "--no-progress", "--quiet", "quiet", action="store_true")


def add_overrides(
    p: argparse.ArgumentParser, help: str = OVERRIDES_HELP, old: str | None = None, **old_kwargs
) -> None:
    """Positional ``section.key=value`` overrides; ``old``: a former option spelling (``--set``), collected in
    ``legacy_overrides`` (see :func:`overrides_of`)."""
    p.add_argument("overrides", nargs="*", metavar=OVERRIDES_METAVAR, help=help)
    if old is not None:
        p.set_defaults(legacy_overrides=[])
        deprecated_alias(p, old, OVERRIDES_METAVAR + " (positional)", "legacy_overrides", **old_kwargs)


def overrides_of(args: argparse.Namespace) -> list[str]:
    """The overrides given, a former ``--set``/``--override`` spelling's first."""
    legacy = getattr(args, "legacy_overrides", None) or []
    flat = [o for item in legacy for o in (item if isinstance(item, list) else [item])]
    return flat + list(args.overrides or [])


def runs_on(backend) -> str | None:
    """What runs a PyTorch backend's model (``cpu, float32``); None for another backend (onnxruntime)."""
    if not hasattr(backend, "device") or not hasattr(backend, "dtype"):
        return None
    return f"{backend.device}, {str(backend.dtype).removeprefix('torch.')}"


def announce_device(backend, asked_device: str, asked_dtype: str) -> None:
    """Say on standard error what runs the model when ``auto`` chose it (standard output stays the answer's)."""
    chosen = [w for w, asked in (("device", asked_device), ("dtype", asked_dtype)) if asked == "auto"]
    where = runs_on(backend)
    if chosen and where:
        print(f"trm: running on {where} ({' and '.join(chosen)} chosen by auto)", file=sys.stderr)
