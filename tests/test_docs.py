"""Every command of README.md and docs/ runs (docs/TESTING.md, "The documentation's commands").

One test per fenced block, named by its file and line; a block that fails names its file:line and the command.
Blocks of one file run in order in one temporary directory that starts with a tiny trained demo run in
``runs/demo`` (the run ``trm demo`` writes). How commands run and the tiny budget: tests/docs_blocks.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from .docs_blocks import (
    GENERATED,
    REPO,
    TINY_DATA,
    TINY_DATA_OF,
    TINY_TRAIN,
    TINY_TRAIN_ARC,
    Block,
    all_blocks,
    docs_files,
    shell_commands,
)
from .test_app_demo_tasks import arc_source

BLOCKS = [b for b in all_blocks() if b.runs]
_DIRS: dict[Path, Path] = {}  # markdown file -> its working directory
_STATE: dict[str, object] = {}  # the app of the last `trm serve` command


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    """What every file's directory starts with: a tiny `trm demo` run in runs/demo, and the tiny ARC source."""
    from trm.cli import main

    root = tmp_path_factory.mktemp("docs-seed")
    arc_source(root / "arc-source")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        _tiny_tasks(mp)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["demo", "--out", "runs/demo", *TINY_TRAIN]) == 0
    return root


def _tiny_tasks(mp: pytest.MonkeyPatch) -> None:
    """The demo's datasets at TINY_DATA sizes (ARC: one augmentation of the tiny source)."""
    from trm.app import demo_tasks

    for name, spec in list(demo_tasks.TASKS.items()):
        build = dict(spec.build)
        if spec.dataset in GENERATED:
            build.update(TINY_DATA)
        elif spec.dataset in TINY_DATA_OF:
            build.update(TINY_DATA_OF[spec.dataset])
        else:
            build.update(augmentations=1)
        mp.setitem(demo_tasks.TASKS, name, replace(spec, build=build, data_check={}))


def _workdir(block: Block, seed: Path, factory) -> Path:
    if block.path not in _DIRS:
        d = factory.mktemp(block.path.stem.lower())
        shutil.copytree(seed, d, dirs_exist_ok=True)
        _DIRS[block.path] = d
    return _DIRS[block.path]


def _opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _set_opt(argv: list[str], name: str, value: str) -> list[str]:
    if name in argv:
        argv = list(argv)
        argv[argv.index(name) + 1] = value
        return argv
    return [*argv, name, value]


def _tiny_trm(args: list[str]) -> list[str]:
    """A `trm` command with the tiny budget (tests/docs_blocks.py)."""
    if not args:
        return args
    arc = "arc" in " ".join(args)
    if args[0] == "demo" or (args[0] == "train" and "--resume" not in args):
        args = [*args, *TINY_TRAIN, *(TINY_TRAIN_ARC if arc else [])]
    if args[:2] == ["data", "build"]:
        preset = args[2]
        if preset in GENERATED:
            for k, v in TINY_DATA.items():
                args = _set_opt(args, f"--{k}", str(v))
        elif preset in TINY_DATA_OF:
            for k, v in TINY_DATA_OF[preset].items():
                args = _set_opt(args, f"--{k}", str(v))
        elif preset.startswith("arc"):
            args = _set_opt(_set_opt(args, "--source", "arc-source"), "--augmentations", "1")
    if args[0] == "demo" and (_opt(args, "--source") or "").startswith("../shared"):
        args = _set_opt(args, "--source", "arc-source")
    if args[0] == "demo" and "--overwrite" not in args and Path(_opt(args, "--out") or "runs/demo").exists():
        # the directory starts with the seed run in runs/demo; a fresh clone has none
        args = [*args, "--overwrite"]
    return args


