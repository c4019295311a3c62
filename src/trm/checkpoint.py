"""Model folders and checkpoints: ``config.json`` + ``model.safetensors``, never pickles.

A *model folder* (also every checkpoint directory) holds:

    config.json          {"format_version", "config": <resolved Config>, "meta": {...}}
    model.safetensors    the weights used for inference (EMA weights when training used EMA), our key names,
                         no wrapper prefixes; includes the puzzle-embedding table and y_init / z_init

A *run directory* (``trm train --out RUN``) holds ``config.json`` and ``checkpoints/{last,best}/`` model
folders; training adds its resumable state next to the weights (see :mod:`trm.train.checkpoint`).
:func:`load_model` accepts any of the three.

``checkpoints/last`` and ``checkpoints/best`` are *slots* (:class:`write_slot`): symbolic links to complete,
fsynced versions ``checkpoints/.last.<N>``, switched by an atomic rename, so that a crash at any point of a
save leaves the previous or the new checkpoint behind (docs/RELIABILITY.md). Every loader here names the
file and the problem in a :class:`~trm.utils.TRMError` when a file is missing or corrupt.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from .config import Config, ConfigError
from .model import TRM
from .models import shipped_model, shipped_names
from .utils import (
    TRMError,
    atomic_directory,
    atomic_write_json,
    default_mode,
    fault_point,
    fsync_dir,
    fsync_tree,
    read_json_file,
    rename_exchange,
    replace_directory,
)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_tensors(
    tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write a safetensors file; a failed write (full disk, file too large) raises ``OSError`` with its errno."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path), metadata=metadata
        )
    except SafetensorError as e:  # I/O failures come back as "... I/O error: <strerror> (os error <errno>)"
        m = re.search(r"os error (\d+)", str(e))
        if m is None:
            raise
        code = int(m.group(1))
        raise OSError(code, os.strerror(code), str(path)) from None
    os.chmod(path, default_mode())  # safetensors writes 0600


def load_tensor_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never a pickle); a missing or corrupt file is a TRMError naming it."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise TRMError(f"{path}: missing")
    if not path.is_file():
        raise TRMError(f"{path}: not a file")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises SafetensorError / OSError for corrupt or unreadable files
        reason = " ".join(str(e).split()) or type(e).__name__
        raise TRMError(f"{path}: corrupt or not a safetensors file ({reason})") from None


def write_model_files(
    folder: Path, state: dict[str, torch.Tensor], cfg: Config, meta: dict[str, Any] | None = None
) -> None:
    """Write config.json and model.safetensors into an existing folder (no atomicity of its own)."""
    save_tensors(
        state, folder / WEIGHTS_FILE, metadata={"format": "pt", "trm_format_version": str(FORMAT_VERSION)}
    )
    atomic_write_json(
        folder / CONFIG_FILE, {"format_version": FORMAT_VERSION, "config": cfg.to_dict(), "meta": meta or {}}
    )


# ------------------------------------------------------------------------------------------------ slots
# errnos of a filesystem or platform without symbolic links
NO_SYMLINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)
# The stages of a slot write at which TRM_FAULT_INJECT=<slot name>:<stage> kills the process (tests, docs).
SLOT_STAGES = (
    "partial-created",
    "files-written",
    "synced",
    "completed",
    "link-created",
    "legacy-moved",
    "switched",
)


def _slot_entries(path: Path) -> dict[str, list[Path]]:
    """This slot's siblings by kind: complete versions (newest first), partial ones, temporary links, and
    the leftovers of the directory swap used before versioned slots (``.old-*`` complete, ``.tmp-*`` not)."""
    out: dict[str, list[Path]] = {"versions": [], "partial": [], "link": [], "old": [], "tmp": []}
    if not path.parent.is_dir():
        return out
    prefix = f".{path.name}."
    numbered = []
    for entry in path.parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        rest = entry.name[len(prefix) :]
        if rest.isdigit():
            numbered.append((int(rest), entry))
        elif rest.endswith(".partial") and rest[: -len(".partial")].isdigit():
            out["partial"].append(entry)
        elif rest.startswith("link-"):
            out["link"].append(entry)
        elif rest.startswith("old-"):
            out["old"].append(entry)
        elif rest.startswith("tmp-"):
            out["tmp"].append(entry)
    out["versions"] = [e for _, e in sorted(numbered, key=lambda t: -t[0])]
    return out


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _point(path: Path, target: Path) -> None:
    """Make ``path`` a symbolic link to the sibling ``target`` by an atomic rename."""
    link = path.parent / f".{path.name}.link-{os.getpid()}"
    _remove(link)
    os.symlink(target.name, link)
    os.replace(link, path)
    fsync_dir(path.parent)


def resolve_slot(path: str | os.PathLike) -> Path:
    """``path`` itself, after recovering it when a crash left it missing or dangling.

    Recovery points it at the newest complete version (``.<name>.<N>``), else at the previous directory kept
    by an interrupted old-style swap (``.<name>.old-<pid>``). Half-written versions are never used. Without
    write access the recovered directory itself is returned.
    """
    p = Path(path)
    if p.exists():
        return p
    entries = _slot_entries(p)
    old = sorted(entries["old"], key=lambda e: e.stat().st_mtime, reverse=True)
    for candidate in entries["versions"] + old:
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            try:
                if p.is_symlink():
                    p.unlink()
                _point(p, candidate)
            except OSError:
                return candidate
            return p
    return p


def clean_slot(path: str | os.PathLike) -> None:
    """Remove this slot's leftovers: half-written and superseded versions, temporary links, old-style swap
    directories. Only the slot's writer may call it (a reader could be inside a version it removes)."""
    p = Path(path)
    current = os.path.realpath(p) if p.exists() else None
    for kind, entries in _slot_entries(p).items():
        for entry in entries:
            if kind in ("versions", "old") and os.path.realpath(entry) == current:
                continue
            _remove(entry)


