"""The static web export (``trm export --format web``): where the runtime comes from, and in headless Chromium
the page solving puzzles with requests to static files only, its answers, parse errors and verdicts equal to
the onnxruntime Python runner's (``trm solve`` on an export folder) token for token.

The browser tests need the pinned onnxruntime-web tarball and never download it: ``$TRM_ORT_WEB`` names it (or
an unpacked package), else the export's own cache (``~/.cache/trm`` or ``$TRM_CACHE_DIR``) is read; without it
they skip, saying so. ``.ci/run`` fetches it into that cache."""

import functools
import http.server
import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

from trm.checkpoint import save_model  # noqa: E402
from trm.cli import main  # noqa: E402
from trm.config import Config, ModelConfig  # noqa: E402
from trm.data import maze_generate, sudoku_generate  # noqa: E402
from trm.deploy import web_export  # noqa: E402
from trm.deploy.onnx_runner import OnnxSolver  # noqa: E402
from trm.infer.settings import DEFAULT_HALT_THRESHOLD, LADDER  # noqa: E402
from trm.model import TRM  # noqa: E402
from trm.tasks import PuzzleError, maze, sudoku  # noqa: E402
from trm.utils import TRMError  # noqa: E402

from .test_deploy_browser import ARGS, chromium, serving  # noqa: E402, F401 - the fixture
from .test_deploy_pretrained import contract, make_sudoku_model  # noqa: E402


def make_maze_model():
    """An 8x8 maze TRM-MLP with a puzzle-embedding prefix (row 0 fed by the page), contractive like the Sudoku one."""
    torch.manual_seed(1)
    model = ModelConfig(
        mixer="mlp_t", pos_encodings="none", vocab_size=maze.VOCAB_SIZE, seq_len=64, hidden_size=32,
        num_layers=1, T=2, n=2, N_sup=5, puzzle_emb_ndim=32, puzzle_emb_len=1, expansion=2.0,
    )  # fmt: skip
    cfg = Config(name="maze8_tiny", task="maze", model=model)
    model = TRM(cfg.model).eval()
    with torch.no_grad():
        model.puzzle_emb.weight.normal_(0, 1)  # drawn before the halting head, as the contraction draws it
    return contract(model), cfg


MODELS = {"sudoku": make_sudoku_model, "maze": make_maze_model}


@pytest.fixture
def fake_runtime(tmp_path) -> Path:
    """An unpacked package with stand-ins for every runtime file (plus one the page never loads)."""
    dist = tmp_path / "onnxruntime-web" / "dist"
    dist.mkdir(parents=True)
    for name in [n for files in web_export.RUNTIMES.values() for n in files] + ["ort.all.min.js"]:
        (dist / name).write_text(f"// {name}\n")
    (dist.parent / "package.json").write_text('{"name": "onnxruntime-web", "license": "MIT"}')
    return dist.parent


def test_export_needs_neither_node_nor_network(tmp_path, fake_runtime, monkeypatch, capsys):
    model, cfg = make_sudoku_model()
    save_model(tmp_path / "m", model, cfg)

    def no_network(*a, **k):
        raise AssertionError("the export went to the network although --runtime-dir was given")

    monkeypatch.setattr(web_export.urllib.request, "urlopen", no_network)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no node, no npm
    out = tmp_path / "web"
    argv = ["export", str(tmp_path / "m"), "--format", "web", "--out", str(out), "--runtime-dir"]
    assert main([*argv, str(fake_runtime), "--wasm-only"]) == 0
    assert "http.server" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "ort").iterdir()) == sorted(
        [*web_export.RUNTIMES["wasm"], "package.json"]
    )
    web = json.loads((out / "web.json").read_text())
    assert web["runtime"]["bundles"] == {"wasm": "ort/ort.wasm.min.js"}
    assert web["settings"]["threshold"]["default"] == DEFAULT_HALT_THRESHOLD
    assert web["task"]["units"] == [[name, idx.tolist()] for name, idx in sudoku.units((2, 3))]
    assert 'data-backend="browser"' in (out / "index.html").read_text()
    assert (
        OnnxSolver(out).solve(web["examples"][0], budget=0).steps == cfg.model.N_sup
    )  # also an ONNX export folder
    assert [r["name"] for r in web["ladder"]] == [r.name for r in LADDER] and "budget" in web["settings"]

    (fake_runtime / "dist" / "ort.webgpu.min.js").unlink()  # the WebGPU runtime is asked for by default
    with pytest.raises(TRMError, match="no ort.webgpu.min.js"):
        web_export.copy_runtime(tmp_path / "again", fake_runtime)


