"""Proto-JSON checking of request bodies against the wire schema, as the real parser does.

The field table (``wire_schema.json``) is generated from google-genai 3.6.1's types by
``scripts/gen_wire_schema.py``; nothing in it is written by hand.

What the real service's proto-JSON parser does, and so what :func:`parse` does:

- every field may be spelled ``lowerCamelCase`` or in its proto ``snake_case`` name;
  the result uses camelCase keys;
- an unknown field is refused: ``Invalid JSON payload received. Unknown name "x" at
  'setup.generation_config': Cannot find field.`` (no ``at`` part at the top level).
  Sources: googleapis/js-genai#696 (Live, 1007), decolua/9router#1876 (HTTP 400, top
  level), danny-avila/LibreChat#11761 (HTTP 400, the path and ``fieldViolations``);
- a value of the wrong JSON type is refused: ``Invalid value at 'setup.model'
  (TYPE_STRING), 5``; ``null`` counts as absent; a single value where a list is due is
  a list of one (Google's Live console template sent ``"responseModalities": "audio"``);
- an enum value that is not one of the enum's names (nor its number) is refused with
  the enum's proto name, in the request's API version: ``Invalid value at
  'safety_settings[5].category' (type.googleapis.com/google.ai.generativelanguage.
  v1beta.HarmCategory), "HARM_CATEGORY_JAILBREAK"`` (567-labs/instructor#1862 quotes the
  whole 400; NEKOparapa/AiNiee#746); a message given as a scalar likewise names the
  message (``(type.googleapis.com/google.ai.generativelanguage.v1beta.Content)``);
- free-form values (``google.protobuf.Struct``: function ``args``, ``response``, JSON
  schemas) are kept exactly as written.

Paths use the proto (snake_case) names, ``[i]`` for list items and ``[i].value`` for
map entries, as in the errors quoted above. Enum names are matched without regard to
case, as the service does: Google's own Live API web console template sent
``"responseModalities": "audio"`` (google-gemini/live-api-web-console,
``src/components/altair/Altair.tsx``) and the function-calling REST examples send
``"type": "object"``; no public report shows a refusal for case alone.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from .wire import b64decode_any

__all__ = ["SchemaError", "Violation", "parse", "snake_name"]

_PROTO_TYPES = {
    "string": "TYPE_STRING",
    "bool": "TYPE_BOOL",
    "int": "TYPE_INT32",
    "number": "TYPE_FLOAT",
    "bytes": "TYPE_BYTES",
    "timestamp": "type.googleapis.com/google.protobuf.Timestamp",
    "duration": "type.googleapis.com/google.protobuf.Duration",
}
_INT_STRING = re.compile(r"-?\d+")
_NUMBER_STRING = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN|-?Infinity")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
#: What a proto enum value name can be (a value that is not one is never valid).
_ENUM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Violation(tuple[str, str]):
    """One refused field: ``(field path, description)``."""

    __slots__ = ()

    @property
    def field(self) -> str:
        """The proto path of the field (``""`` at the top level)."""
        return self[0]

    @property
    def description(self) -> str:
        """The parser's sentence."""
        return self[1]


class SchemaError(ValueError):
    """A body the proto-JSON parser refuses; ``violations`` lists every problem found."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Every description, one a line (the real ``error.message``)."""
        return "\n".join(v.description for v in self.violations)

    def details(self) -> list[dict[str, Any]]:
        """Google's ``BadRequest`` detail listing the violations."""
        violations = []
        for v in self.violations:
            entry = (
                {"field": v.field, "description": v.description}
                if v.field
                else {"description": v.description}
            )
            violations.append(entry)
        return [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}
        ]


@lru_cache(maxsize=1)
def _messages() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("wire_schema.json").read_text("utf-8")
    messages: dict[str, dict[str, Any]] = json.loads(text)["messages"]
    return messages


