"""ONNX export folders that were damaged or crafted: the manifest is schema-checked, every path it names stays
inside the folder and is a regular file, and a corrupt graph or archive is one line naming the file; the
exported runner's command line answers them with one line and exit code 2 (docs/RELIABILITY.md)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

from trm.checkpoint import save_model  # noqa: E402
from trm.deploy.onnx_export import export_onnx  # noqa: E402
from trm.deploy.onnx_runner import MANIFEST, OnnxSolver  # noqa: E402
from trm.tasks import PuzzleError  # noqa: E402

from .test_deploy_pretrained import make_sudoku_model  # noqa: E402

PUZZLE = "1.3..6" + "." * 30


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-rel")
    model, cfg = make_sudoku_model()
    save_model(root / "model", model, cfg)
    export_onnx(root / "model", root / "export", check=False)  # the checks are test_deploy_onnx's
    return root / "export"


def _clone(export: Path, dest: Path) -> Path:
    shutil.copytree(export, dest, symlinks=True)
    return dest


def _manifest(d: Path) -> dict:
    return json.loads((d / MANIFEST).read_text())


def _write(d: Path, man) -> None:
    (d / MANIFEST).write_text(json.dumps(man))


def _fails(d: Path, *names: str) -> str:
    """Loading ``d`` raises PuzzleError with a one-line message naming each of ``names``."""
    with pytest.raises(PuzzleError) as e:
        OnnxSolver(d)
    msg = str(e.value)
    assert "\n" not in msg, msg
    for n in names:
        assert n in msg, (n, msg)
    return msg


def _edit(man: dict, path: str, value) -> dict:
    *keys, last = path.split(".")
    obj = man
    for k in keys:
        obj = obj[k]
    if value is _DELETE:
        del obj[last]
    else:
        obj[last] = value
    return man


_DELETE = object()

MANIFEST_CASES = [
    ("files", _DELETE),
    ("io", _DELETE),
    ("config", _DELETE),
    ("config.model", _DELETE),
    ("files", ["step.onnx"]),
    ("io", "x"),
    ("config", None),
    ("io.total_len", True),
    ("io.total_len", 2**63),
    ("io.hidden_size", 1.5),
    ("io.hidden_size", -1),
    ("config.model.seq_len", "36"),
    ("config.model.N_sup", 1e300),
    ("config.model.vocab_size", None),
    ("files.step", 5),
    ("files.step", ""),
    ("files.carry_init", _DELETE),
    ("files.unrolled", ["x"]),
    ("settings", {"max_steps": True}),
    ("settings", {"nonsense": 1}),
    ("settings", [1]),
    ("task_info", {"kind": "sudoku", "box": [5, 5]}),
]


@pytest.mark.parametrize(
    ("key", "value"),
    MANIFEST_CASES,
    ids=[f"{k}={'del' if v is _DELETE else repr(v)}"[:40] for k, v in MANIFEST_CASES],
)
def test_manifest_schema(export, tmp_path, key, value):
    d = _clone(export, tmp_path / "e")
    _write(d, _edit(_manifest(d), key, value))
    _fails(d, MANIFEST)


@pytest.mark.parametrize("content", [b"[1, 2]", b"{", b"\xff\xfe", b"", b"[" * 100000, b'"files"'])
def test_manifest_not_an_object(export, tmp_path, content):
    d = _clone(export, tmp_path / "e")
    (d / MANIFEST).write_bytes(content)
    _fails(d, MANIFEST)


@pytest.mark.parametrize(
    "target",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "/dev/zero",
        "sub/../../step.onnx",
        "trm_runtime",
        "nothing.onnx",
    ],
)
def test_paths_stay_inside_the_folder(export, tmp_path, target):
    d = _clone(export, tmp_path / "e")
    _write(d, _edit(_manifest(d), "files.step", target))
    _fails(d)


@pytest.mark.parametrize("link", ["/etc/passwd", "/dev/zero", "../outside.onnx"])
def test_symlinks_leading_outside_are_refused(export, tmp_path, link):
    d = _clone(export, tmp_path / "e")
    shutil.copyfile(d / "step.onnx", tmp_path / "outside.onnx")
    (d / "step.onnx").unlink()
    os.symlink(link, d / "step.onnx")
    assert "outside the export folder" in _fails(d, MANIFEST)


def test_symlink_inside_the_folder_is_fine(export, tmp_path):
    d = _clone(export, tmp_path / "e")
    (d / "step.onnx").rename(d / "real.onnx")
    os.symlink("real.onnx", d / "step.onnx")
    r = OnnxSolver(d).solve(PUZZLE, budget=0)  # the protocol once: the folder, not the ladder, is under test
    assert r.answer or r.candidate  # an untrained model: a candidate, no verified answer


@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "npz-keys", "npz-random", "npz-shape"])
def test_corrupt_graph_and_archive(export, tmp_path, damage):
    d = _clone(export, tmp_path / "e")
    rng = np.random.default_rng(0)
    step, init = d / "step.onnx", d / "carry_init.npz"
    if damage == "truncate":
        step.write_bytes(step.read_bytes()[: step.stat().st_size // 2])
    elif damage == "random":
        step.write_bytes(rng.bytes(4096))
    elif damage == "empty":
        step.write_bytes(b"")
    elif damage == "npz-keys":
        np.savez(init, y=np.zeros(4, np.float32), z=np.zeros(4, np.float32))
    elif damage == "npz-random":
        init.write_bytes(rng.bytes(300))
    else:
        np.savez(init, y_init=np.zeros(3, np.float32), z_init=np.zeros(3, np.float32))
    _fails(d, step.name if damage in ("truncate", "random", "empty") else init.name)


def test_unrolled_path_is_checked(export, tmp_path):
    d = _clone(export, tmp_path / "e")
    _write(d, _edit(_manifest(d), "files.unrolled", {"2": "../../../etc/passwd"}))
    solver = OnnxSolver(d)
    x = np.stack([solver.codec.parse(PUZZLE).tokens])
    with pytest.raises(PuzzleError, match="leaves the export folder"):
        solver.run_unrolled(x, steps=2)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from([0, 1, -1, 2, 36, 2**63, 10**30, 1.5, 1e300, "", "step.onnx", "..", "/dev/zero"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
KEYS = [
    "files",
    "files.step",
    "files.carry_init",
    "files.unrolled",
    "io",
    "io.total_len",
    "io.hidden_size",
    "config",
    "config.model",
    "config.model.seq_len",
    "config.model.vocab_size",
    "config.model.N_sup",
    "config.model.num_puzzle_identifiers",
    "settings",
    "task_info",
    "task",
]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(key=st.sampled_from(KEYS), value=JSON)
def test_fuzz_manifest_values(export, tmp_path_factory, key, value):
    d = tmp_path_factory.mktemp("fz") / "e"
    _clone(export, d)
    _write(d, _edit(_manifest(d), key, value))
    try:
        solver = OnnxSolver(d)
    except PuzzleError as e:
        assert "\n" not in str(e)
        return
    try:  # accepted: it must then work, or refuse the puzzle in one line
        r = solver.solve(PUZZLE)
        assert r.answer is not None or r.candidate is not None  # verified, or a candidate that is not
    except PuzzleError as e:
        assert "\n" not in str(e)


def _runner(export: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(export / "trm_onnx_runner.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TRM_DEBUG"},
    )


def test_runner_cli_one_line_exit_2(export, tmp_path):
    bad = _clone(export, tmp_path / "list")
    (bad / MANIFEST).write_text("[]")
    trunc = _clone(export, tmp_path / "trunc")
    (trunc / "step.onnx").write_bytes(b"\x08\x07garbage")
    escape = _clone(export, tmp_path / "escape")
    _write(escape, _edit(_manifest(escape), "files.carry_init", "../../../../etc/passwd"))
    cases = [
        ([str(bad), PUZZLE], MANIFEST),
        ([str(trunc), PUZZLE], "step.onnx"),
        ([str(escape), PUZZLE], "leaves the export folder"),
        ([str(export), "@/dev/zero"], "not a regular file"),
        ([str(export), "@" + str(tmp_path)], "not a regular file"),
        ([str(export), PUZZLE, "--max-steps", "1000000000"], "max_steps"),
        ([str(export), PUZZLE, "--samples", "1000000000"], "samples"),
        ([str(export), PUZZLE, "--threads", "-1"], "threads"),
        ([str(export), "1" * 300], "36 cells"),
    ]
    for args, needle in cases:
        out = _runner(export, *args, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert needle in out.stderr, (needle, out.stderr)


def test_trm_solve_on_a_corrupt_export_is_one_line(export, tmp_path, capsys):
    from trm.cli import main

    d = _clone(export, tmp_path / "e")
    _write(d, _edit(_manifest(d), "files.step", "/dev/zero"))
    assert main(["solve", str(d), PUZZLE, "--backend", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and MANIFEST in err


def test_a_manifest_key_with_a_newline_gives_a_one_line_error(tmp_path):
    """Found by the fuzz test above: a key of the manifest's files is echoed in the message, quoted when it is not
    printable, so the message stays one line."""
    from trm.deploy.onnx_runner import member
    from trm.tasks import PuzzleError

    with pytest.raises(PuzzleError) as e:
        member(tmp_path, None, "step\nx")
    assert "\n" not in str(e.value) and "'step\\nx'" in str(e.value)
