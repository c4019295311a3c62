"""The official on-disk format, the training sampler and the test iterator."""

import json

import numpy as np
import pytest
import torch

from trm.data import DataError, load_split, load_task_info, write_dataset
from trm.data.format import IGNORE, load_identifiers
from trm.data.sampler import TrainSampler, test_batches


def _toy_split(groups, seed=0, seq=6, vocab=5):
    """groups: list of lists of example counts per puzzle."""
    rng = np.random.default_rng(seed)
    pi, gi, ids = [0], [0], []
    for g in groups:
        for n in g:
            pi.append(pi[-1] + n)
            ids.append(len(ids) % 3 + 1)
        gi.append(gi[-1] + len(g))
    e = pi[-1]
    inputs = rng.integers(1, vocab, (e, seq))
    labels = rng.integers(1, vocab, (e, seq))
    labels[:, 0] = IGNORE
    inputs[:, 0] = np.arange(e) % vocab  # row identity for tests (mod vocab)
    return {
        "inputs": inputs,
        "labels": labels,
        "puzzle_identifiers": np.array(ids, np.int32),
        "puzzle_indices": np.array(pi),
        "group_indices": np.array(gi),
    }


@pytest.fixture
def toy(tmp_path):
    train = _toy_split([[2, 3], [1], [4, 1, 2], [2], [3, 3], [1, 1, 1]], seed=1)
    test = _toy_split([[2], [1], [3]], seed=2)
    out = write_dataset(
        tmp_path / "toy",
        {"train": train, "test": test},
        ["<blank>", "a", "b", "c"],
        vocab_size=5,
        seq_len=6,
        task_info={"task": "custom", "note": 1},
    )
    return out, train, test


def test_round_trip_and_official_fields(toy):
    out, train, _ = toy
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert set(meta) == {
        "pad_id",
        "ignore_label_id",
        "blank_identifier_id",
        "vocab_size",
        "seq_len",
        "num_puzzle_identifiers",
        "total_groups",
        "mean_puzzle_examples",
        "total_puzzles",
        "sets",
    }
    assert meta["total_groups"] == 6 and meta["total_puzzles"] == 12 and meta["sets"] == ["all"]
    assert meta["mean_puzzle_examples"] == pytest.approx(24 / 12)
    for k in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
        assert (out / "train" / f"all__{k}.npy").is_file()
    assert np.load(out / "train" / "all__puzzle_indices.npy").dtype == np.int32
    sd = load_split(out, "train")
    assert (sd.inputs == train["inputs"]).all()
    idx = np.arange(sd.num_examples)
    assert (sd.batch_labels(idx) == train["labels"]).all()  # ignore_label_id 0 on disk, -100 in batches
    assert np.load(out / "train" / "all__labels.npy").min() == 0
    assert load_identifiers(out) == ["<blank>", "a", "b", "c"]
    assert load_task_info(out) == {"task": "custom", "note": 1}
    assert load_task_info(out.parent) == {"task": "custom"}


def test_several_sets_are_concatenated(tmp_path):
    a, b = _toy_split([[1, 2], [3]], seed=3), _toy_split([[2], [1, 1]], seed=4)
    out = write_dataset(
        tmp_path / "d",
        {"train": {"first": a, "second": b}},
        ["<blank>", "a", "b", "c"],
        vocab_size=5,
        seq_len=6,
    )
    sd = load_split(out, "train")
    assert sd.sets == ["first", "second"] and sd.set_group_offsets == [0, 2, 4]
    assert sd.num_examples == 10 and sd.puzzle_indices.tolist() == [0, 1, 3, 6, 8, 9, 10]
    assert sd.group_indices.tolist() == [0, 2, 3, 4, 6]
    assert (sd.inputs[6:] == b["inputs"]).all()


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda d: np.save(d / "train/all__puzzle_indices.npy", np.array([0, 2, 2, 9], np.int32)),
            "puzzle_indices",
        ),
        (
            lambda d: np.save(d / "train/all__inputs.npy", np.full((24, 6), 7, np.uint8)),
            "outside the vocabulary",
        ),
        (
            lambda d: np.save(d / "train/all__inputs.npy", np.zeros((24, 5), np.uint8)),
            r"expected shape \[examples, 6\]",
        ),
        (lambda d: np.save(d / "train/all__inputs.npy", np.zeros((24, 6), np.float32)), "integer"),
        (
            lambda d: np.save(d / "train/all__group_indices.npy", np.array([0, 3, 2, 12], np.int32)),
            "group_indices",
        ),
        (lambda d: np.save(d / "train/all__puzzle_identifiers.npy", np.full(12, 9, np.int32)), "identifiers"),
        (lambda d: (d / "train/all__labels.npy").unlink(), "all__labels.npy: missing"),
        (lambda d: (d / "train/dataset.json").write_text("{"), "cannot read"),
    ],
)
def test_validation_errors_name_the_file(toy, breakage, message):
    out, _, _ = toy
    breakage(out)
    with pytest.raises(DataError, match=message):
        load_split(out, "train")