class write_slot:
    """Crash-safe replacement of a checkpoint directory that readers open by a fixed path (``RUN/checkpoints/last``).

    ``with write_slot(path) as tmp: <write files into tmp>``; on success the files are fsynced, ``tmp`` is
    renamed to the next complete version ``.<name>.<N>`` and ``path`` becomes a symbolic link to it by an atomic
    rename; then older versions are removed. On an exception ``tmp`` is removed and ``path`` still names the
    previous checkpoint. A crash at any point leaves ``path`` naming the previous or the new version; leftovers
    are removed by the next write. A plain directory at ``path`` (runs saved before slots) is swapped out by
    ``renameat2(RENAME_EXCHANGE)`` where available (two renames elsewhere; :func:`resolve_slot` recovers).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _stage(self, name: str) -> None:
        fault_point(f"{self.path.name}:{name}")

    def __enter__(self) -> Path:
        p = self.path
        if p.exists() and not p.is_dir():
            raise TRMError(f"{p}: exists and is not a directory")
        p.parent.mkdir(parents=True, exist_ok=True)
        resolve_slot(p)
        clean_slot(p)
        versions = _slot_entries(p)["versions"]
        n = int(versions[0].name.rsplit(".", 1)[1]) + 1 if versions else 1
        self.final = p.parent / f".{p.name}.{n}"
        self.partial = p.parent / f".{p.name}.{n}.partial"
        self.partial.mkdir()
        self._stage("partial-created")
        return self.partial

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            return
        try:
            self._publish()
        finally:
            if self.partial.exists():
                shutil.rmtree(self.partial, ignore_errors=True)

    def _publish(self) -> None:
        p, parent = self.path, self.path.parent
        self._stage("files-written")
        fsync_tree(self.partial)
        self._stage("synced")
        os.rename(self.partial, self.final)
        fsync_dir(parent)
        self._stage("completed")
        link = parent / f".{p.name}.link-{os.getpid()}"
        _remove(link)
        try:
            os.symlink(self.final.name, link)
        except (OSError, NotImplementedError) as e:
            if isinstance(e, OSError) and sys.platform != "win32" and e.errno not in NO_SYMLINKS:
                raise
            # no symbolic links here: keep a plain directory, swapped as atomically as the platform allows
            replace_directory(self.final, p)
            return
        self._stage("link-created")
        if p.is_dir() and not p.is_symlink():  # a run saved before slots existed
            if rename_exchange(link, p):
                shutil.rmtree(link, ignore_errors=True)  # ``link`` now names the old directory
            else:
                os.replace(p, parent / f".{p.name}.old-{os.getpid()}")
                fsync_dir(parent)
                self._stage("legacy-moved")
                os.replace(link, p)
        else:
            os.replace(link, p)
        fsync_dir(parent)
        self._stage("switched")
        clean_slot(p)


def save_model(
    path: str | os.PathLike,
    model: TRM,
    cfg: Config,
    meta: dict[str, Any] | None = None,
    state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Atomically write a model folder. ``state`` overrides the weights (e.g. the EMA copy)."""
    with atomic_directory(path) as tmp:
        write_model_files(tmp, model.state_dict() if state is None else state, cfg, meta)
    return Path(path)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A run directory resolves to its best checkpoint, else its last; a model folder to itself; a name that
    is not a path, to the model of that name shipped with trm (:func:`trm.models.shipped_model`)."""
    p = Path(path)
    if not p.exists():
        p = shipped_model(str(path)) or p  # a model shipped with trm (trm.models), when no such path exists
    if not p.exists():
        raise TRMError(f"{p}: no such file or directory (shipped models: {', '.join(shipped_names())})")
    if p.is_file():
        if p.name in (WEIGHTS_FILE, CONFIG_FILE):
            p = p.parent
        else:
            raise TRMError(f"{p}: expected a run directory, a checkpoint directory or a model folder")
    if not p.is_dir():
        raise TRMError(f"{p}: not a directory")
    if (p / WEIGHTS_FILE).is_file():
        return p
    for sub in ("checkpoints/best", "checkpoints/last", "best", "last"):
        if (resolve_slot(p / sub) / WEIGHTS_FILE).is_file():
            return resolve_slot(p / sub)
    raise TRMError(
        f"{p}: no {WEIGHTS_FILE} found (not a model folder, checkpoint or run directory with checkpoints)"
    )


def read_json_object(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object read from ``path``; anything else is a TRMError naming the file (:func:`read_json_file`)."""
    raw = read_json_file(path, what)
    if not isinstance(raw, dict):
        raise TRMError(f"{path}: corrupt {what} (expected a JSON object, got {type(raw).__name__})")
    return raw