def _run_trm(args: list[str], mp: pytest.MonkeyPatch) -> None:
    from trm.cli import main

    if args and args[0] == "serve":
        import uvicorn

        mp.setattr(uvicorn, "run", lambda app, **kw: _STATE.__setitem__("app", app))
    if args and args[0] == "mcp":
        pytest.importorskip("mcp", reason="the mcp SDK is not installed")
        from trm.deploy import mcp_server

        def build_only(model_path, transport="stdio", host="127.0.0.1", port=8000, device="cpu", **kw):
            assert mcp_server.create_server(model_path, device=device, threads=kw.get("threads"))

        mp.setattr(mcp_server, "serve", build_only)
    if args[:1] == ["export"] and _opt(args, "--format") == "web" and "--runtime-dir" not in args:
        from trm.deploy.web_export import cached_tarball

        if not cached_tarball().is_file():
            pytest.skip("no cached onnxruntime-web tarball (.ci/run fetches it)")
    code = main(_tiny_trm(args))
    # `trm solve` exits 1 when the verifier rejects the answer: expected of the tiny untrained run, not of the
    # shipped model
    rejected = code == 1 and args[0] == "solve" and args[1] != "sudoku6"
    assert code == 0 or rejected, f"exit code {code}"


def _run_python(argv: list[str], mp: pytest.MonkeyPatch, cwd: Path) -> None:
    if argv[:2] == ["-m", "trm"]:
        return _run_trm(argv[2:], mp)
    if argv[:2] == ["-m", "http.server"]:  # a static server: check what it would serve
        folder = Path(_opt(argv, "-d") or ".")
        assert (cwd / folder / "index.html").is_file(), f"{folder}/index.html does not exist"
        return None
    if argv[:1] == ["-m"]:
        mp.setattr(sys, "argv", [argv[1], *argv[2:]])
        return _exit_ok(lambda: runpy.run_module(argv[1], run_name="__main__", alter_sys=True))
    script = argv[0]
    if script.startswith("benchmarks/"):
        args = argv[1:]
        if script == "benchmarks/speedrun.py" and "--compare" not in args:
            args = [*args, *TINY_TRAIN]  # positional overrides: the last given wins
        mp.setattr(sys, "argv", [script, *args])
        return _exit_ok(lambda: runpy.run_path(str(REPO / script), run_name="__main__"))
    r = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=120)
    rejected = r.returncode == 1 and '"valid": false' in r.stdout  # the tiny run's answer, as for `trm solve`
    assert r.returncode == 0 or rejected, f"exit code {r.returncode}: {r.stderr[-2000:]}"
    return None


def _exit_ok(fn) -> None:
    try:
        fn()
    except SystemExit as e:
        assert e.code in (0, None), f"exit code {e.code}"


def _curl(argv: list[str]) -> None:
    """curl against the app of the last `trm serve` (FastAPI's test client: no socket)."""
    from fastapi.testclient import TestClient

    app = _STATE.get("app")
    assert app is not None, "curl needs a `trm serve` command earlier in the same file"
    url = next(a for a in argv[1:] if "localhost" in a or "127.0.0.1" in a)
    path = "/" + url.split("://")[-1].split("/", 1)[1] if "/" in url.split("://")[-1] else "/"
    data = _opt(argv, "-d")
    headers = {}
    for i, a in enumerate(argv):
        if a == "-H":
            k, v = argv[i + 1].split(":", 1)
            headers[k.strip()] = v.strip()
    with TestClient(app) as client:
        r = client.post(path, content=data, headers=headers) if data else client.get(path, headers=headers)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"