def test_runtime_download_is_verified_and_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TRM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(web_export.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not it"))
    with pytest.raises(TRMError, match="integrity hash"):
        web_export.fetch_runtime()
    assert not list((tmp_path / "cache").iterdir())  # nothing half-written is left in the cache

    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(web_export.urllib.request, "urlopen", offline)
    with pytest.raises(TRMError, match="--runtime-dir"):
        web_export.fetch_runtime()
    bad = tmp_path / web_export.tarball_name()
    bad.write_bytes(b"\x1f\x8b not the tarball")
    with pytest.raises(TRMError, match="integrity hash"):
        web_export.copy_runtime(tmp_path / "out", bad)
    with pytest.raises(TRMError, match="no such file"):
        web_export.copy_runtime(tmp_path / "out", tmp_path / "missing")


def test_models_without_a_browser_task_are_refused(tmp_path, fake_runtime):
    model, cfg = make_sudoku_model()
    cfg.task = "custom"
    save_model(tmp_path / "m", model, cfg)
    with pytest.raises(TRMError, match="Sudoku and maze"):
        web_export.export_web(tmp_path / "m", tmp_path / "web", runtime_dir=fake_runtime)
    assert not (tmp_path / "web").exists()  # refused before anything was written


# ------------------------------------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def runtime() -> Path:
    """The pinned onnxruntime-web tarball (or unpacked package) for web exports; never downloaded here."""
    path = Path(os.environ.get("TRM_ORT_WEB") or web_export.cached_tarball())
    if not path.exists():
        pytest.skip(
            f"no onnxruntime-web runtime at {path} (set TRM_ORT_WEB to the {web_export.tarball_name()} tarball "
            "or an unpacked package; .ci/run fetches it)"
        )
    return path


@pytest.fixture(scope="module")
def exports(runtime, tmp_path_factory) -> dict[str, Path]:
    """A web export (WASM only) of each model, made once."""
    root = tmp_path_factory.mktemp("web")
    for kind, make in MODELS.items():
        model, cfg = make()
        save_model(root / kind / "m", model, cfg)
        web_export.export_web(root / kind / "m", root / kind / "web", runtime_dir=runtime, webgpu=False)
    return {kind: root / kind / "web" for kind in MODELS}


@pytest.fixture(params=sorted(MODELS))
def export(request, exports):
    return request.param, exports[request.param]


@pytest.fixture
def static_host(export):
    """``python -m http.server`` on the export folder: its URL and the paths it was asked for."""
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            asked.append(f"{self.command} {self.path}")

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(export[1]))
    )
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", asked
    srv.shutdown()
    th.join(timeout=10)


def _puzzles(kind: str, count: int, seed: int = 11) -> list[str]:  # not the export's examples
    if kind == "sudoku":
        grids, _ = sudoku_generate.generate(count, (2, 3), blanks=(14, 22), seed=seed)
        return [sudoku.format_sudoku(g) for g in grids]
    mazes, _ = maze_generate.generate(count, n=8, min_path=4, seed=seed)
    return [maze.format_maze(m) for m in mazes]


def _answers(kind: str, puzzle: str, solver: OnnxSolver) -> list[list[int]]:
    """Answers for the verifier to judge: the solution, and broken ones (a changed cell, a blank, the input)."""
    parsed = solver.task.parse(puzzle)
    if kind == "sudoku":
        sol = sudoku.encode(sudoku.solve(parsed.layout["givens"], (2, 3))[1])
    else:
        sol = maze.encode(maze.solve(maze.decode(parsed.tokens)))
    rows = [sol, parsed.tokens]
    for i in (0, 7, 20, 35):
        for v in (1, 3, 5):
            r = sol.copy()
            r[i] = v
            rows.append(r)
    return [np.asarray(r).tolist() for r in rows]


BAD = {
    "sudoku": ["1" * 36, "12", "x" + "." * 35, "11" + "." * 34, "12345......6" + "." * 24],
    "maze": ["S#\n#G", "SSG", "S ?G", "#" * 9 + "\nSG", "S#G", "   \n   ", "#" * 9 + "  \nS G  \n\n"],
}


