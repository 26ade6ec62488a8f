"""The published stream entry contracts as JSON Schema, shipped inside the package.

``article-v1.json`` here is the one source of truth for contract v1: the tests validate
published entries against it, and ``newsflow schema`` prints it (from the wheel or the image
just as from a checkout).
"""

from __future__ import annotations

from importlib import resources

VERSIONS = (1,)
"""The entry contract versions a schema ships for."""


def schema_text(version: int = 1) -> str:
    """The JSON Schema text of entry contract ``version``, as shipped (byte for byte)."""
    if version not in VERSIONS:
        raise ValueError(f"no schema for contract version {version} (known: {VERSIONS})")
    return (
        resources.files(__name__).joinpath(f"article-v{version}.json").read_text(encoding="utf-8")
    )
