"""Property-based tests (hypothesis) of the loaders: configs, overrides, model folders, datasets, train state.

The property is the error contract of docs/RELIABILITY.md: whatever a file or a value holds, the loader either
returns a valid object or raises the project's one-line error naming the file (TRMError / ConfigError /
DataError), never another exception. Examples are bounded so that the file runs in seconds.
"""

import copy
import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trm.checkpoint import WEIGHTS_FILE, load_model, read_config
from trm.config import Config, ConfigError, field_help
from trm.data.errors import DataError
from trm.data.format import FIELDS, load_split
from trm.data.sampler import TrainSampler, test_batches
from trm.data.write import write_dataset
from trm.model import TRM
from trm.presets import get_preset
from trm.train.checkpoint import STATE_JSON, STATE_TENSORS, TrainingState, read_checkpoint, write_checkpoint
from trm.utils import TRMError

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

TINY = [
    "model.hidden_size=16",
    "model.num_heads=2",
    "model.puzzle_emb_ndim=16",
    "model.num_layers=1",
    "model.N_sup=2",
    "train.global_batch_size=4",
]

# any JSON value, including the awkward ones: huge integers, non-finite floats, surrogates, deep nesting
NASTY = [
    10**400,
    -(10**400),
    2**63,
    2**64,
    -1,
    0,
    1,
    1.5,
    1e308,
    float("nan"),
    float("inf"),
    "",
    "\udcff",
    "1e400",
    "9" * 5000,
    "MT19937",
    "PCG64",
]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(NASTY)
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)
KEYS = sorted(field_help(Config))
BASE = get_preset("tiny_att").to_dict()
SECTIONS = ["model", "data", "train", "eval"]


def one_line(e: BaseException) -> None:
    assert "\n" not in str(e) and str(e), repr(e)


# ----------------------------------------------------------------------------------------------- configs
def _check_values(cfg: Config) -> None:
    """What a config accepts is usable: finite floats, integers within int64, a config that round-trips."""
    for section in (cfg.model, cfg.data, cfg.train, cfg.eval):
        for v in section.__dict__.values():
            assert not isinstance(v, float) or math.isfinite(v), section
            assert not isinstance(v, int) or -(2**63) <= v < 2**63, section
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg


def test_every_key_with_every_awkward_value():
    """Exhaustive over the keys: each awkward value is accepted as a usable value or named in a ConfigError."""
    for key in KEYS:
        section, name = key.split(".", 1) if "." in key else (None, key)
        for value in NASTY + [None, True, [], {}, [1], {"a": 1}, "true", "1e3", "-0"]:
            d = copy.deepcopy(BASE)
            (d[section] if section else d)[name] = value
            try:
                cfg = Config.from_dict(d)
            except ConfigError as e:
                one_line(e)
                assert re.match(r"(config|model|data|train|eval|name|task)(\.\w+)?: ", str(e)), (
                    key,
                    value,
                    str(e),
                )
                continue
            _check_values(cfg)


@FUZZ
@given(
    key=st.sampled_from(KEYS) | st.text(max_size=12),
    value=st.sampled_from(NASTY) | json_values,
    where=st.sampled_from(["value", "value", "section", "top"]),
)
def test_config_from_dict_accepts_or_names_the_key(key, value, where):
    d = copy.deepcopy(BASE)
    if where == "value" and "." in key and key.split(".")[0] in d:
        section, name = key.split(".", 1)
        d[section][name] = value
    elif where == "section":
        d[SECTIONS[len(key) % 4]] = value
    else:
        d[key] = value
    try:
        cfg = Config.from_dict(d)
    except ConfigError as e:
        one_line(e)
        return
    _check_values(cfg)


@FUZZ
@given(
    key=st.sampled_from(KEYS) | st.text(max_size=16),
    value=st.text(max_size=24)
    | st.sampled_from(
        ["1e400", "-1", "nan", "inf", "2e63", "9" * 5000, "1.5", "true", "0x10", "١٢", "1_000", " 7 "]
    ),
)
def test_overrides_accept_or_name_the_key(key, value):
    try:
        cfg = get_preset("tiny_att").override([f"{key}={value}"])
    except ConfigError as e:
        one_line(e)
        return
    _check_values(cfg)


# ------------------------------------------------------------------------------------------ model folders
@pytest.fixture(scope="module")
def model_dir():
    root = Path(tempfile.mkdtemp(prefix="trm-fuzz-model-"))
    cfg = get_preset("tiny_att").override(TINY)
    write_checkpoint(
        root / "ckpt",
        cfg,
        TRM(cfg.model).state_dict(),
        {"rng.0.cpu": torch.get_rng_state()},
        TrainingState(
            step=3, sampler={"seed": 0, "global_batch_size": 4, "epoch": 0, "position": 0, "rng": None}
        ),
    )
    yield Path(root / "ckpt").resolve()
    shutil.rmtree(root, ignore_errors=True)


def _copy(src: Path) -> Path:
    dst = Path(tempfile.mkdtemp(prefix="trm-fuzz-")) / "m"
    shutil.copytree(src, dst)
    return dst


