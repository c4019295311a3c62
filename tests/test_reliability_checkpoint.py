"""Crash-safe checkpoints (docs/RELIABILITY.md): a SIGKILL at every stage of a save, a full disk, leftovers.

The crash test runs one driver process that trains a tiny model and forks one child per stage of a checkpoint
save; each child is killed by ``TRM_FAULT_INJECT=last:<stage>@2`` during its second save of ``last``. This
process then resumes every killed run with ``trm train --resume`` and checks that it ends exactly like the
uninterrupted reference run.
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from trm.checkpoint import SLOT_STAGES, load_model, resolve_slot
from trm.cli import main as cli_main
from trm.model import TRM
from trm.presets import get_preset
from trm.train import checkpoint as train_ckpt
from trm.train.checkpoint import TrainingState, read_checkpoint, write_checkpoint
from trm.utils import TRMError

TINY = [
    "model.hidden_size=16",
    "model.num_heads=2",
    "model.puzzle_emb_ndim=16",
    "model.T=1",
    "model.n=1",
    "model.num_layers=1",
    "model.N_sup=2",
    "model.halt_exploration_prob=0.5",
    "train.global_batch_size=8",
    "train.lr_warmup_steps=1",
    "train.log_interval=1",
    "train.eval_interval_steps=1",
    "train.max_steps=2",
    "data.test_limit=8",
    "eval.batch_size=8",
]

# Every stage of a save; "legacy-moved" only exists where RENAME_EXCHANGE does not (tested in-process below).
CRASH_STAGES = [s for s in SLOT_STAGES if s != "legacy-moved"]

DRIVER = r"""
import json, os, resource, sys, traceback
import torch
torch.set_num_threads(1)  # no OpenMP pool in this process, so that forking it is safe
from trm.cli import main
from trm.presets import get_preset
from trm.train.trainer import train

root, data, stages, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
cfg = get_preset("tiny_att").override(overrides)


def child(fn):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def killed_at(stage):
    os.environ["TRM_FAULT_INJECT"] = f"last:{stage}@2"  # the second save of checkpoints/last
    train(cfg, data, f"{root}/{stage}", console=False)
    return 0


