"""The fenced blocks of README.md, CONTRIBUTING.md and docs/**/*.md, and how tests/test_docs.py runs them (docs/TESTING.md, "The
documentation's commands").

Every block fenced as ``bash``, ``sh``, ``shell``, ``console`` or ``python`` is either run or marked, on the lines
just before its fence, with ``<!-- doctest: skip REASON -->``; a file may mark all of its blocks with
``<!-- doctest: skip-file REASON -->`` (the measurement diaries of docs/notes/). ``<!-- doctest: replace "OLD"
"NEW" -->`` edits a block's text before it runs. Other fences (``text``, ``json``, ``toml``, none) are not commands.

Shell blocks run line by line (``\\`` continues a line, ``#`` starts a comment, ``&&`` chains commands), each
command in-process where it can be: ``trm ...`` and ``python -m trm ...`` through :func:`trm.cli.main`,
``python benchmarks/X.py`` through :mod:`runpy`; other programs in a subprocess. Commands that train or build
data get the tiny budget of :data:`TINY_TRAIN` / :data:`TINY_DATA`; servers run up to the point where they
would listen. Python blocks run as written. Every block of a file runs in one temporary directory, in order.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_LANGS = {"bash", "sh", "shell", "console", "python", "py"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*doctest:\s*(.*?)\s*-->\s*$")

# Config overrides that every `trm train`, `trm demo` and `benchmarks/speedrun.py` command of the docs gets
# (appended, so they win): two optimizer steps of a 16-wide model, no set-up timing.
TINY_TRAIN = [
    "train.autotune=false",
    "train.kernels=eager",
    "train.dtype=float32",
    "train.global_batch_size=8",
    "train.max_steps=2",
    "train.lr_warmup_steps=1",
    "train.eval_interval_steps=2",
    "model.hidden_size=16",
    "model.num_heads=2",
    "model.N_sup=2",
]
TINY_TRAIN_ARC = ["model.puzzle_emb_ndim=16", "train.global_batch_size=2"]
# Dataset sizes of every generated dataset the docs build (`trm data build`, and what `trm demo` builds).
TINY_DATA = {"train": 16, "test": 8, "val": 4}
GENERATED = {"sudoku6", "sudoku-generated", "maze-small", "maze-hard"}
TINY_DATA_OF = {"nqueens": {"instances": 200, "val": 4}}  # generated presets with counts of their own


def docs_files() -> list[Path]:
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("**/*.md"))]


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None
    replace: list[tuple[str, str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGS

    def source(self) -> str:
        text = self.text
        for old, new in self.replace:
            if old not in text:
                raise ValueError(f"{self.where}: doctest replace: {old!r} is not in the block")
            text = text.replace(old, new)
        return text


def parse(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file with the directives written before each."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    file_skip = None
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = DIRECTIVE.match(line)
        if m:
            words = m.group(1)
            if words.startswith("skip-file"):
                file_skip = words[len("skip-file") :].strip() or None
                if not file_skip:
                    raise ValueError(f"{path}:{i + 1}: doctest skip-file needs a reason")
            else:
                pending.append(words)
            i += 1
            continue
        f = FENCE.match(line)
        if not f:
            if line.strip():
                if pending:
                    raise ValueError(f"{path}:{i + 1}: a doctest directive must come just before a fence")
            i += 1
            continue
        indent, fence, lang = f.groups()
        body = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        block = Block(path, i + 1, lang.lower(), "\n".join(body) + "\n")
        for words in pending:
            if words.startswith("skip"):
                block.skip = words[len("skip") :].strip()
                if not block.skip:
                    raise ValueError(f"{block.where}: doctest skip needs a reason")
            elif words.startswith("replace"):
                args = shlex.split(words[len("replace") :])
                if len(args) != 2:
                    raise ValueError(f"{block.where}: doctest replace takes two quoted strings")
                block.replace.append((args[0], args[1]))
            else:
                raise ValueError(f"{block.where}: unknown doctest directive {words!r}")
        if file_skip and block.skip is None:
            block.skip = file_skip
        pending = []
        blocks.append(block)
        i = j + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for p in docs_files() for b in parse(p)]


def shell_commands(text: str, where: str) -> list[list[str]]:
    """The commands of a shell block as argument lists (continuations joined, comments dropped, ``&&`` split)."""
    joined, cur = [], ""
    for raw in text.splitlines():
        cur += raw
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        joined.append(cur)
        cur = ""
    if cur:
        joined.append(cur)
    commands: list[list[str]] = []
    for line in joined:
        if line.lstrip().startswith("$ "):  # a console prompt
            line = line.lstrip()[2:]
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
        lex.whitespace_split = True
        lex.commenters = "#"
        words = list(lex)
        cmd: list[str] = []
        for w in words:
            if w == "&&":
                commands.append(cmd)
                cmd = []
            elif set(w) <= set(";&|<>()") or w.startswith("$") or "`" in w:
                raise ValueError(
                    f"{where}: shell syntax {w!r} is not supported in a docs command: {line.strip()}"
                )
            else:
                cmd.append(w)
        if cmd:
            commands.append(cmd)
    return commands
