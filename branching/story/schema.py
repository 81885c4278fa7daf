"""JSON Schema of the story format, derived from `spec` (never written by hand).

Editors with the YAML language server use it for completion and hover help:
put `# yaml-language-server: $schema=<path or URL of story.schema.json>` on the
first line of a story. The schema describes shapes only; the checker knows the
rules a schema cannot say (references, types of variables, reachability).
"""

from __future__ import annotations

import json
from typing import Any

from branching.story import spec

_SCALAR_TEXT = {"type": ["string", "number", "boolean"]}  # YAML 1.1 readers may type `No`


def _shape(shape: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"$ref": f"#/$defs/{shape}"}
    shapes: dict[str, dict[str, Any]] = {
        "text": {"type": "string"},
        "id": {"type": "string", "pattern": spec.ID_PATTERN},
        "number": {"type": "number", "minimum": 0},
        "positive": {"type": "number", "exclusiveMinimum": 0},
        "bool": {"type": "boolean"},
        "version": {"const": spec.FORMAT_VERSION},
        "condition": {"type": "string", "maxLength": 1000},
        "template": {"type": "string"},
        "texts": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/variant"}]},
                },
            ]
        },
        "next": {
            "oneOf": [
                {"type": "string", "pattern": spec.ID_PATTERN},
                {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/route"}},
            ]
        },
        "random": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/random_route"}},
        "ending": {"oneOf": [{"type": "boolean"}, {"$ref": "#/$defs/ending"}]},
        "ids": {"type": "array", "items": {"type": "string", "pattern": spec.ID_PATTERN}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "paths": {"type": "array", "items": {"type": "string"}},
        "state": {
            "type": "object",
            "propertyNames": {"pattern": spec.VAR_PATTERN},
            "additionalProperties": {"type": ["boolean", "integer", "number", "string"]},
        },
        "values": {
            "type": "object",
            "additionalProperties": {"type": ["boolean", "integer", "number", "string"]},
        },
        "amounts": {"type": "object", "additionalProperties": {"type": "number"}},
        "effects": {"$ref": "#/$defs/effects"},
        "choices": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/choice"}},
        "scenes": {
            "type": "object",
            "propertyNames": {"pattern": spec.ID_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/scene"},
        },
    }
    return shapes.get(shape, ref)


def _object(keys: tuple[spec.Key, ...], title: str) -> dict[str, Any]:
    props = {k.name: {**_shape(k.shape), "description": k.doc} for k in keys}
    out: dict[str, Any] = {
        "type": "object",
        "title": title,
        "properties": props,
        "additionalProperties": False,
    }
    required = [k.name for k in keys if k.required]
    if required:
        out["required"] = required
    return out


def story_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a story file or a chapter file."""
    defs = {
        name: _object(keys, name)
        for name, keys in spec.OBJECTS.items()
        if name not in ("story", "chapter")
    }
    story = _object(spec.STORY, "story")
    chapter = _object(spec.CHAPTER, "chapter file")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://branching.invalid/schema/story-1.json",
        "title": "branching story (format version 1)",
        "description": "A story file (with 'branching: 1') or a chapter file it includes.",
        "oneOf": [story, chapter],
        "$defs": defs,
    }


def schema_json() -> str:
    return json.dumps(story_schema(), indent=2, sort_keys=False) + "\n"