def check_format_version(raw: dict[str, Any], supported: int, path: Path) -> int:
    version = raw.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise TRMError(f"{path}: format_version must be a non-negative integer, got {version!r}")
    if version > supported:
        raise TRMError(
            f"{path}: format version {version} is newer than this trm supports ({supported}); upgrade trm"
        )
    return version


def read_config(folder: str | os.PathLike) -> tuple[Config, dict[str, Any]]:
    path = Path(folder) / CONFIG_FILE
    raw = read_json_object(path, "trm config")
    if "config" not in raw:
        raise TRMError(f"{path}: not a trm config (no 'config' key)")
    check_format_version(raw, FORMAT_VERSION, path)
    meta = raw.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TRMError(f"{path}: 'meta' must be a JSON object, got {type(meta).__name__}")
    try:
        cfg = Config.from_dict(raw["config"])
    except ConfigError as e:
        raise TRMError(f"{path}: invalid config: {e}") from None
    return cfg, meta


def load_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    return load_tensor_file(Path(folder) / WEIGHTS_FILE)


def load_state_into(model: TRM, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load that explains mismatches in terms of the config instead of a torch traceback."""
    check_state(model.state_dict(), state, source)
    model.load_state_dict(state)


def meta_state(
    cfg: Config, where: str | os.PathLike, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """The state dict of ``cfg``'s model on the meta device: names, shapes and dtypes without allocating."""
    try:
        with torch.device("meta"):
            return TRM(cfg.model, dtype=dtype).state_dict()
    except (RuntimeError, ValueError, OverflowError, MemoryError) as e:
        reason = " ".join(str(e).split())[:200]
        raise TRMError(f"{where}: the config describes a model that cannot be built ({reason})") from None


def check_state(ours: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str) -> None:
    """Names, shapes and dtypes of ``state`` against a model's (possibly meta) state dict; finite values."""
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    if missing or unexpected:
        raise TRMError(
            f"{source}: weights do not match this config (missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    for k, v in state.items():
        if tuple(v.shape) != tuple(ours[k].shape):
            raise TRMError(
                f"{source}: {k!r} has shape {tuple(v.shape)} but the config expects {tuple(ours[k].shape)}; "
                "the checkpoint was made with a different config"
            )
        if ours[k].is_floating_point() and not v.is_floating_point():
            raise TRMError(
                f"{source}: {k!r} has dtype {str(v.dtype).replace('torch.', '')}, expected floating point"
            )
        if not ours[k].is_floating_point() and (v.is_floating_point() or v.is_complex()):
            raise TRMError(
                f"{source}: {k!r} has dtype {str(v.dtype).replace('torch.', '')}, expected "
                f"{str(ours[k].dtype).replace('torch.', '')}"
            )
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v.float()).all()):
            raise TRMError(f"{source}: {k!r} holds NaN or infinite values")


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[TRM, Config, dict[str, Any]]:
    """Load a model folder / checkpoint / run directory for inference (eval mode)."""
    folder = resolve_model_dir(path)
    cfg, meta = read_config(folder)
    state = load_state(folder)
    # shapes first, on the meta device: a corrupt config must not allocate a huge model
    check_state(meta_state(cfg, folder / CONFIG_FILE, dtype), state, str(folder / WEIGHTS_FILE))
    model = TRM(cfg.model, dtype=dtype)
    model.load_state_dict(state)
    model.to(device).eval()
    return model, cfg, meta
