"""The ``trm`` command: one dispatcher, one module per subcommand.

Each subcommand lives in ``trm/cli/<name>.py`` and exposes ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``; heavy imports happen inside ``run`` so that ``trm --help`` stays fast. Every
subcommand calls a library function, so everything is usable from Python too.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from ..config import ConfigError
from ..utils import TRMError

# in the order shown by `trm --help`
SUBCOMMANDS = ["info", "presets", "demo", "data", "train", "eval", "solve", "export", "serve", "import-official"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="trm",
        description="Tiny Recursive Models: train, evaluate, solve, export and serve small recursive reasoners.",
    )
    parser.add_argument("--version", action="version", version=f"trm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in SUBCOMMANDS:
        modname = f"{__name__}.{name.replace('-', '_')}"
        if importlib.util.find_spec(modname) is None:
            continue
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (TRMError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `trm eval ... | head`): stop quietly, like other tools
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
