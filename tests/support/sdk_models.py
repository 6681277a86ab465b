"""What an official Azure SDK model says the service returns, and which of those fields it read as None.

The management SDKs come in two generations, and both carry the spec's ``readOnly`` marks:
- TypeSpec-generated models (``azure-mgmt-hardwaresecuritymodules`` 1.x, ``azure-mgmt-storage`` 25.x,
  ``azure-mgmt-network`` 33.x) declare each field with ``rest_field(visibility=[...])``; a field whose
  only visibility is ``"read"`` is one the service returns and a client never sends;
- AutoRest/msrest models (``azure-mgmt-authorization``, ``azure-mgmt-msi``) list them in
  ``_validation`` as ``{"readonly": True}``.

:func:`unread_returned` walks a deserialised model and names every such field that is None, with its
path, so a test can hold the sandbox to what the spec says ARM returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def returned_fields(model: Any) -> list[tuple[str, str]]:
    """``(attribute, wire name)`` of each field the model's spec marks read-only (returned by ARM)."""
    typespec = getattr(type(model), "_attr_to_rest_field", None)
    if isinstance(typespec, dict):
        return [
            (attr, field._rest_name)
            for attr, field in typespec.items()
            if getattr(field, "_visibility", None) == ["read"]
        ]
    validation = getattr(type(model), "_validation", None)
    attribute_map = getattr(type(model), "_attribute_map", None)
    if isinstance(validation, dict) and isinstance(attribute_map, dict):
        return [
            (attr, str(attribute_map[attr]["key"]).split(".")[-1])
            for attr, rule in validation.items()
            if isinstance(rule, dict) and rule.get("readonly") and attr in attribute_map
        ]
    return []


def is_model(value: Any) -> bool:
    """Whether ``value`` is an SDK model of either generation."""
    cls = type(value)
    return hasattr(cls, "_attr_to_rest_field") or hasattr(cls, "_attribute_map")


def all_fields(model: Any) -> list[tuple[str, str]]:
    """``(attribute, wire name)`` of every field the model declares."""
    typespec = getattr(type(model), "_attr_to_rest_field", None)
    if isinstance(typespec, dict):
        return [(attr, field._rest_name) for attr, field in typespec.items()]
    attribute_map = getattr(type(model), "_attribute_map", {})
    return [(attr, str(rule["key"]).split(".")[-1]) for attr, rule in attribute_map.items()]


def unread_returned(model: Any, path: str = "") -> Iterator[str]:
    """The path of every read-only field that reads None, in this model and the models it holds.

    Paths use the wire names; ``[]`` stands for any item of a list and ``{}`` for any value of a map,
    so one path names the field wherever it repeats.
    """
    for attr, wire in returned_fields(model):
        if getattr(model, attr, None) is None:
            yield f"{path}{wire}"
    for attr, wire in all_fields(model):
        yield from _unread_in(getattr(model, attr, None), f"{path}{wire}")


def _unread_in(value: Any, path: str) -> Iterator[str]:
    if is_model(value):
        yield from unread_returned(value, path + ".")
    elif isinstance(value, list):
        for item in value:
            yield from _unread_in(item, f"{path}[]")
    elif isinstance(value, dict):
        for item in value.values():
            yield from _unread_in(item, f"{path}{{}}")
