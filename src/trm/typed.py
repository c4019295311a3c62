"""Strict typed dataclasses from plain dicts: unknown keys rejected, values coerced and bounded, dotted
overrides (``train.lr=3e-4``), help text from field metadata. :mod:`trm.config` is built on it.

A field's bounds live in its metadata next to its help (``ge``, ``gt``, ``le``, ``lt``: ``{"help": ...,
"ge": 1}``); a ``Literal`` type gives its allowed values. :func:`check_fields` checks every field of a
dataclass (types and bounds, nested sections too) and :func:`field_help` shows the bounds in the help."""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal

from .errors import TRMError


class ConfigError(ValueError):
    """A configuration value or key is invalid. The message names the key."""


def _check(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {msg}")


def _split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):  # X | None
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {list(allowed)}, got {_short(value)}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected a boolean, got {_short(value)}")
    if tp is int:
        out = None
        if isinstance(value, int) and not isinstance(value, bool):
            out = value
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            out = int(value)
        elif isinstance(value, str) and value.strip().isascii():
            text = value.strip()
            try:
                out = int(text)
            except ValueError:
                try:
                    as_float = float(text) if len(text) <= 64 else math.nan
                except ValueError:
                    as_float = math.nan
                if math.isfinite(as_float) and as_float.is_integer():
                    out = int(as_float)
        if out is None:
            raise ConfigError(f"{key}: expected an integer, got {_short(value)}")
        if not -INT_LIMIT <= out < INT_LIMIT:
            raise ConfigError(f"{key}: {_short(out)} is out of range (integers must lie within +-2^63)")
        return out
    if tp is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, str))
            or (isinstance(value, str) and not value.strip().isascii())
        ):
            raise ConfigError(f"{key}: expected a number, got {_short(value)}")
        try:
            out = float(value)
        except (ValueError, OverflowError):
            raise ConfigError(f"{key}: expected a finite number, got {_short(value)}") from None
        if not math.isfinite(out):
            raise ConfigError(f"{key}: expected a finite number, got {_short(value)}")
        return out
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {_short(value)}")
        return value
    return value


INT_LIMIT = 2**63  # integers in a config fit a signed 64-bit integer (torch, NumPy and JSON readers agree)