def full_disk():
    os.dup2(os.open(f"{root}/full.stderr", os.O_WRONLY | os.O_CREAT), 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # the weights no longer fit, the logs still do
    return main(["train", "--resume", f"{root}/full", "train.max_steps=2"])


train(cfg, data, f"{root}/reference", console=False)
train(cfg.override(["train.max_steps=1"]), data, f"{root}/full", console=False)
status = {stage: child(lambda: killed_at(stage)) for stage in stages}
status["full"] = child(full_disk)
print(json.dumps(status))
"""


def make_dataset(path: Path, overwrite: bool = False) -> Path:
    """A tiny synthetic task in the official layout: copy 36 tokens (no task package needed)."""
    from trm.data.write import write_dataset

    rng = np.random.default_rng(5)

    def arrays(m):
        x = rng.integers(1, 8, size=(m, 36))
        return {
            "inputs": x,
            "labels": x,
            "puzzle_identifiers": (np.arange(m) % 2).astype(np.int32),
            "puzzle_indices": np.arange(m + 1),
            "group_indices": np.arange(m + 1),
        }

    write_dataset(
        path,
        {"train": arrays(32), "test": arrays(16)},
        ["<blank>", "p1"],
        vocab_size=8,
        seq_len=36,
        overwrite=overwrite,
    )
    return path


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    last = run / "checkpoints" / "last"
    out = {f"model.{k}": v for k, v in load_file(str(last / "model.safetensors")).items()}
    out.update(load_file(str(last / "train_state.safetensors")))
    return out


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="needs fork and Linux rlimits")
def test_sigkill_at_every_stage_of_a_save_then_resume(tmp_path):
    data = make_dataset(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TRM_FAULT_INJECT", None)
    r = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path), str(data), json.dumps(CRASH_STAGES), json.dumps(TINY)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    status = json.loads(r.stdout.strip().splitlines()[-1])
    reference = _tensors(tmp_path / "reference")

    for stage in CRASH_STAGES:
        run = tmp_path / stage
        assert status[stage] == -9, f"{stage}: the process was not killed ({status[stage]})"
        # killed during the save of step 2: step 1 is loadable until the switch, step 2 from then on
        _, _, state = read_checkpoint(run / "checkpoints" / "last")
        assert state.step == (2 if stage == "switched" else 1), stage
        load_model(run)
        assert cli_main(["train", "--resume", str(run)]) == 0, stage
        left = sorted(os.listdir(run / "checkpoints"))
        assert len(left) == 4 and left[2:] == ["best", "last"], (stage, left)  # .best.N, .last.M, best, last
        assert all(Path(run / "checkpoints" / n).is_dir() for n in left)
        got = _tensors(run)
        assert set(got) == set(reference), stage
        for k in reference:
            assert torch.equal(got[k], reference[k]), (stage, k)

    # full disk during the checkpoint of a resumed run: one line, exit 2, the step-1 checkpoint kept, no leftovers
    err = (tmp_path / "full.stderr").read_text()
    assert status["full"] == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert (
        err.startswith("trm: error: ") and "File too large" in err and "previous checkpoint is kept" in err
    ), err
    assert read_checkpoint(tmp_path / "full" / "checkpoints" / "last")[2].step == 1
    assert sorted(os.listdir(tmp_path / "full" / "checkpoints")) == [".best.1", ".last.1", "best", "last"]


# ----------------------------------------------------------------------------- in-process slot behaviour
@pytest.fixture(scope="module")
def tiny():
    cfg = get_preset("tiny_att").override(TINY)
    return cfg, TRM(cfg.model).state_dict()


def _save(path, tiny, step):
    cfg, state = tiny
    write_checkpoint(path, cfg, state, {}, TrainingState(step=step))


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, tiny, monkeypatch):
    last = tmp_path / "checkpoints" / "last"
    _save(last, tiny, 1)

    def no_space(tensors, path, metadata=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(train_ckpt, "save_tensors", no_space)
    with pytest.raises(TRMError, match="No space left on device.*previous checkpoint is kept"):
        _save(last, tiny, 2)
    assert read_checkpoint(last)[2].step == 1
    assert sorted(os.listdir(last.parent)) == [".last.1", "last"]


def test_leftovers_are_ignored_then_cleaned(tmp_path, tiny):
    last = tmp_path / "checkpoints" / "last"
    _save(last, tiny, 1)
    half = last.parent / ".last.2.partial"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\x00" * 10)
    os.symlink(".last.2.partial", last.parent / ".last.link-99")
    assert read_checkpoint(last)[2].step == 1
    _save(last, tiny, 3)
    assert read_checkpoint(last)[2].step == 3
    assert sorted(os.listdir(last.parent)) == [".last.2", "last"]


def test_dangling_or_missing_slot_recovers_the_newest_complete_version(tmp_path, tiny):
    last = tmp_path / "checkpoints" / "last"
    _save(last, tiny, 1)
    os.unlink(last)
    (last.parent / ".last.7.partial").mkdir()  # never chosen
    assert read_checkpoint(last)[2].step == 1 and last.is_symlink()
    # the leftovers of the directory swap used before slots: the previous checkpoint kept as .last.old-<pid>
    os.unlink(last)
    os.rename(last.parent / ".last.1", last.parent / ".last.old-123")
    assert resolve_slot(last) == last and read_checkpoint(last)[2].step == 1
    assert load_model(tmp_path)[2] == {}


@pytest.mark.parametrize("exchange", [True, False])
def test_a_run_saved_before_slots_is_migrated(tmp_path, tiny, monkeypatch, exchange):
    """``last`` as a plain directory: swapped atomically (RENAME_EXCHANGE), or by two renames with a crash
    between them (simulated at the 'legacy-moved' stage) from which a reader recovers the new checkpoint."""
    import trm.checkpoint as ckpt

    last = tmp_path / "checkpoints" / "last"
    _save(last.parent / "tmp", tiny, 1)
    os.rename(os.path.realpath(last.parent / "tmp"), last)
    os.unlink(last.parent / "tmp")
    assert last.is_dir() and not last.is_symlink()

    class Crash(BaseException):
        pass

    def crash(stage):
        if stage == "last:legacy-moved":
            raise Crash

    if not exchange:
        monkeypatch.setattr(ckpt, "rename_exchange", lambda a, b: False)
        monkeypatch.setattr(ckpt, "fault_point", crash)
        with pytest.raises(Crash):
            _save(last, tiny, 2)
        assert not last.exists()
        monkeypatch.undo()
    else:
        _save(last, tiny, 2)
        assert last.is_symlink()
    assert read_checkpoint(last)[2].step == 2
    _save(last, tiny, 3)
    assert sorted(os.listdir(last.parent)) == [".last.2", "last"]


def test_fault_hook_counts_occurrences(monkeypatch):
    from trm import utils

    kills = []
    monkeypatch.setattr(utils.os, "kill", lambda pid, sig: kills.append(sig))
    monkeypatch.setattr(utils, "_fault_hits", {})
    monkeypatch.setenv("TRM_FAULT_INJECT", "last:synced@2")
    for stage in ("last:synced", "best:synced", "last:completed", "last:synced", "last:synced"):
        utils.fault_point(stage)
    assert len(kills) == 1


def test_full_disk_during_a_dataset_build_leaves_nothing(tmp_path, monkeypatch):
    from trm.data import format as fmt
    from trm.data.errors import DataError

    make_dataset(tmp_path / "old")

    def too_large(*args, **kwargs):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))

    monkeypatch.setattr(fmt.np, "save", too_large)
    with pytest.raises(
        DataError, match=r"new: cannot write the dataset \(File too large\); nothing was written"
    ):
        make_dataset(tmp_path / "new")
    with pytest.raises(
        DataError, match=r"old: cannot write the dataset \(File too large\); the previous dataset is kept"
    ):
        make_dataset(tmp_path / "old", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["old"]
    monkeypatch.undo()
    assert fmt.load_split(tmp_path / "old", "train").num_examples == 32


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
def test_atomic_writes_take_the_umask_mode_not_owner_only(tmp_path):
    """mkstemp, mkdtemp and safetensors make files 0600 and folders 0700; a model folder or run file written by
    trm must be readable as a plain write would make it (a service running as another user loads it)."""
    import stat

    from trm.checkpoint import save_model
    from trm.utils import atomic_torch_save, atomic_write_json

    old = os.umask(0o027)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        atomic_torch_save({"a": torch.ones(2)}, tmp_path / "b.pt")
        model, cfg, meta = load_model("sudoku6")
        save_model(tmp_path / "model", model, cfg, meta)
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes == {
        "a.json": 0o640,
        "b.pt": 0o640,
        "model": 0o750,
        "model/model.safetensors": 0o640,
        "model/config.json": 0o640,
    }
