"""The pipeline reference, generated from the pydantic schema in `config.py`: every key with its type, default,
bounds and description. `logvec reference > docs/reference/pipeline.md` writes it; a test fails when the file
in the repository is not what the code generates, so the reference cannot drift from the schema.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from logvec.config import PipelineConfig, Unit

HEADER = """# Pipeline reference

Generated from the schema in `logvec/config.py` by `logvec reference`; do not edit by hand (a test compares the
two). Concepts and examples: [pipelines](../pipelines.md), [detection](../detection.md). Any string may use
`${VAR}` or `${VAR:-default}`; an unknown key is an error that names it. `extends: FILE` (a path relative to
the file) starts from another pipeline: mappings merge key by key, and a mapping of another `type` replaces
the base's whole. A *duration* is written with its unit (`500ms`, `30s`, `5m`, `1h`; a bare number is
seconds), a *size* too (`512`, `64KiB`, `256MiB`; a bare number is bytes); see [units](../pipelines.md#units).
"""


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (a union of source kinds gives each)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        return [m for a in typing.get_args(annotation) for m in _models(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _unit(metadata: Any) -> str | None:
    return next((m.name for m in metadata if isinstance(m, Unit)), None)


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _unit(args[1:]) or _type(args[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if annotation is type(None):
        return "empty"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        tag = _tag(annotation)
        return f"mapping (`type: {tag}`)" if tag else "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _tag(model: type[BaseModel]) -> str | None:
    """The `type:` value that selects this model among its siblings (a one-value Literal), if it has one."""
    kind = model.model_fields.get("type")
    if kind is None or typing.get_origin(kind.annotation) is not Literal:
        return None
    values = typing.get_args(kind.annotation)
    return str(values[0]) if len(values) == 1 else None


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            tag = getattr(value, "type", None)
            return f"`type: {tag}`" if isinstance(tag, str) else "its defaults"
        return f"`{value}`" if value not in ([], {}) else "empty"
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None or field.default == "":
        return "empty"
    return f"`{field.default}`"


def _amount(value: Any, unit: str | None) -> str:
    """A bound as a user writes it: `1s` for a duration, `1MiB` for a size."""
    if unit == "duration":
        return f"{value:g}s"
    if unit == "size":
        for suffix, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= scale and value % scale == 0:
                return f"{value // scale}{suffix}"
        return f"{value}B"
    return str(value)


def _bounds(field) -> str:
    words = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    unit = _unit(field.metadata)
    out = []
    for m in field.metadata:
        for attr, sign in words.items():
            value = getattr(m, attr, None)
            if value is not None:
                out.append(f"{sign} {_amount(value, unit)}")
        if getattr(m, "pattern", None):
            out.append(f"matches `{m.pattern}`")
        if getattr(m, "min_length", None):
            out.append(f"at least {m.min_length}")
    return ", ".join(out)


def _section(path: str, model: type[BaseModel], seen: set, out: list[str]) -> None:
    if model in seen:  # one section a model: a detector kind reads the same as a member of an ensemble
        return
    seen.add(model)
    doc = " ".join((model.__doc__ or "").split())
    tag = _tag(model)
    out += [f"## `{path}`" + (f" — `type: {tag}`" if tag else ""), ""]
    if doc and not doc.startswith(model.__name__ + "("):
        out += [doc, ""]
    out += ["| key | type | default | bounds | description |", "|---|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        desc = " ".join((field.description or "").split())
        if name == "type" and not desc and _tag(model):
            desc = "selects this kind"
        kind = _unit(field.metadata) or _type(field.annotation)
        out.append(f"| `{name}` | {kind} | {_default(field)} | {_bounds(field)} | {desc} |")
        nested += [(f"{path}.{name}", m) for m in _models(field.annotation)]
    out.append("")
    for sub_path, sub in nested:
        _section(sub_path, sub, seen, out)


def pipeline_reference() -> str:
    out = [HEADER]
    _section("(top level)", PipelineConfig, set(), out)
    text = "\n".join(out).replace("## `(top level)`", "## Top level").replace("## `(top level).", "## `")
    return text.rstrip() + "\n"
