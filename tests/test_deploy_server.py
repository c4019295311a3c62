"""The HTTP service: endpoints, bounds and errors, batching across clients, timeouts that stall no one."""

import asyncio
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient (pip install httpx)")

from fastapi.testclient import TestClient  # noqa: E402

from trm.checkpoint import save_model  # noqa: E402
from trm.deploy.backends import load_for_serving  # noqa: E402
from trm.deploy.server import Limits, create_app  # noqa: E402
from trm.infer.settings import Settings  # noqa: E402

from .test_deploy_pretrained import make_sudoku_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    model, cfg = make_sudoku_model()
    save_model(root / "m", model, cfg)
    return root / "m"


@pytest.fixture(scope="module")
def client(model_dir):
    with TestClient(create_app(model_dir)) as c:
        yield c


def _puzzle(client, seed=0):
    r = client.get(f"/v1/example?seed={seed}")
    assert r.status_code == 200
    return r.json()["puzzle"]


def test_endpoints(client):
    assert client.get("/healthz").json()["status"] == "ok"
    info = client.get("/v1/model").json()
    assert info["preset"] == "sudoku6_mlp" and info["task"] == "sudoku"
    assert info["parameters"]["dense"] > 100_000 and info["grid"]["box"] == [2, 3]
    assert info["threshold"] == Settings().threshold  # where the page's threshold box starts
    tool = client.get("/v1/tool").json()
    assert tool["name"] == "solve_sudoku" and tool["parameters"]["required"] == ["puzzle"]
    assert {"puzzle", "mode", "max_steps", "threshold", "samples", "trace"} <= set(
        tool["parameters"]["properties"]
    )
    schema = client.get("/openapi.json").json()
    assert "/v1/solve" in schema["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "Solve" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_solve_matches_trm_solve(client, model_dir):
    from trm.infer import load_solver

    solver = load_solver(model_dir)
    for seed, body in enumerate(
        [
            {},  # the default: the verified-solving ladder within the default budget
            # the protocol once (budget 0): each option's own path, without the ladder's minutes per puzzle
            {"mode": "adaptive", "threshold": 0.6, "budget": 0},
            {"max_steps": 3, "trace": True, "budget": 0},
            {"samples": 3, "noise": 0.3, "budget": 0},
        ]
    ):
        puzzle = _puzzle(client, seed)
        r = client.post("/v1/solve", json={"task": "sudoku", "puzzle": puzzle, **body})
        assert r.status_code == 200, r.text
        got = r.json()
        ref = solver.solve(puzzle, **body).to_json(trace=body.get("trace", False))
        assert set(got) == set(ref)
        assert (
            got["answer"] == ref["answer"] and got["steps"] == ref["steps"] and got["valid"] == ref["valid"]
        )
        assert abs(got["confidence"] - ref["confidence"]) < 1e-4
        if body.get("trace"):
            assert [t["answer"] for t in got["trace"]] == [t["answer"] for t in ref["trace"]]


def test_solve_takes_a_drawn_grid(client):
    """A Sudoku drawn as puzzle sites print it goes through the same parser as a one-line puzzle."""
    puzzle = _puzzle(client, 0)
    rows = [
        " ".join(puzzle[r * 6 + c] for c in range(3)) + " | " + " ".join(puzzle[r * 6 + 3 : r * 6 + 6])
        for r in range(6)
    ]
    drawn = "\n".join(rows[:2] + ["------+------"] + rows[2:4] + ["------+------"] + rows[4:])
    one = client.post("/v1/solve", json={"puzzle": puzzle, "budget": 0}).json()  # the parser is under test
    r = client.post("/v1/solve", json={"puzzle": drawn, "budget": 0})
    assert r.status_code == 200, r.text
    got = r.json()
    key = "answer" if one["verified"] else "candidate"  # a tiny model's answer may not verify
    assert got[key].split("\n") == [one[key][i : i + 6] for i in range(0, 36, 6)]  # a row a line
    assert (got["steps"], got["valid"], got["verified"]) == (one["steps"], one["valid"], one["verified"])


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"task": "maze", "puzzle": "#S G#"}, 400, "not maze"),
        ({"puzzle": "123"}, 400, "36 cells"),
        ({"puzzle": "11" + "." * 34}, 400, "twice"),
        ({"puzzle": "." * 36, "max_steps": 10_000}, 400, "limit"),
        ({"puzzle": "." * 36, "samples": 100}, 400, "limit"),
        ({"puzzle": "." * 36, "samples": 2, "noise": 0}, 400, "noise"),
        ({"puzzle": "." * 36, "mode": "fast"}, 422, ""),
        ({"puzzle": "." * 36, "threshold": 2}, 422, ""),
        ({"puzzle": "." * 36, "unknown": 1}, 422, ""),
        ({"puzzle": "." * 36, "samples": True}, 422, ""),
        ({"puzzle": "." * 36, "max_steps": 2.0}, 422, ""),
        ({"puzzle": "." * 36, "augment": 9}, 400, "limit"),
        ({"nothing": 1}, 422, ""),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, body, status, words):
    r = client.post("/v1/solve", json=body)
    assert r.status_code == status, r.text
    assert words in str(r.json()["detail"])