def test_write_is_atomic(tmp_path):
    bad = _toy_split([[1]], seed=0)
    bad["inputs"] = bad["inputs"][:, :3]
    with pytest.raises(DataError):
        write_dataset(tmp_path / "x", {"train": bad}, ["<blank>"], vocab_size=5, seq_len=6)
    assert list(tmp_path.iterdir()) == []
    good = _toy_split([[1]], seed=0)
    write_dataset(tmp_path / "x", {"train": good}, ["<blank>", "a", "b"], vocab_size=5, seq_len=6)
    with pytest.raises(DataError, match="already exists"):
        write_dataset(tmp_path / "x", {"train": good}, ["<blank>", "a", "b"], vocab_size=5, seq_len=6)
    write_dataset(
        tmp_path / "x", {"train": good}, ["<blank>", "a", "b"], vocab_size=5, seq_len=6, overwrite=True
    )
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def _take(sampler, k):
    return [next(sampler) for _ in range(k)]


def test_sampler_epochs_groups_and_determinism(toy):
    out, _, _ = toy
    sd = load_split(out, "train")
    s = TrainSampler(sd, 4, seed=3)
    batches = _take(s, 12)
    assert all(b["inputs"].shape == (4, 6) and b["inputs"].dtype == torch.int64 for b in batches)
    assert all(b["puzzle_identifiers"].dtype == torch.int32 for b in batches)
    assert (batches[0]["labels"][:, 0] == IGNORE).all()
    assert s.epoch >= 2
    again = _take(TrainSampler(sd, 4, seed=3), 12)
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, again, strict=False))
    other = _take(TrainSampler(sd, 4, seed=4), 12)
    assert not all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, other, strict=False))
    assert s.steps_per_epoch() == pytest.approx(6 * 2 / 4)


def test_sampler_one_puzzle_per_group_per_epoch(tmp_path):
    # 5 groups x 3 puzzles x 1 example; batch 5 = one whole epoch per batch
    split = _toy_split([[1, 1, 1]] * 5, seed=0, vocab=100)
    split["inputs"][:, 0] = np.arange(15)
    out = write_dataset(
        tmp_path / "d", {"train": split}, ["<blank>", "a", "b", "c"], vocab_size=100, seq_len=6
    )
    s = TrainSampler(load_split(out, "train"), 5, seed=0)
    for _ in range(6):
        rows = next(s)["inputs"][:, 0].numpy()
        assert sorted(rows // 3) == [0, 1, 2, 3, 4]
    # batch 4 of 5 groups: each epoch yields one batch and drops the rest
    s = TrainSampler(load_split(out, "train"), 4, seed=0)
    _take(s, 3)
    assert s.epoch == 2


def test_sampler_resume_is_exact(toy):
    out, _, _ = toy
    sd = load_split(out, "train")

    def aug(i, lab, rng):
        return (i + rng.integers(0, 2)) % 5, lab

    a = TrainSampler(sd, 4, seed=9, augment=aug)
    _take(a, 5)
    state = json.loads(json.dumps(a.state_dict()))
    rest = _take(a, 7)
    b = TrainSampler(sd, 4, seed=0, augment=aug)
    b.load_state_dict(state)
    assert all(
        torch.equal(x["inputs"], y["inputs"]) and torch.equal(x["labels"], y["labels"])
        for x, y in zip(rest, _take(b, 7), strict=False)
    )
    assert a.epoch == b.epoch


def test_sampler_rank_slices_make_the_global_batch(toy):
    out, _, _ = toy
    sd = load_split(out, "train")
    full = _take(TrainSampler(sd, 4, seed=1), 5)
    r0 = _take(TrainSampler(sd, 4, seed=1, rank=0, world_size=2), 5)
    r1 = _take(TrainSampler(sd, 4, seed=1, rank=1, world_size=2), 5)
    for f, a, b in zip(full, r0, r1, strict=False):
        assert torch.equal(torch.cat([a["inputs"], b["inputs"]]), f["inputs"])
        assert torch.equal(
            torch.cat([a["puzzle_identifiers"], b["puzzle_identifiers"]]), f["puzzle_identifiers"]
        )
    with pytest.raises(DataError, match="multiple of the world size"):
        TrainSampler(sd, 5, world_size=2)


def test_test_batches_cover_everything_once(toy):
    out, _, test = toy
    sd = load_split(out, "test")
    got = list(test_batches(sd, 4))
    assert [c for _, c in got] == [4, 2]
    last, count = got[-1]
    assert (last["inputs"][count:] == 0).all() and (last["labels"][count:] == IGNORE).all()
    assert (last["puzzle_identifiers"][count:] == 0).all()
    rows = torch.cat([b["inputs"][:c] for b, c in got])
    assert torch.equal(rows, torch.from_numpy(test["inputs"]))
    ranks = [list(test_batches(sd, 4, r, 2)) for r in (0, 1)]
    assert [c for _, c in ranks[0]] == [2, 2] and [c for _, c in ranks[1]] == [2, 0]
    assert torch.equal(torch.cat([ranks[0][0][0]["inputs"], ranks[1][0][0]["inputs"]]), got[0][0]["inputs"])
