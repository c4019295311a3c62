"""Fuzz of the authenticated service: with an API key set, hypothesis sends any method, path, query string, key
header and body (schema-driven values for every property of POST /v1/solve, and arbitrary JSON): never a 5xx,
and nothing but /healthz is answered without the valid key (docs/RELIABILITY.md, "Access control")."""

import json

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient (pip install httpx)")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trm.checkpoint import save_model  # noqa: E402
from trm.deploy.access import Access  # noqa: E402
from trm.deploy.server import create_app  # noqa: E402

from .fuzz_profile import fuzz  # noqa: E402
from .test_deploy_pretrained import make_sudoku_model  # noqa: E402

KEY = "fuzz-key-0123456789abcdef"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-auth")
    model, cfg = make_sudoku_model()
    save_model(root / "m", model, cfg)
    with TestClient(create_app(root / "m", access=Access(api_keys=(KEY,), rate=0.0))) as c:
        props = c.get("/openapi.json", headers={"X-API-Key": KEY}).json()["components"]["schemas"]
        puzzle = c.get("/v1/example", headers={"X-API-Key": KEY}).json()["puzzle"]
        yield c, props["SolveRequest"]["properties"], puzzle


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["official", "adaptive", "majority", "halt-first", "sudoku", "arc", "", "\u00e9"])
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                      max_leaves=6)  # fmt: skip
AUTH = st.sampled_from(["none", "bearer", "x-api-key", "wrong-bearer", "wrong-x", "basic", "empty"])
PATHS = ["/v1/solve", "/v1/model", "/v1/tool", "/v1/example", "/openapi.json", "/docs", "/", "/healthz",
         "/static/index.html", "/nope", "/v1/solve/../model", "/%2e%2e/healthz", "/healthz/../v1/model"]  # fmt: skip


def _headers(auth: str) -> dict:
    return {
        "none": {},
        "bearer": {"Authorization": f"Bearer {KEY}"},
        "x-api-key": {"X-API-Key": KEY},
        "wrong-bearer": {"Authorization": f"Bearer {KEY[:-1]}"},
        "wrong-x": {"X-API-Key": KEY + " "},
        "basic": {"Authorization": f"Basic {KEY}"},
        "empty": {"Authorization": ""},
    }[auth]


def _check(r, auth: str, path: str):
    assert r.status_code < 500, (path, auth, r.status_code, r.text)
    if auth not in ("bearer", "x-api-key") and path != "/healthz":
        assert r.status_code == 401, (path, auth, r.status_code, r.text)
        assert r.request.method == "HEAD" or r.json()["detail"]


@fuzz(80)
@given(data=st.data(), auth=AUTH)
def test_solve_with_schema_values(served, data, auth):
    c, props, puzzle = served
    names = data.draw(st.lists(st.sampled_from(sorted(props)), max_size=4, unique=True))
    body = {"puzzle": puzzle, "max_steps": 1}
    for name in names:
        body[name] = data.draw(values)
    r = c.post(
        "/v1/solve", content=json.dumps(body), headers={"content-type": "application/json", **_headers(auth)}
    )
    _check(r, auth, "/v1/solve")


@fuzz(80)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"]),
    path=st.sampled_from(PATHS),
    query=st.dictionaries(st.sampled_from(["seed", "x", "task"]), st.text(max_size=12), max_size=2),
    body=values,
    auth=AUTH,
)
def test_any_request(served, method, path, query, body, auth):
    c, _, _ = served
    headers = {"content-type": "application/json", **_headers(auth)}
    r = c.request(method, path, params=query, content=json.dumps(body), headers=headers)
    _check(r, auth, path)


MCP_BODIES = [
    "",
    "null",
    "[]",
    "{}",
    '{"jsonrpc": "2.0"}',
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "solve_sudoku", "arguments": {}}}',
    "[" * 5000,
    '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ' + "[" * 3000 + "]" * 3000 + "}",
]


def test_mcp_endpoint_with_a_key_never_answers_5xx(served, tmp_path):
    pytest.importorskip("mcp", reason="the MCP SDK is not installed")
    from trm.deploy.mcp_server import create_server, http_app

    model, cfg = make_sudoku_model()
    save_model(tmp_path / "m", model, cfg)
    app = http_app(create_server(tmp_path / "m"), Access(api_keys=(KEY,), rate=0.0))
    accept = {"Accept": "application/json, text/event-stream", "content-type": "application/json"}
    with TestClient(app, base_url="http://127.0.0.1:8001") as c:
        for body in MCP_BODIES:
            for method in ("POST", "GET", "DELETE", "PUT"):
                for auth in ("x-api-key", "none", "wrong-bearer"):
                    r = c.request(method, "/mcp", content=body, headers={**accept, **_headers(auth)})
                    _check(r, auth, "/mcp")
