"""Access control of the network services (``trm serve``, ``trm mcp --transport http``): API keys (401), the
timing-safe compare, a per-client rate limit (429 then recovery), CORS closed unless listed, the refusal to bind
a non-loopback host without a key, bounded options, and the two former 500s (docs/RELIABILITY.md)."""

import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient (pip install httpx)")

from fastapi.testclient import TestClient  # noqa: E402

from trm.checkpoint import save_model  # noqa: E402
from trm.cli import main  # noqa: E402
from trm.config import Config, ModelConfig  # noqa: E402
from trm.deploy import access as access_mod  # noqa: E402
from trm.deploy.access import Access, _Buckets, is_loopback, parse_rate  # noqa: E402
from trm.deploy.pretrained import save_pretrained  # noqa: E402
from trm.deploy.server import create_app, json_depth  # noqa: E402
from trm.model import TRM  # noqa: E402
from trm.utils import TRMError  # noqa: E402

from .test_deploy_pretrained import make_sudoku_model  # noqa: E402

KEY = "test-key-0123456789abcdef"
ORIGIN = "https://puzzles.example"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("access")
    model, cfg = make_sudoku_model()
    save_model(root / "m", model, cfg)
    return root / "m"


@pytest.fixture(scope="module")
def client(model_dir):
    access = Access(api_keys=(KEY,), cors_origins=(ORIGIN,), rate=0.0)
    with TestClient(create_app(model_dir, access=access)) as c:
        yield c


def _unauthorized(r):
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/json"
    assert "API key" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v1/model", "/v1/tool", "/v1/example", "/openapi.json", "/docs", "/"])
def test_missing_key_is_401_everywhere_but_healthz(client, path):
    _unauthorized(client.get(path))
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Bearer {KEY[:-1]}"},
        {"Authorization": KEY},  # not a bearer token
        {"Authorization": "Bearer "},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"X-API-Key": KEY.upper()},
    ],
)
def test_wrong_key_is_401(client, headers):
    _unauthorized(client.get("/v1/model", headers=headers))
    _unauthorized(client.post("/v1/solve", json={"puzzle": "1"}, headers=headers))


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"},
                                     {"X-API-Key": KEY}])  # fmt: skip
def test_key_is_accepted_in_both_headers(client, headers):
    assert client.get("/v1/model", headers=headers).status_code == 200
    puzzle = client.get("/v1/example", headers=headers).json()["puzzle"]
    r = client.post("/v1/solve", json={"puzzle": puzzle, "max_steps": 1}, headers=headers)
    assert r.status_code == 200, r.text


def test_the_key_is_compared_in_constant_time(client, monkeypatch):
    calls = []
    real = access_mod.hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access_mod.hmac, "compare_digest", recording)
    assert client.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/v1/model", headers={"X-API-Key": "nope"}).status_code == 401
    assert calls == [(KEY.encode(), KEY.encode()), (b"nope", KEY.encode())]


def test_every_configured_key_works(model_dir):
    other = "second-key-abcdefghijklmnop"
    with TestClient(create_app(model_dir, access=Access(api_keys=(KEY, other), rate=0))) as c:
        assert c.get("/v1/model", headers={"X-API-Key": other}).status_code == 200
        assert c.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200


def test_cors_preflight_allowed_for_a_listed_origin_only(client):
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    r = client.options("/v1/solve", headers={"Origin": ORIGIN, **ask})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"]
    r = client.options("/v1/solve", headers={"Origin": "https://evil.example", **ask})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = client.options("/v1/solve", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "x-evil"})  # fmt: skip
    assert r.status_code == 403
    # actual requests: the listed origin may read the answer (401s too), another gets no CORS header
    ok = client.get("/v1/model", headers={"Origin": ORIGIN, "X-API-Key": KEY})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    denied = client.get("/v1/model", headers={"Origin": ORIGIN})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == ORIGIN
    other = client.get("/v1/model", headers={"Origin": "https://evil.example", "X-API-Key": KEY})
    assert "access-control-allow-origin" not in other.headers


