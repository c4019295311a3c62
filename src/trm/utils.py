"""Small shared helpers: atomic writes, safe tensor loading, device and dtype resolution, seeding.

Atomic writes write beside the target, flush and ``fsync`` the data, rename over the target and ``fsync`` the
directory, so that after a crash or a power cut the target holds either its old or its new content.
:func:`fault_point` is the test hook of the crash tests (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import TRMError

FAULT_ENV = "TRM_FAULT_INJECT"
_fault_hits: dict[str, int] = {}


def fault_point(stage: str) -> None:
    """Crash-test hook: with ``TRM_FAULT_INJECT=STAGE[@N]`` the process SIGKILLs itself the N-th time (default:
    the first) it reaches ``STAGE``. Does nothing otherwise; the stages are listed in docs/RELIABILITY.md."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    name, _, nth = spec.partition("@")
    if name != stage:
        return
    _fault_hits[stage] = _fault_hits.get(stage, 0) + 1
    if _fault_hits[stage] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a directory's entries (creations, renames) durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):  # filesystems without directory fsync
            raise
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file under ``root`` and every directory, ``root`` last."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def rename_exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``). False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange_flag = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange_flag) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def replace_directory(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move the complete directory ``src`` to ``dst``, replacing an existing ``dst`` (then removed).

    Atomic where :func:`rename_exchange` works; elsewhere two renames, with the old directory kept as
    ``.<name>.old-<pid>`` between them (which :func:`trm.checkpoint.resolve_slot` recovers from).
    """
    src, dst = Path(src), Path(dst)
    if not dst.exists() and not dst.is_symlink():
        os.replace(src, dst)
    elif dst.is_dir() and not dst.is_symlink() and rename_exchange(src, dst):
        fsync_dir(dst.parent)
        shutil.rmtree(src, ignore_errors=True)
    else:
        old = dst.parent / f".{dst.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        try:
            os.replace(src, dst)
        except BaseException:
            os.replace(old, dst)
            raise
        fsync_dir(dst.parent)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
        return
    fsync_dir(dst.parent)


JSON_SIZE_LIMIT = 1 << 30  # bytes; a JSON file trm reads (configs, metadata, task lists) is far smaller


def read_json_file(
    path: str | os.PathLike,
    what: str = "JSON file",
    error: type[Exception] = TRMError,
    limit: int = JSON_SIZE_LIMIT,
) -> Any:
    """Parse the JSON file ``path``. Whatever is wrong with it (missing, a directory or a device, unreadable,
    too large, not UTF-8, not JSON, nested too deeply) raises ``error("PATH: problem")``."""
    import stat

    path = Path(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a directory, expected a {what}")
        if not stat.S_ISREG(mode):  # a device or a pipe (/dev/zero) would be read forever or block
            raise error(f"{path}: not a regular file, expected a {what}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    if len(data) > limit:
        raise error(f"{path}: too large for a {what} (over {limit:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(
            f"{path}: cannot read the {what}: corrupt, not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{path}: cannot read the {what}: corrupt JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError, or an integer too long to convert
        raise error(f"{path}: cannot read the {what}: corrupt JSON ({' '.join(str(e).split())})") from None


def default_mode(directory: bool = False) -> int:
    """The mode a plain ``open(path, "w")`` (or ``mkdir``) gives a new file (folder) under the process umask.
    ``mkstemp``/``mkdtemp`` and safetensors' writer make theirs owner-only; trm's atomically written run files,
    checkpoints and model folders take this mode instead, so that a service running as another user can read them."""
    return (0o777 if directory else 0o666) & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` sets it to read it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file in ``path``'s folder with :func:`default_mode` (``mkstemp`` makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, default_mode())
    except (AttributeError, OSError):  # no fchmod (Windows): keep mkstemp's mode
        pass
    return fd, tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a dict of tensors from .pt (``weights_only=True``, never unpickling code) or .safetensors."""
    path = Path(path)
    if not path.is_file():
        raise TRMError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types for corrupt headers
            raise TRMError(f"{path}: not a valid safetensors file ({e})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise TRMError(f"{path}: cannot be read as a tensor file ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise TRMError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return obj


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise TRMError(f"unknown device {name!r}: {e}") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise TRMError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TRMError(f"device {name!r} requested but CUDA is not available")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TRMError(f"device {name!r} requested but MPS is not available")
    return dev


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in dtypes:
        raise TRMError(f"unknown dtype {name!r}; choose one of {sorted(dtypes)} or auto")
    return dtypes[name]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class atomic_directory:
    """Write a directory atomically: fill the temporary path it yields, then it replaces ``path`` on success.

    The files are fsynced before the switch (:func:`replace_directory`). On an exception the temporary
    directory is removed and ``path`` is left as it was.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp-"))
        os.chmod(self.tmp, default_mode(directory=True))  # mkdtemp makes it 0700
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                fsync_tree(self.tmp)
                replace_directory(self.tmp, self.path)
        finally:
            if self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)


def install_hint(extra: str) -> str:
    """How to install an optional extra of trm, naming its packages (read from the installed metadata, so that
    pyproject.toml stays the one list): ``pip install 'mcp>=2,<3'`` (in a checkout: ``pip install -e '.[mcp]'``)."""
    import importlib.metadata as md

    try:
        requires = md.requires("trm") or []
    except md.PackageNotFoundError:
        requires = []
    marker = f'extra == "{extra}"'
    packages = [r.split(";")[0].strip() for r in requires if marker in r.replace("'", '"')]
    direct = (
        f"pip install {' '.join(repr(p) for p in packages)}" if packages else f"install trm's {extra} extra"
    )
    return f"{direct} (in a checkout of trm: pip install -e '.[{extra}]')"
