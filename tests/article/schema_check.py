"""A small JSON Schema (2020-12) validator for the keywords pipeline/schemas/article-v1.json uses.

newsflow has no jsonschema dependency; this checks every keyword of the contract, including
``pattern``, ``maxLength``, ``maxItems`` and the ``uri``/``date-time`` formats, and refuses a
keyword it does not know (so a new constraint in the schema cannot go unchecked).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pipeline.schemas import schema_text

SCHEMA: dict[str, Any] = json.loads(schema_text(1))
BODY_SCHEMA: dict[str, Any] = SCHEMA["properties"]["body"]

_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})
_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$"
)
_TYPES: dict[str, Any] = {
    "string": str,
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}


def errors(instance: Any, schema: dict[str, Any] | None = None, path: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (the whole contract by default), as messages."""
    schema = SCHEMA if schema is None else schema
    found: list[str] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        check = _CHECKS.get(keyword)
        if check is None:
            raise AssertionError(f"schema keyword {keyword!r} at {path} is not checked here")
        found += check(instance, value, schema, path)
    return found


def body_errors(article: dict[str, Any]) -> list[str]:
    """:func:`errors` of an article (the decoded ``body`` of a stream entry)."""
    return errors(article, BODY_SCHEMA, "$.body")


def _type(instance: Any, value: Any, _: dict[str, Any], path: str) -> list[str]:
    names = value if isinstance(value, list) else [value]
    for name in names:
        if name == "integer" and isinstance(instance, int) and not isinstance(instance, bool):
            return []
        is_number = isinstance(instance, int | float) and not isinstance(instance, bool)
        if name == "number" and is_number:
            return []
        if name in _TYPES and isinstance(instance, _TYPES[name]):
            return []
    return [f"{path}: {type(instance).__name__} is not {value}"]


def _ref(instance: Any, value: str, _: dict[str, Any], path: str) -> list[str]:
    assert value.startswith("#/"), value
    target: Any = SCHEMA
    for part in value[2:].split("/"):
        target = target[part]
    return errors(instance, target, path)


def _properties(instance: Any, value: dict[str, Any], _: dict[str, Any], path: str) -> list[str]:
    if not isinstance(instance, dict):
        return []
    found: list[str] = []
    for name, sub in value.items():
        if name in instance:
            found += errors(instance[name], sub, f"{path}.{name}")
    return found


def _additional(instance: Any, value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known = set(schema.get("properties", {}))
    found: list[str] = []
    for name, item in instance.items():
        if name not in known:
            found += errors(item, value, f"{path}.{name}")
    return found


def _required(instance: Any, value: list[str], _: dict[str, Any], path: str) -> list[str]:
    if not isinstance(instance, dict):
        return []
    return [f"{path}: {name} is missing" for name in value if name not in instance]


def _items(instance: Any, value: dict[str, Any], _: dict[str, Any], path: str) -> list[str]:
    if not isinstance(instance, list):
        return []
    return [e for i, item in enumerate(instance) for e in errors(item, value, f"{path}[{i}]")]


def _max_items(instance: Any, value: int, _: dict[str, Any], path: str) -> list[str]:
    if isinstance(instance, list) and len(instance) > value:
        return [f"{path}: {len(instance)} items, over {value}"]
    return []


def _max_length(instance: Any, value: int, _: dict[str, Any], path: str) -> list[str]:
    if isinstance(instance, str) and len(instance) > value:
        return [f"{path}: {len(instance)} characters, over {value}"]
    return []


def _pattern(instance: Any, value: str, _: dict[str, Any], path: str) -> list[str]:
    if isinstance(instance, str) and not re.search(value, instance):
        return [f"{path}: {instance[:80]!r} does not match {value}"]
    return []


def _format(instance: Any, value: str, _: dict[str, Any], path: str) -> list[str]:
    if not isinstance(instance, str):
        return []
    if value == "uri":
        ok = bool(_URI.match(instance))
    elif value == "date-time":
        try:
            ok = datetime.fromisoformat(instance.replace("Z", "+00:00")).tzinfo is not None
        except ValueError:
            ok = False
    else:
        raise AssertionError(f"format {value!r} is not checked here")
    return [] if ok else [f"{path}: {instance[:80]!r} is not a {value}"]


def _enum(instance: Any, value: list[Any], _: dict[str, Any], path: str) -> list[str]:
    return [] if instance in value else [f"{path}: {instance!r} not in {value}"]


def _const(instance: Any, value: Any, _: dict[str, Any], path: str) -> list[str]:
    return [] if instance == value else [f"{path}: {instance!r} is not {value!r}"]


def _minimum(instance: Any, value: float, _: dict[str, Any], path: str) -> list[str]:
    if isinstance(instance, int | float) and instance < value:
        return [f"{path}: {instance} < {value}"]
    return []


def _maximum(instance: Any, value: float, _: dict[str, Any], path: str) -> list[str]:
    if isinstance(instance, int | float) and instance > value:
        return [f"{path}: {instance} > {value}"]
    return []


_CHECKS: dict[str, Any] = {
    "type": _type,
    "$ref": _ref,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "items": _items,
    "maxItems": _max_items,
    "maxLength": _max_length,
    "pattern": _pattern,
    "format": _format,
    "enum": _enum,
    "const": _const,
    "minimum": _minimum,
    "maximum": _maximum,
}