def test_cors_is_closed_by_default(model_dir):
    with TestClient(create_app(model_dir)) as c:
        r = c.options("/v1/solve", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.get("/v1/model", headers={"Origin": ORIGIN}).headers


def test_rate_limit_answers_429_then_recovers(model_dir):
    with TestClient(create_app(model_dir, access=Access(api_keys=(KEY,), rate=10.0, burst=3))) as c:
        h = {"X-API-Key": KEY}
        codes = [c.get("/v1/model", headers=h).status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429, 429], codes
        r = c.get("/v1/model", headers=h)
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and "detail" in r.json()
        time.sleep(0.25)  # 10/s: two tokens back
        assert c.get("/v1/model", headers=h).status_code == 200
        # requests with a wrong key spend their address's own bucket, and are limited too
        wrong = [c.get("/v1/model", headers={"X-API-Key": "x" * 20}).status_code for _ in range(5)]
        assert wrong[:3] == [401] * 3 and 429 in wrong[3:]


def test_buckets_are_per_client_and_bounded(monkeypatch):
    b = _Buckets(rate=1.0, burst=2)
    assert [b.take("a", 0.0), b.take("a", 0.0)] == [0.0, 0.0]
    assert b.take("a", 0.0) == pytest.approx(1.0)  # empty: one second until the next token
    assert b.take("b", 0.0) == 0.0  # another client has its own bucket
    assert b.take("a", 1.0) == 0.0  # refilled at the rate
    monkeypatch.setattr(access_mod, "MAX_TRACKED_CLIENTS", 3)
    for who in "cdef":
        b.take(who, 2.0)
    assert len(b.buckets) == 3


def test_former_500s_are_4xx(client, tmp_path):
    h = {"X-API-Key": KEY}
    for seed in ("-1", "2147483648", "x", "1.5", "99999999999999999999999"):
        r = client.get(f"/v1/example?seed={seed}", headers=h)
        assert r.status_code == 422, (seed, r.text)
    model = ModelConfig(vocab_size=12, seq_len=900, hidden_size=8, num_heads=2, T=1, n=1, N_sup=2,
                        puzzle_emb_ndim=0, puzzle_emb_len=0)  # fmt: skip
    cfg = Config(name="t", task="arc", model=model)
    save_pretrained(TRM(cfg.model).eval(), cfg, tmp_path / "arc")
    with TestClient(create_app(tmp_path / "arc")) as c:
        for text in ('{"test": ' + "[" * 20000 + "]" * 20000 + "}", '{"test": ' + "{" * 5000):
            r = c.post("/v1/solve", json={"puzzle": text})
            assert r.status_code == 400 and "nested" in r.json()["detail"], r.text
        ok = c.post("/v1/solve", json={"puzzle": '{"test": [{"input": [[1, 2], [3, 4]]}]}', "max_steps": 1})
        assert ok.status_code == 200, ok.text


def test_json_depth_ignores_strings():
    assert json_depth('{"a": [[1]]}') == 3
    assert json_depth('{"a": "[[[[{{{{", "b": "\\"[["}') == 1
    assert json_depth("[" * 100) == 100


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("10.0.0.1", False), ("example.org", False)],
)  # fmt: skip
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_bind_needs_a_key():
    with pytest.raises(TRMError, match="--insecure"):
        Access().check_bind("0.0.0.0")
    Access(api_keys=(KEY,)).check_bind("0.0.0.0")
    Access(insecure=True).check_bind("0.0.0.0")
    Access().check_bind("127.0.0.1")