@lru_cache(maxsize=4096)
def snake_name(camel: str) -> str:
    """``"generationConfig"`` -> ``"generation_config"`` (the proto field name)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


@lru_cache(maxsize=4096)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Parser:
    __slots__ = ("api_version", "messages", "violations")

    def __init__(self, api_version: str) -> None:
        self.api_version = api_version
        self.messages = _messages()
        self.violations: list[Violation] = []

    def type_url(self, proto_name: str) -> str:
        """``type.googleapis.com/google.ai.generativelanguage.v1beta.Content``."""
        return f"type.googleapis.com/google.ai.generativelanguage.{self.api_version}.{proto_name}"

    def refuse(self, path: str, description: str) -> None:
        self.violations.append(Violation((path, description)))

    def message(self, name: str, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.refuse(path, f"Invalid value at '{path}' ({self.type_url(name)}), {_show(value)}")
            return None
        fields = self.messages[name]
        out: dict[str, Any] = {}
        for key, item in value.items():
            camel = _camel(key) if isinstance(key, str) and "_" in key else key
            spec = fields.get(camel) if isinstance(camel, str) else None
            if spec is None:
                where = f" at '{path}'" if path else ""
                unknown = f'Unknown name "{key}"{where}: Cannot find field.'
                self.refuse(path, f"Invalid JSON payload received. {unknown}")
                continue
            if item is None:
                continue
            out[camel] = self.value(spec, item, _join(path, snake_name(camel)))
        return out

    def value(self, spec: list[Any], value: Any, path: str) -> Any:
        kind, target = spec
        if kind == "repeated":
            if not isinstance(value, list):
                # Google's parser takes a single value for a repeated field as a list of
                # one: its own Live console template sent "responseModalities": "audio"
                # (google-gemini/live-api-web-console, src/components/altair/Altair.tsx).
                return [self.value(target, value, path)]
            return [self.value(target, item, f"{path}[{i}]") for i, item in enumerate(value)]
        if kind == "message":
            return self.message(target, value, path)
        if kind == "map":
            if not isinstance(value, dict):
                self.refuse(path, f"Invalid value at '{path}' (map), {_show(value)}")
                return value
            return {
                k: self.value(target, v, f"{path}[{i}].value")
                for i, (k, v) in enumerate(value.items())
            }
        if kind == "struct":
            return value
        if kind == "enum":
            return self.enum(target, value, path)
        if not _scalar_ok(kind, value):
            # The parser's wording for bytes that are not base64 adds the reason.
            why = (
                "Base64 decoding failed for " if kind == "bytes" and isinstance(value, str) else ""
            )
            where = f"Invalid value at '{path}' ({_PROTO_TYPES[kind]})"
            self.refuse(path, f"{where}, {why}{_show(value)}")
        return value

    def enum(self, spec: dict[str, Any], value: Any, path: str) -> Any:
        names: list[str] = spec["values"]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return names[value]
        if isinstance(value, str):
            if value in names:
                return value
            name = _names_by_case(tuple(names)).get(value.casefold())
            if name is not None:
                return name
            if spec.get("open") and _ENUM_NAME.fullmatch(value):
                return value  # an enum whose names are not all published
        where = f"Invalid value at '{path}' ({self.type_url(spec['type'])})"
        self.refuse(path, f"{where}, {_show(value)}")
        return value


@lru_cache(maxsize=256)
def _names_by_case(names: tuple[str, ...]) -> dict[str, str]:
    return {name.casefold(): name for name in names}


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, str) and _INT_STRING.fullmatch(value) is not None
    if kind == "number":
        if isinstance(value, bool):
            return False
        return isinstance(value, (int, float)) or (
            isinstance(value, str) and _NUMBER_STRING.fullmatch(value) is not None
        )
    if kind == "bytes":
        if not isinstance(value, str):
            return False
        try:
            b64decode_any(value)
        except ValueError:
            return False
        return True
    if kind == "timestamp":
        return isinstance(value, str) and _TIMESTAMP.fullmatch(value) is not None
    if kind == "duration":
        return isinstance(value, str) and _DURATION.fullmatch(value) is not None
    return True


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def parse(message: str, body: Any, path: str = "", api_version: str = "v1beta") -> Any:
    """Check ``body`` against wire message ``message``; return it with camelCase keys.

    ``path`` is where the body sits in the request (``"setup"`` for a Live setup);
    ``api_version`` names the proto package in refusals (``...v1alpha.Content``).

    Raises:
        SchemaError: unknown fields or values of the wrong type, all of them listed.
    """
    parser = _Parser(api_version)
    out = parser.message(message, body, path)
    if parser.violations:
        raise SchemaError(parser.violations)
    return out