def _run_command(argv: list[str], mp: pytest.MonkeyPatch, cwd: Path) -> None:
    while argv and "=" in argv[0] and not argv[0].startswith("-") and argv[0].split("=")[0].isupper():
        k, v = argv.pop(0).split("=", 1)  # VAR=value prefix: the command's environment
        mp.setenv(k, v)
    prog, rest = argv[0], argv[1:]
    if prog == "trm":
        return _run_trm(rest, mp)
    if prog in ("python", "python3"):
        return _run_python(rest, mp, cwd)
    if prog == "curl":
        return _curl(argv)
    raise AssertionError(f"no way to run {prog!r} here: mark the block `<!-- doctest: skip REASON -->`")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_docs_block(block: Block, seed_dir, tmp_path_factory, monkeypatch, capsys, request):
    if block.skip:
        pytest.skip(block.skip)
    import torch

    threads = torch.get_num_threads()  # benchmark scripts run in-process set it (--threads): restore it after
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    cwd = _workdir(block, seed_dir, tmp_path_factory)
    monkeypatch.chdir(cwd)
    _tiny_tasks(monkeypatch)
    src = block.source()
    if block.lang in ("python", "py"):
        code = compile(src, block.where, "exec")
        try:
            exec(code, {"__name__": "__main__"})
        except Exception as e:
            pytest.fail(f"{block.where}: the Python block raised {type(e).__name__}: {e}")
        return
    for argv in shell_commands(src, block.where):
        try:
            with monkeypatch.context() as mp:
                _run_command(list(argv), mp, cwd)
        except pytest.skip.Exception:
            raise
        except BaseException as e:  # noqa: BLE001 - name the block and the command, whatever failed
            out = capsys.readouterr()
            tail = (out.out + out.err)[-1500:]
            pytest.fail(f"{block.where}: `{' '.join(argv)}` failed: {type(e).__name__}: {e}\n{tail}")


def test_every_runnable_block_is_run_or_says_why_not():
    """A block is run, or skipped with a reason; the summary docs/TESTING.md quotes."""
    assert BLOCKS, "no fenced commands found"
    for b in BLOCKS:
        assert b.skip is None or b.skip.strip(), b.where
        b.source()  # every replace directive matches its block
        if b.lang not in ("python", "py") and not b.skip:
            assert shell_commands(b.source(), b.where)


INLINE = re.compile(r"`(trm [^`]+)`")
SYNOPSIS = ("[", "]", "...", "…", "|", "<", ">", "{")


def inline_commands() -> list[tuple[str, str]]:
    """`trm ...` in running text (not fenced) of README, CONTRIBUTING and docs/; diaries, synopses (`[--flag]`,
    `trm COMMAND`) and EXTENDING's commands for what it builds aside."""
    found = []
    for path in docs_files():
        if "notes" in path.parts or path.name == "EXTENDING.md":  # EXTENDING's commands use what it builds
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for m in INLINE.finditer(line):
                words = m.group(1).split()
                if not any(c in m.group(1) for c in SYNOPSIS) and not words[1].isupper():
                    found.append((f"{path.relative_to(REPO)}:{i}", m.group(1)))
    return found


def test_inline_commands_use_real_options():
    """Commands quoted in running text are not run, but their subcommands and options must exist (a removed flag
    such as `trm eval --sweep` fails here); missing positionals are allowed (`trm solve DIR --backend onnx`)."""
    from trm.cli import build_parser

    parser = build_parser()
    bad = []
    for where, text in inline_commands():
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(shlex.split(text)[1:])
        except SystemExit:
            msg = err.getvalue().strip().splitlines()[-1:] or [""]
            if "unrecognized arguments" in msg[0] or "invalid choice" in msg[0]:
                bad.append(f"{where}: `{text}`: {msg[0]}")
    assert not bad, "\n".join(bad)


def count() -> dict:
    """Blocks and commands, run and marked skip (python -m tests.test_docs prints it)."""
    run = [b for b in BLOCKS if not b.skip]
    skipped = [b for b in BLOCKS if b.skip]
    cmds = sum(1 if b.lang in ("python", "py") else len(shell_commands(b.source(), b.where)) for b in run)
    reasons: dict[str, int] = {}
    for b in skipped:
        reasons[b.skip] = reasons.get(b.skip, 0) + 1
    return {"run_blocks": len(run), "run_commands": cmds, "skipped_blocks": len(skipped), "reasons": reasons}


if __name__ == "__main__":
    print(json.dumps(count(), indent=1))