def test_rate_parsing():
    assert parse_rate("20") == 20 and parse_rate("20/s") == 20 and parse_rate("600/min") == 10
    for bad in ("x", "-1", "nan", "inf", "1e999", "5/h", ""):
        with pytest.raises(TRMError):
            parse_rate(bad)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--host", "0.0.0.0"], "--insecure"),
        (["--host", "::"], "--insecure"),
        (["--port", "-1"], "--port"),
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),
        (["--max-rows", "0"], "--max-rows"),
        (["--max-rows", "-1"], "--max-rows"),
        (["--max-jobs", "0"], "--max-jobs"),
        (["--max-jobs", "-5"], "--max-jobs"),
        (["--max-body", "-1"], "--max-body"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["--max-steps", "100000"], "--max-steps"),
        (["--threads", "0"], "--threads"),
        (["--rate-limit", "-3"], "--rate-limit"),
        (["--rate-limit", "nan"], "--rate-limit"),
        (["--burst", "0"], "--burst"),
        (["--burst", "1.5"], "--burst"),
        (["--api-key", "short"], "API key"),
        (["--cors-origin", "*"], "--cors-origin"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "mcp"])
def test_bad_network_options_are_one_line_exit_2(capsys, monkeypatch, argv, words, command):
    monkeypatch.delenv("TRM_API_KEY", raising=False)
    if command == "mcp" and argv[0] in ("--max-rows", "--max-jobs", "--max-body", "--timeout", "--max-steps"):
        argv = ["--port", "65536"]  # trm mcp serves at the default limits
        words = "--port"
    if command == "mcp":
        argv = [*argv, "--transport", "http"]
    assert main([command, "no-such-model", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("trm: error:") and words in err, err


def test_key_from_the_environment(monkeypatch):
    import argparse

    p = argparse.ArgumentParser()
    access_mod.add_arguments(p)
    monkeypatch.setenv("TRM_API_KEY", KEY)
    a = access_mod.from_arguments(p.parse_args([]))
    assert a.api_keys == (KEY,) and a.rate == 50 and a.burst == 100 and a.cors_origins == ()
    a = access_mod.from_arguments(p.parse_args(["--api-key", "z" * 16, "--rate-limit", "0"]))
    assert a.api_keys == ("z" * 16,) and a.rate == 0


def test_mcp_over_http_needs_the_key(model_dir):
    pytest.importorskip("mcp", reason="the MCP SDK is not installed")
    from trm.deploy.mcp_server import create_server, http_app

    app = http_app(create_server(model_dir), Access(api_keys=(KEY,), rate=5.0, burst=2))
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}}  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream"}
    with TestClient(app, base_url="http://127.0.0.1:8001") as c:  # the SDK checks the Host header
        _unauthorized(c.post("/mcp", json=init, headers=accept))
        _unauthorized(c.post("/mcp", json=init, headers={**accept, "X-API-Key": "wrong-key-wrong-key"}))
        time.sleep(0.5)
        r = c.post("/mcp", json=init, headers={**accept, "Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        codes = [
            c.post("/mcp", json=init, headers={**accept, "X-API-Key": KEY}).status_code for _ in range(4)
        ]
        assert 429 in codes


def test_listen_flags_come_from_one_declaration(monkeypatch):
    import argparse
    import dataclasses

    from trm.cli.serve import add_network_arguments, check_network_arguments
    from trm.deploy.access import Listen

    p = argparse.ArgumentParser()
    add_network_arguments(p, "http: ")
    args = p.parse_args([])
    assert {f.name: getattr(args, f.name) for f in dataclasses.fields(Listen)} == dataclasses.asdict(Listen())
    helps = {a.dest: a.help for a in p._actions}
    assert helps["port"] == "http: port (default 8000; 1 to 65535)" and "1 to 4096" in helps["threads"]
    # the bounds checked are the declared ones: narrowing the declaration narrows the check
    port = next(f for f in dataclasses.fields(Listen) if f.name == "port")
    monkeypatch.setattr(port, "metadata", {**port.metadata, "max": 9000})
    monkeypatch.delenv("TRM_API_KEY", raising=False)
    with pytest.raises(TRMError, match=r"--port must be in \[1, 9000\], got 9001"):
        check_network_arguments(p.parse_args(["--port", "9001"]))
    assert Listen(threads=None).validate().threads is None
    for bad in (Listen(threads=True), Listen(port=80.5), Listen(host=" ")):
        with pytest.raises(TRMError, match="--threads|--port|--host"):
            bad.validate()