def _mutate_bytes(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "random", "empty", "append"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        return bytes(b)
    if kind == "random":
        return draw(st.binary(max_size=256))
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    return b""


@FUZZ
@given(data=st.data(), target=st.sampled_from(["config.json", WEIGHTS_FILE]))
def test_corrupt_model_folder_is_named(model_dir, data, target):
    d = _copy(model_dir)
    try:
        p = d / target
        if target == "config.json" and data.draw(st.booleans()):
            raw = json.loads(p.read_text())
            path = data.draw(
                st.sampled_from(
                    [
                        ["config"],
                        ["meta"],
                        ["format_version"],
                        ["config", "model"],
                        ["config", "model", "hidden_size"],
                        ["config", "train", "lr"],
                    ]
                )
            )
            node = raw
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = data.draw(json_values)
            p.write_text(json.dumps(raw))
        else:
            p.write_bytes(_mutate_bytes(p.read_bytes(), data.draw))
        try:
            load_model(d)
        except TRMError as e:
            one_line(e)
            assert str(d) in str(e)
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)


@FUZZ
@given(data=st.data(), target=st.sampled_from([STATE_JSON, STATE_TENSORS]))
def test_corrupt_train_state_is_named(model_dir, data, target):
    d = _copy(model_dir)
    try:
        p = d / target
        if target == STATE_JSON and data.draw(st.booleans()):
            raw = json.loads(p.read_text())
            key = data.draw(st.sampled_from(sorted(raw) + ["python_random", "numpy_random"]))
            if isinstance(raw.get(key), list) and raw[key] and data.draw(st.booleans()):
                raw[key][data.draw(st.integers(0, len(raw[key]) - 1))] = data.draw(json_values)
            else:
                raw[key] = data.draw(json_values)
            p.write_text(json.dumps(raw))
        else:
            p.write_bytes(_mutate_bytes(p.read_bytes(), data.draw))
        try:
            _, _, state = read_checkpoint(d)
        except TRMError as e:
            one_line(e)
            assert str(d) in str(e)
            return
        assert isinstance(state.step, int) and state.step >= 0
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)


@FUZZ
@given(config=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_config_json_reads_or_is_named(model_dir, config):
    d = _copy(model_dir)
    try:
        (d / "config.json").write_bytes(config)
        with pytest.raises(TRMError, match=re.escape(str(d / "config.json"))):
            read_config(d)
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def dataset_dir():
    root = Path(tempfile.mkdtemp(prefix="trm-fuzz-data-"))
    rng = np.random.default_rng(0)
    x = rng.integers(1, 5, size=(12, 6))
    split = {
        "inputs": x,
        "labels": x,
        "puzzle_identifiers": np.array([1, 2, 1, 2, 1, 2], np.int32),
        "puzzle_indices": np.array([0, 2, 4, 6, 8, 10, 12]),
        "group_indices": np.array([0, 2, 4, 6]),
    }
    write_dataset(root / "d", {"train": split}, ["<blank>", "a", "b"], vocab_size=5, seq_len=6)
    yield root / "d"
    shutil.rmtree(root, ignore_errors=True)


npy_arrays = st.builds(
    lambda dtype, shape, fill: np.full(shape, fill, dtype=dtype) if dtype != "U3" else np.full(shape, "ab"),
    st.sampled_from(["uint8", "int32", "int64", "uint64", "float32", "bool", ">i4", "U3"]),
    st.lists(st.integers(0, 13), min_size=0, max_size=3).map(tuple),
    st.integers(0, 7),
)


@FUZZ
@given(data=st.data(), target=st.sampled_from(["dataset.json"] + [f"all__{f}.npy" for f in FIELDS]))
def test_corrupt_dataset_is_named(dataset_dir, data, target):
    d = _copy(dataset_dir)
    try:
        p = d / "train" / target
        how = data.draw(st.sampled_from(["bytes", "value"]))
        if how == "bytes":
            p.write_bytes(_mutate_bytes(p.read_bytes(), data.draw))
        elif target == "dataset.json":
            raw = json.loads(p.read_text())
            raw[data.draw(st.sampled_from(sorted(raw)))] = data.draw(json_values)
            p.write_text(json.dumps(raw))
        else:
            np.save(p, data.draw(npy_arrays))
        mmap = data.draw(st.booleans())
        try:
            split = load_split(d, "train", mmap=mmap)
        except DataError as e:
            one_line(e)
            assert str(d) in str(e)
            return
        # what loads is usable: one training batch and every test batch
        sampler = TrainSampler(split, 4, seed=1)
        try:
            next(sampler)
        except DataError as e:  # fewer examples than one batch
            one_line(e)
        assert sum(n for _, n in test_batches(split, 4)) == split.num_examples
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)


@FUZZ
@given(
    state=json_values
    | st.fixed_dictionaries(
        {
            "seed": json_values,
            "global_batch_size": st.just(4),
            "epoch": json_values,
            "position": json_values,
            "rng": json_values,
        }
    )
)
def test_sampler_state_loads_or_is_named(dataset_dir, state):
    sampler = TrainSampler(load_split(dataset_dir, "train"), 4, seed=0)
    try:
        sampler.load_state_dict(state)
    except DataError as e:
        one_line(e)
        return
    next(sampler)