def _short(value: Any) -> str:
    """repr of a value for an error message, cut to a readable length."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for repr
        return f"an integer of about {value.bit_length() * 3 // 10} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def from_dict(cls: type, d: Any, prefix: str = "", where: str | None = None) -> Any:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and coercing types; messages name a field
    ``prefix + name`` and the section itself ``where`` (default: the prefix)."""
    where = where or prefix.rstrip(".") or "config"
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
    types = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in d if k not in names), key=repr)
    if unknown:
        shown = ", ".join(_short(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise ConfigError(f"{where}: unknown key(s) {shown}; valid keys: {_valid_keys(cls)}")
    kwargs = {}
    for name, value in d.items():
        tp = types[name]
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, prefix=_group_prefix(cls, prefix, key), where=key)
        else:
            kwargs[name] = _coerce(tp, value, key)
    return cls(**kwargs)


def _valid_keys(cls: type) -> list[str]:
    """The keys a section takes: its fields, and where its groups are named flat (``_flat_keys``) theirs too."""
    names = sorted(f.name for f in dataclasses.fields(cls))
    if getattr(cls, "_flat_keys", False):
        hints = _field_types(cls)
        names += sorted(g.name for f in dataclasses.fields(cls) for g in dataclasses.fields(hints[f.name]))
    return names


def _group_prefix(cls: type, prefix: str, key: str) -> str:
    """The prefix of a nested section's keys in messages: ``key.``, or the parent's own ``prefix`` where the
    parent's groups are named flat (a class attribute ``_flat_keys``: ``train.lr`` for ``train.optim.lr``)."""
    return prefix if getattr(cls, "_flat_keys", False) else f"{key}."


def _set_dotted(cls: type, d: dict[str, Any], key: str, value: Any, label: str | None = None) -> None:
    """Set ``key`` (a dotted path of ``cls``'s fields) in ``d``, its value coerced; messages name ``label``
    (the key as the user wrote it) where given."""
    shown = key if label is None else label
    parts = key.split(".")
    node, tp = d, cls
    for i, part in enumerate(parts):
        types = _field_types(tp)
        if part not in types:
            where = ".".join(parts[:i]) or "config"
            valid = _valid_keys(tp)
            raise ConfigError(
                f"unknown override key {shown!r}: {where} has no field {part!r}; valid: {valid}"
            )
        sub = types[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(sub):
                raise ConfigError(f"override {shown!r} names a section, not a value")
            node[part] = _coerce(sub, value, shown)
        else:
            if not dataclasses.is_dataclass(sub):
                raise ConfigError(f"override {shown!r}: {part!r} is a value, not a section")
            node, tp = node[part], sub


BOUNDS = ("ge", "gt", "le", "lt")  # metadata keys of a field's bounds: >=, >, <=, <


def bounds_text(metadata: Any, tp: Any = None) -> str:
    """A field's allowed values as people write them: ``>= 1``, ``in [0, 1)``, ``one of ['a', 'b']``; empty
    if the field has no bounds."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if tp is not None else []
    inner = args[0] if len(args) == 1 and typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
    if typing.get_origin(inner) is Literal:
        return f"one of {list(typing.get_args(inner))}"
    lo = ("[", metadata["ge"]) if metadata.get("ge") is not None else ("(", metadata.get("gt"))
    hi = ("]", metadata["le"]) if metadata.get("le") is not None else (")", metadata.get("lt"))
    if lo[1] is not None and hi[1] is not None:
        return f"in {lo[0]}{num_text(lo[1])}, {num_text(hi[1])}{hi[0]}"
    if lo[1] is not None:
        return f"{'>=' if lo[0] == '[' else '>'} {num_text(lo[1])}"
    if hi[1] is not None:
        return f"{'<=' if hi[0] == ']' else '<'} {num_text(hi[1])}"
    return ""


def num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def check_flag_bounds(obj: Any) -> None:
    """Type and ``[min, max]`` of every field of the dataclass ``obj`` whose metadata declares ``min``, ``max``
    and the command-line ``flag`` that sets it (the service options of ``trm serve``/``trm mcp``); a one-line
    :class:`~trm.errors.TRMError` names the flag."""
    for f in dataclasses.fields(obj):
        v, meta = getattr(obj, f.name), f.metadata
        if "min" not in meta or (v is None and flag_optional(f)):
            continue
        want_int = flag_type(f) is int
        if isinstance(v, bool) or not isinstance(v, int if want_int else (int, float)):
            raise TRMError(f"{meta['flag']} must be {'an integer' if want_int else 'a number'}, got {v!r}")
        if not (math.isfinite(v) and meta["min"] <= v <= meta["max"]):
            raise TRMError(
                f"{meta['flag']} must be in [{num_text(meta['min'])}, {num_text(meta['max'])}], got {v}"
            )


def flag_type(f: dataclasses.Field) -> type:
    """The scalar type of a flag field declared ``int``, ``float`` or ``str``, optional (``| None``) or not."""
    name = str(f.type).replace(" ", "").removesuffix("|None")
    return {"int": int, "float": float, "bool": bool}.get(name, str)


def flag_optional(f: dataclasses.Field) -> bool:
    """Whether a flag field may be unset (declared ``X | None``)."""
    return str(f.type).replace(" ", "").endswith("|None")


def flag_help(f: dataclasses.Field) -> str:
    """A flag field's help with its default and range: ``port (default 8000; 1 to 65535)``."""
    meta, parts = f.metadata, []
    if f.default is not None and not isinstance(f.default, (bool, tuple)):
        parts.append(f"default {num_text(f.default) if isinstance(f.default, (int, float)) else f.default}")
    if "min" in meta:
        parts.append(f"{num_text(meta['min'])} to {num_text(meta['max'])}")
    return meta["help"] + (f" ({'; '.join(parts)})" if parts else "")


def in_bounds(metadata: Any, value: float) -> bool:
    """Whether ``value`` lies within the bounds in ``metadata``."""
    ge, gt, le, lt = (metadata.get(k) for k in BOUNDS)
    return (
        (ge is None or value >= ge)
        and (gt is None or value > gt)
        and (le is None or value <= le)
        and (lt is None or value < lt)
    )


def check_fields(obj: Any, prefix: str = "") -> None:
    """Check every field of dataclass ``obj`` (nested sections too) against its type and declared bounds,
    storing the coerced value (``"4"`` -> ``4`` for an integer); raise :class:`ConfigError` with one line naming
    the key, the value and the allowed range."""
    hints = _field_types(type(obj))
    for f in dataclasses.fields(obj):
        key, tp, value = f"{prefix}{f.name}", hints[f.name], getattr(obj, f.name)
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, tp):
                raise ConfigError(f"{key}: expected a {tp.__name__} section, got {_short(value)}")
            check_fields(value, _group_prefix(type(obj), prefix, key))
            continue
        value = _coerce(tp, value, key)
        setattr(obj, f.name, value)
        if value is not None and not isinstance(value, (bool, str)) and not in_bounds(f.metadata, value):
            raise ConfigError(f"{key}: {_short(value)} is out of range (allowed: {bounds_text(f.metadata)})")


def field_help(cls: type, aliases: bool = True) -> dict[str, str]:
    """``{"section.key": help}`` for every field, for CLI help text, with its bounds (``[allowed: >= 1]``).
    The fields of a section whose groups are named flat (``_flat_keys``: ``train.optim.lr``) are listed under
    their full key and, with ``aliases``, under the flat one too (``train.lr``)."""
    out: dict[str, str] = {}
    hints = _field_types(cls)
    flat: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            for k, v in field_help(tp, aliases).items():
                out[f"{f.name}.{k}"] = v
                if aliases and getattr(cls, "_flat_keys", False):
                    flat[k] = v
        else:
            allowed = bounds_text(f.metadata, tp)
            out[f.name] = f.metadata.get("help", "") + (f" [allowed: {allowed}]" if allowed else "")
    return {**out, **flat}