def test_request_size_is_bounded(client):
    r = client.post(
        "/v1/solve",
        content=b'{"puzzle": "' + b"." * 100_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    r = client.post("/v1/solve", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_requests_are_batched_across_clients(model_dir):
    app = create_app(model_dir)
    with TestClient(app) as c:
        puzzles = [_puzzle(c, s) for s in range(16)]
        before = app.state.batcher.stats["forward_passes"]
        out = [None] * 16

        def call(i):
            out[i] = c.post("/v1/solve", json={"puzzle": puzzles[i], "budget": 0})

        threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.status_code == 200 for r in out)
        passes = app.state.batcher.stats["forward_passes"] - before
        assert passes < 16 * 8, f"{passes} forward passes for 16 puzzles x 8 steps: no batching"


class SlowBackend:
    """Wraps a backend so every forward pass takes at least ``delay`` seconds."""

    def __init__(self, inner, delay):
        self.inner, self.delay = inner, delay
        self.total_len, self.hidden_size, self.ops = inner.total_len, inner.hidden_size, inner.ops

    def init_state(self):
        return self.inner.init_state()

    def puzzle_rows(self, pids):
        return self.inner.puzzle_rows(pids)

    def step(self, *a):
        time.sleep(self.delay)
        return self.inner.step(*a)


def test_slow_request_times_out_without_stalling_others(model_dir):
    loaded = load_for_serving(model_dir)
    loaded.solver.backend = SlowBackend(loaded.solver.backend, 0.03)
    app = create_app(loaded=loaded, limits=Limits(max_steps=64, timeout_s=5.0))
    puzzle = "." * 36
    with TestClient(app) as c:
        res = {}

        def slow():
            t = time.monotonic()
            res["slow"] = (
                c.post("/v1/solve", json={"puzzle": puzzle, "max_steps": 64, "timeout": 0.6, "budget": 0}),
                time.monotonic() - t,
            )

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.1)  # the slow one is in the batch
        t = time.monotonic()
        fast = c.post("/v1/solve", json={"puzzle": puzzle, "max_steps": 2, "budget": 0})
        fast_s = time.monotonic() - t
        th.join()
        assert fast.status_code == 200 and fast.json()["steps"] == 2
        assert fast_s < 0.5, f"a 2-step request took {fast_s:.2f} s next to a 64-step one"
        slow_r, slow_s = res["slow"]
        assert slow_r.status_code == 504 and "0.6" in slow_r.json()["detail"]
        assert slow_s < 1.5
        health = c.get("/healthz").json()
        assert health["timed_out"] == 1 and health["in_progress"] == 0


def test_busy_server_answers_503(model_dir):
    loaded = load_for_serving(model_dir)
    loaded.solver.backend = SlowBackend(loaded.solver.backend, 0.05)
    app = create_app(loaded=loaded, limits=Limits(max_jobs=2, timeout_s=5.0))
    with TestClient(app) as c:
        codes = []

        def call():
            codes.append(c.post("/v1/solve", json={"puzzle": "." * 36, "budget": 0}).status_code)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 503 in codes and 200 in codes