def test_static_page_solves_like_the_python_runner(chromium, export, static_host):  # noqa: F811
    from playwright.sync_api import sync_playwright

    kind, folder = export
    url, asked = static_host
    ref = OnnxSolver(folder)
    ref.caps = {"augment": 1, "samples": 1}  # the browser's ladder: one copy, one trajectory
    puzzles = _puzzles(kind, 3)
    settings = [
        {},
        {"mode": "adaptive", "threshold": 0.5},
        {"max_steps": 3},
        {"max_steps": 11},
        {"budget": 0},
    ]
    settings += [{"budget": 2 * ref.n_sup}, {"mode": "adaptive", "threshold": 0.5, "budget": 3 * ref.n_sup}]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            seen: list[tuple[str, str, int]] = []
            page.on("response", lambda r: seen.append((r.request.method, r.url, r.status)))
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]", timeout=30_000)
            assert "onnxruntime-web, wasm" in page.text_content("#model-line")
            page.fill("#puzzle", puzzles[0])
            page.fill("#budget", "0")  # the protocol alone: N_sup steps
            page.select_option("#mode", "official")
            page.click("#solve")
            page.wait_for_selector("body[data-state=done]", timeout=30_000)
            assert page.text_content("#status").startswith(f"done: {ref.n_sup} step(s)")
            solve = "async ([p, o]) => (await window.trmWebSolver()).solve(p, o)"
            for puzzle in puzzles:
                for st in settings:
                    got = page.evaluate(solve, [puzzle, {**st, "trace": True}])
                    want = ref.solve(puzzle, trace=True, **st)
                    assert got.pop("tokens") == want.tokens, (puzzle, st)
                    want = want.to_json()
                    assert abs(got.pop("confidence") - want.pop("confidence")) <= 1e-4
                    for g, w in zip(got["trace"], want["trace"], strict=True):
                        assert abs(g.pop("confidence") - w.pop("confidence")) <= 1e-4
                    assert got == want, (puzzle, st)
            judge = """([p, rows]) => window.trmWebSolver().then((s) => {
                const parsed = s.task.parse(p); return rows.map((r) => s.task.verify(parsed, r)); })"""
            for puzzle in puzzles[:2]:
                rows = _answers(kind, puzzle, ref)
                verdicts = page.evaluate(judge, [puzzle, rows])
                want = [list(ref.task.verify(ref.task.parse(puzzle), np.asarray(r))) for r in rows]
                assert verdicts == want and verdicts[0] == [True, []]
            refuse = "(p) => window.trmWebSolver().then((s) => s.solve(p)).then(() => null, (e) => e.message)"
            for bad in BAD[kind]:
                with pytest.raises(PuzzleError) as e:
                    ref.task.parse(bad)
                assert page.evaluate(refuse, bad) == str(e.value)
        finally:
            browser.close()
    assert seen and all(u.startswith(url) and s == 200 and m == "GET" for m, u, s in seen), seen
    assert not any("/v1/" in a for a in asked), asked  # no solve (or any other) endpoint was asked
    files = {a.split()[1].split("?")[0] for a in asked}
    assert {
        "/",
        "/web.json",
        "/step.onnx",
        "/ort/ort.wasm.min.js",
        "/ort/ort-wasm-simd-threaded.wasm",
    } <= files


def test_serve_page_also_solves_in_the_browser(chromium, exports):  # noqa: F811
    """`trm serve` of a web export: the page's "this browser" mode answers as the server does, without POST."""
    from playwright.sync_api import sync_playwright

    with serving(exports["sudoku"]) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            posts: list[str] = []
            page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
            page.goto(url + "/")
            page.wait_for_selector("body[data-state=ready]", timeout=15_000)
            page.fill("#puzzle", ".12...364.51625.1...16..2...34..3...")
            page.fill(
                "#budget", "0"
            )  # the server escalates through copies and trajectories, the browser cannot
            answers = {}
            for where in ("browser", "server"):
                page.select_option("#run-on", where)
                page.select_option("#mode", "adaptive")
                page.click("#solve")
                page.wait_for_selector("body[data-state=done]", timeout=30_000)
                answers[where] = (
                    page.text_content("#status"),
                    page.locator("#grid .cell").all_text_contents(),
                )
                assert posts == ([] if where == "browser" else [url + "/v1/solve"])
            assert answers["browser"] == answers["server"]
        finally:
            browser.close()
