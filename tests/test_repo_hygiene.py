"""Large-file and data guard: datasets, checkpoints and exported models never enter git.

The exceptions are the parity fixtures of tests/golden and tests/golden_train (official numbers the golden
tests need on any clone) and the weights of the models shipped in the package (src/trm/models): exactly those files are allowed, each
and all together under a size bound.
"""

import subprocess
from pathlib import Path

import pytest

from trm.models import shipped_names

from .conftest import GOLDEN_CASES, GOLDEN_TRAIN_CASES

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_SUFFIXES = {".npy", ".npz", ".pt", ".pth", ".safetensors", ".onnx", ".ckpt", ".bin"}
MAX_BYTES = 1_000_000
ALLOWED = (
    {
        f"tests/golden/{case}/{name}.safetensors"
        for case in GOLDEN_CASES
        for name in ("state_dict", "batch", "expected")
    }
    | {
        f"tests/golden_train/{case}/{name}.safetensors"
        for case in GOLDEN_TRAIN_CASES
        for name in ("state_dict", "stream", "expected", "expected-explore")
    }
    | {f"src/trm/models/{name}/model.safetensors" for name in shipped_names()}
)
ALLOWED_MAX_BYTES = 2_000_000  # each allowed fixture (the largest is 1.6 MB)
# all of them together: 4.0 MB forward, 3.7 MB training, the shipped models 3.2 MB (sudoku6, sudoku9, maze)
ALLOWED_TOTAL_BYTES = 12_000_000


def _tracked() -> list[tuple[str, int]]:
    """(path relative to the repository, size) of every tracked file present in the work tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = [p for p in out.decode().split("\0") if p]
    return [(p, (REPO / p).stat().st_size) for p in paths if (REPO / p).is_file()]


def violations(files: list[tuple[str, int]]) -> list[str]:
    """What is wrong with a list of (path, size) as the content of the repository."""
    bad = []
    allowed_total = 0
    for path, size in files:
        if path in ALLOWED:
            allowed_total += size
            if size > ALLOWED_MAX_BYTES:
                bad.append(f"{path}: golden fixture of {size} bytes, over {ALLOWED_MAX_BYTES}")
        elif Path(path).suffix in FORBIDDEN_SUFFIXES:
            bad.append(f"{path}: data/weight files must not be committed")
        elif size > MAX_BYTES:
            bad.append(f"{path}: {size} bytes, over {MAX_BYTES}")
    if allowed_total > ALLOWED_TOTAL_BYTES:
        bad.append(f"fixtures and shipped models: {allowed_total} bytes together, over {ALLOWED_TOTAL_BYTES}")
    return bad


def test_no_data_weights_or_large_files_are_tracked():
    bad = violations(_tracked())
    assert not bad, "\n".join(bad)


def test_the_guard_flags_what_it_should():
    fixture = sorted(ALLOWED)[0]
    assert violations([("src/trm/model.py", 10_000), ("README.md", 999_999), (fixture, 1_600_000)]) == []
    assert (
        len(
            violations(
                [
                    ("runs/x/model.safetensors", 10),
                    ("tests/golden/other/w.safetensors", 10),
                    ("data/train.npy", 10),
                    ("m.onnx", 10),
                    ("ckpt.pt", 10),
                ]
            )
        )
        == 5
    )
    assert violations([("docs/big.png", MAX_BYTES + 1)]) == [
        f"docs/big.png: {MAX_BYTES + 1} bytes, over {MAX_BYTES}"
    ]
    assert "over" in violations([(fixture, ALLOWED_MAX_BYTES + 1)])[0]
    spread = [(p, 1_900_000) for p in sorted(ALLOWED)[:7]]
    assert violations(spread) == [
        f"fixtures and shipped models: {7 * 1_900_000} bytes together, over {ALLOWED_TOTAL_BYTES}"
    ]


def test_golden_fixtures_are_present_and_not_ignored():
    """A clone must get them: present here, within the bounds, and not hidden by .gitignore."""
    missing = [p for p in sorted(ALLOWED) if not (REPO / p).is_file()]
    assert not missing, f"golden fixtures missing: {missing} (see tests/golden/README.md)"
    assert violations([(p, (REPO / p).stat().st_size) for p in ALLOWED]) == []
    try:
        r = subprocess.run(
            ["git", "check-ignore", "--no-index", *sorted(ALLOWED)], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        pytest.skip("git is not available")
    if r.returncode == 128:
        pytest.skip("not a git checkout")
    assert r.returncode == 1 and not r.stdout, f".gitignore hides golden fixtures: {r.stdout.split()}"


INSTALLERS = (
    '"apt-get"',
    "'apt-get'",
    '"-m", "pip"',
    "'-m', 'pip'",
    '"pip", "install"',
    "'pip', 'install'",
    "pip.main(",
)


def test_tests_never_install_packages():
    """Tests skip when an optional tool is missing; installing it is .ci/run's job."""
    here = Path(__file__).resolve()
    offenders = [
        f"{p.name}: {s}"
        for p in sorted(here.parent.glob("**/*.py"))
        if p != here
        for s in INSTALLERS
        if s in p.read_text()
    ]
    assert not offenders, offenders