def test_a_runs_protocol_above_the_limits_is_served_at_the_limits(model_dir):
    """``trm serve --max-augment`` etc. cap a run's declared default too (the maze presets vote over 8 copies), not
    only the values a request names."""
    loaded = load_for_serving(model_dir)
    loaded.solver.defaults = loaded.solver.defaults.replace(augment=8, samples=4, max_steps=16)
    app = create_app(loaded=loaded, limits=Limits(max_augment=2, max_samples=2, max_steps=3))
    with TestClient(app) as c:
        protocol = c.get("/v1/model").json()["protocol"]
        assert (protocol["augment"], protocol["samples"], protocol["max_steps"]) == (2, 2, 3)
        r = c.post("/v1/solve", json={"puzzle": _puzzle(c), "budget": 0})
        assert r.status_code == 200 and r.json()["calls"] <= 2 * 2 * 3
        r = c.post("/v1/solve", json={"puzzle": _puzzle(c)})  # every rung of the ladder within the limits too
        assert r.status_code == 200 and r.json()["calls"] <= 2 * 2 * 3 * len(r.json()["rungs"])
        r = c.post("/v1/solve", json={"puzzle": _puzzle(c), "augment": 4})
        assert r.status_code == 400 and "limit of 2" in r.text


def test_serves_an_onnx_export(model_dir, tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from trm.deploy.onnx_export import export_onnx

    export_onnx(model_dir, tmp_path / "e")
    with TestClient(create_app(tmp_path / "e")) as onnx_c, TestClient(create_app(model_dir)) as torch_c:
        assert onnx_c.get("/v1/model").json()["backend"] == "onnx"
        puzzle = _puzzle(torch_c, 5)
        a = onnx_c.post("/v1/solve", json={"puzzle": puzzle, "mode": "adaptive", "budget": 64}).json()
        b = torch_c.post("/v1/solve", json={"puzzle": puzzle, "mode": "adaptive", "budget": 64}).json()
        assert a["answer"] == b["answer"] and a["steps"] == b["steps"]
        assert np.isclose(a["confidence"], b["confidence"], atol=1e-4)


def test_engine_survives_cancelled_event_loop(model_dir):
    """A request whose client goes away is dropped from the batch at the next step."""
    loaded = load_for_serving(model_dir)
    loaded.solver.backend = SlowBackend(loaded.solver.backend, 0.02)
    app = create_app(loaded=loaded)
    with TestClient(app) as c:
        batcher = app.state.batcher

        async def go():
            request = loaded.solver.request("." * 36, Settings(max_steps=64))
            task = asyncio.ensure_future(batcher.submit(request, 5.0))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(go())
        deadline = time.monotonic() + 2
        while batcher.in_system and time.monotonic() < deadline:
            time.sleep(0.02)
        assert batcher.in_system == 0
        assert c.post("/v1/solve", json={"puzzle": "." * 36, "max_steps": 1}).status_code == 200


def test_examples_are_made_like_the_training_puzzles():
    """GET /v1/example (and the web page's examples) follow the training dataset's ``trm_task.json``, which
    training keeps in the checkpoint's meta: perfect mazes for a model trained on perfect mazes, the Sudoku
    blank range it was trained on; without it, the generic generators."""
    from trm.deploy.server import example_puzzle
    from trm.tasks import TaskInfo, maze

    def perfect(text):  # the pillars (even, even) and the outer ring are wall, the cells (odd, odd) open
        g = maze.parse_maze(text)
        return bool((g[::2, ::2] == 0).all() and (g[1::2, 1::2] != 0).all())

    info = TaskInfo("maze", 11)
    made = [example_puzzle(info, s, {"task": "maze", "size": 11, "perfect": True}) for s in range(4)]
    assert all(perfect(t) for t in made)
    assert not all(perfect(example_puzzle(info, s)) for s in range(4))
    assert not all(perfect(example_puzzle(info, s, {"task": "sudoku", "perfect": True})) for s in range(4))

    info = TaskInfo("sudoku", 6, (2, 3))
    blanks = lambda t: sum(ch in ".0" for ch in "".join(t.split()))  # noqa: E731
    assert {blanks(example_puzzle(info, s, {"task": "sudoku", "blanks": [5, 5]})) for s in range(3)} == {5}
    assert all(blanks(example_puzzle(info, s)) >= 18 for s in range(3))
