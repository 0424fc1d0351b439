"""Backward compatibility of event JSON Schemas: what a consumer of the old schema relies on must still hold.

Within a major version fields may be added; removing a field, changing its type, adding a required field or
narrowing a set of allowed values is incompatible and needs a new major version (a new event_type).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root.get("$defs", {})[name]
    return schema


def _types(schema: Schema, root: Schema) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return set().union(*(_types(s, root) for s in schema["anyOf"]))
    if "const" in schema:
        return {f"const:{schema['const']}"}
    if "enum" in schema:
        return {f"const:{v}" for v in schema["enum"]}
    return {schema.get("type", "any")}


def incompatibilities(old: Schema, new: Schema, *, _path: str = "", _roots: tuple[Schema, Schema] | None = None) -> list[str]:
    """Every way in which `new` breaks a consumer or producer written against `old`, as readable sentences."""
    old_root, new_root = _roots or (old, new)
    old_s, new_s = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    where = _path or "(event)"

    lost = _types(old_s, old_root) - _types(new_s, new_root)
    if lost and "any" not in _types(new_s, new_root):
        problems.append(f"{where}: type or allowed values {sorted(lost)} removed")

    old_props, new_props = old_s.get("properties", {}), new_s.get("properties", {})
    for name, old_prop in old_props.items():
        child = f"{_path}.{name}" if _path else name
        if name not in new_props:
            problems.append(f"{child}: field removed")
            continue
        problems += incompatibilities(old_prop, new_props[name], _path=child, _roots=(old_root, new_root))
    added_required = set(new_s.get("required", [])) - set(old_s.get("required", []))
    for name in sorted(added_required):
        problems.append(f"{_path + '.' if _path else ''}{name}: new required field")

    for key in ("items",):
        if key in old_s and key in new_s:
            problems += incompatibilities(old_s[key], new_s[key], _path=f"{_path}[]", _roots=(old_root, new_root))
    for branch_old in old_s.get("anyOf", []):
        # Each old alternative must still be accepted by some new alternative (e.g. "X or null").
        matches = [b for b in new_s.get("anyOf", []) if _types(b, new_root) & _types(branch_old, old_root)]
        for branch_new in matches[:1]:
            problems += incompatibilities(branch_old, branch_new, _path=_path, _roots=(old_root, new_root))
    return problems
