"""The service never answers 5xx to a client's mistake: wrong types, out-of-range and huge numbers, bools where
integers are meant and text that is not valid Unicode (lone surrogates) are 4xx with a JSON body, and a
schema-driven loop over /openapi.json sends every property wrong values (docs/RELIABILITY.md)."""

import json

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient (pip install httpx)")

from fastapi.testclient import TestClient  # noqa: E402

from trm.checkpoint import save_model  # noqa: E402
from trm.deploy.server import create_app  # noqa: E402

from .test_deploy_pretrained import make_sudoku_model  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-rel")
    model, cfg = make_sudoku_model()
    save_model(root / "m", model, cfg)
    with TestClient(create_app(root / "m")) as c:
        yield c


@pytest.fixture(scope="module")
def puzzle(client):
    return client.get("/v1/example").json()["puzzle"]


def _post_raw(client, body: str):
    """POST a body given as JSON text, so that it may hold what json.dumps would not write (\\ud800)."""
    data = body.encode("utf-8")
    return client.post("/v1/solve", content=data, headers={"content-type": "application/json"})


def _client_error(r, *codes):
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.status_code in (codes or (400, 413, 422)), (r.status_code, r.text)
    body = r.json()  # always a JSON body
    assert "detail" in body
    return body


def _still_answers(client, puzzle):
    # budget 0: the protocol once (an untrained model's answer never verifies; the ladder is not under test here)
    r = client.post("/v1/solve", json={"puzzle": puzzle, "max_steps": 2, "budget": 0})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body",
    [
        r'{"puzzle": "\ud800"}',
        r'{"puzzle": "1\udcff2"}',
        r'{"\ud800": 1, "puzzle": "1"}',
        r'{"puzzle": ["\udfff"]}',
        r'{"puzzle": {"\ud800": [1]}}',
        r'{"puzzle": "1", "mode": "\ud800"}',
        r'{"puzzle": "1", "vote": "\udcff"}',
    ],
)
def test_lone_surrogates_are_4xx_with_json(client, puzzle, body):
    _client_error(_post_raw(client, body))
    _still_answers(client, puzzle)


@pytest.mark.parametrize(
    ("cells", "code"),
    [
        ("100", 400),
        ("1.5", 400),
        ("true", 400),
        ("null", 400),
        ("9223372036854775808", 422),
        ("-9223372036854775809", 422),
        ("1e400", 422),
        ("-1e400", 422),
        ("1" * 400, 422),
    ],
)
def test_puzzle_as_list_of_bad_numbers(client, puzzle, cells, code):
    """Overflow and non-finite numbers anywhere in the puzzle: 422; numbers that are no cell: 400."""
    row = ",".join([cells] * 36)
    for body in (f"[{row}]", f"[[{cells}]]", f'{{"test": [{{"input": [[{cells}]]}}]}}'):
        r = _post_raw(client, f'{{"puzzle": {body}}}')
        _client_error(r, code)
    _still_answers(client, puzzle)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_steps", True),
        ("max_steps", 1.0),
        ("max_steps", "2"),
        ("max_steps", 2**63),
        ("max_steps", 10**30),
        ("samples", False),
        ("augment", 1.5),
        ("seed", -1),
        ("seed", 2**64),
        ("threshold", True),
        ("noise", "nan"),
        ("timeout", -1),
        ("trace", "yes"),
    ],
)
def test_strict_options(client, puzzle, field, value):
    _client_error(client.post("/v1/solve", json={"puzzle": puzzle, field: value}), 400, 422)


def test_huge_float_literals(client, puzzle):
    for field in ("max_steps", "threshold", "noise", "timeout", "seed"):
        _client_error(_post_raw(client, json.dumps({"puzzle": puzzle})[:-1] + f', "{field}": 1e400}}'))
    _still_answers(client, puzzle)


def test_limits_in_openapi(client):
    props = client.get("/openapi.json").json()["components"]["schemas"]["SolveRequest"]["properties"]

    def bounds(name):
        prop = props[name]
        alt = next(a for a in prop.get("anyOf", [prop]) if a.get("type") in ("integer", "number"))
        lo = alt.get("minimum", alt.get("exclusiveMinimum"))
        return lo, prop.get("maximum", alt.get("maximum", alt.get("exclusiveMaximum")))

    limits = client.get("/v1/model").json()["limits"]
    assert bounds("max_steps") == (1, limits["max_steps"])
    assert bounds("samples") == (1, limits["max_samples"])
    assert bounds("augment") == (1, limits["max_augment"])
    assert bounds("seed")[0] == 0 and bounds("threshold") == (0, 1)
    assert bounds("timeout")[1] == limits["timeout_s"]


WRONG = [None, True, False, 0, -1, 1.5, 2**63, 10**30, "", "x", "\u00e9", [], [1], {}, {"a": 1}, "1" * 10000]


def test_schema_driven_wrong_values(client, puzzle):
    """For each property of the request schema, every wrong-typed or out-of-range value: < 500, JSON body."""
    props = client.get("/openapi.json").json()["components"]["schemas"]["SolveRequest"]["properties"]
    assert {"puzzle", "max_steps", "samples", "seed", "mode", "trace", "timeout"} <= set(props)
    seen = set()
    for name in props:
        for value in WRONG:
            body = {"puzzle": puzzle, "max_steps": 1, "budget": 0, name: value}
            r = client.post("/v1/solve", json=body)
            assert r.status_code < 500, (name, value, r.status_code, r.text)
            r.json()
            seen.add(r.status_code)
        _still_answers(client, puzzle)
    assert {200, 422} <= seen
    # and structural mistakes: not an object, unknown fields, no puzzle, not JSON
    deep = '{"puzzle": ' + "[" * 20000 + "]" * 20000 + "}"
    for raw in ("[]", "null", "1", '"x"', "{", '{"puzzle": "1", "nope": 1}', "{}", "\xff", deep):
        _client_error(_post_raw(client, raw))
    _still_answers(client, puzzle)


def test_error_bodies_are_always_encodable():
    from trm.deploy.server import _error

    r = _error(422, {"\ud800": ["\udcff", float("nan"), float("inf"), 2**70, None, True, object()]})
    body = json.loads(r.body)
    assert r.status_code == 422 and list(body["detail"]) == ["\\ud800"]
    assert body["detail"]["\\ud800"][:6] == ["\\udcff", "nan", "inf", 2**70, None, True]
