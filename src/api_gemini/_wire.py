"""What every wire type shares: key spelling, fields carried through, the decoded frame.

Three rules of the Gemini API's JSON (protobuf JSON) shape this module:

* **Both spellings.** The service accepts every field in ``lowerCamelCase`` and in its
  original ``snake_case``. :func:`normalise` turns a caller's dict, in either spelling
  and nested at any depth, into the camelCase wire form, renaming only keys that are
  fields of the type at that place: free-form values (a function's ``parameters``
  schema, ``args``, a ``response``) are never renamed, since their keys are data.
* **Nothing dropped.** A key the library does not type is kept, as given, in the
  ``extra`` field of the object at that depth, and :func:`encode` sends it back where it
  was. A typo therefore reaches the server, whose own 400 / close 1007 names it. A typed
  object takes raw fields the same way: ``GenerationConfig(extra={"newKnob": 1})``.
* **The frame stays reachable.** Each response, chunk and event keeps the frame it came
  from (:class:`Frame`), decoded into a dict only when ``.raw`` is read, so a field the
  library does not type yet costs nothing on the per-chunk path and is never lost.
"""

from __future__ import annotations

import copy
import json
import logging
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Final, TypeVar, Union

import msgspec

from .errors import InvalidRequestError

__all__ = [
    "EXTRA_KEY",
    "Frame",
    "RawFrame",
    "WireStruct",
    "camel",
    "convert",
    "convert_dropping_bad_metadata",
    "decode_response",
    "encode",
    "error_path",
    "normalise",
    "raw_of",
    "to_wire",
]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=msgspec.Struct)
R = TypeVar("R")

#: The key under which a type's ``extra`` travels inside msgspec (never on the wire:
#: :func:`encode` merges its content into the object that holds it). A name no
#: schema property or API field plausibly has.
EXTRA_KEY: Final = "__api_gemini_extra__"
_EXTRA_BYTES: Final = EXTRA_KEY.encode()


class WireStruct(
    msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True, repr_omit_defaults=True
):
    """Base of all wire types: camelCase names, defaults omitted, keyword-only.

    Attributes:
        extra: wire fields the library does not type, in wire form (camelCase, or as the
            caller spelled them); sent beside the typed fields of this object. Filled
            from the unknown keys of a dict request; set it on a typed object to send a
            field the library does not know yet.
    """

    extra: dict[str, Any] | None = msgspec.field(default=None, name=EXTRA_KEY)

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form (camelCase keys, defaults omitted, ``extra`` merged)."""
        result: dict[str, Any] = to_wire(self)
        return result


def camel(name: str) -> str:
    """``"max_output_tokens"`` -> ``"maxOutputTokens"``; camelCase is returned unchanged."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


# --------------------------------------------------------------------------- normalising

# What a field holds, for renaming: a struct, a list of structs, or anything else.
_Shape = tuple[str, Any]


def _struct_in(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct type inside ``tp`` (``X``, ``X | None``, ``X | str``), if any."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            found = _struct_in(arg)
            if found is not None:
                return found
    return None


def _shape(tp: Any) -> _Shape:
    struct = _struct_in(tp)
    if struct is not None:
        return ("struct", struct)
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            if typing.get_origin(arg) is list:
                return _shape(arg)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        inner = _struct_in(item)
        if inner is not None:
            return ("list", inner)
    return ("value", None)


@cache
def _fields(struct: type[msgspec.Struct]) -> dict[str, tuple[str, _Shape]]:
    """Every accepted spelling of ``struct``'s fields -> (wire name, shape)."""
    hints = typing.get_type_hints(struct)
    table: dict[str, tuple[str, _Shape]] = {}
    for info in msgspec.structs.fields(struct):
        if info.encode_name == EXTRA_KEY:
            continue
        entry = (info.encode_name, _shape(hints[info.name]))
        table[info.encode_name] = entry
        table[info.name] = entry
    return table


def normalise(value: Mapping[str, Any], struct: type[msgspec.Struct]) -> dict[str, Any]:
    """A caller's dict in wire form for ``struct``: known keys in camelCase (at any
    depth), unknown keys kept as given under :data:`EXTRA_KEY` (msgspec puts them in
    ``extra``). Typed objects inside the dict are kept as they are.

    Raises:
        InvalidRequestError: a field is given twice (in both spellings).
    """
    table = _fields(struct)
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, item in value.items():
        entry = table.get(key) if isinstance(key, str) else None
        if entry is None:
            if key == EXTRA_KEY and isinstance(item, Mapping):
                extra.update(item)
            else:
                extra[key] = item
            continue
        name, (kind, inner) = entry
        if name in out:
            raise InvalidRequestError(
                f"{struct.__name__}: field {name!r} is given twice (camelCase and snake_case)"
            )
        if kind == "struct" and isinstance(item, Mapping):
            item = normalise(item, inner)
        elif kind == "list" and isinstance(item, list | tuple):
            item = [normalise(x, inner) if isinstance(x, Mapping) else x for x in item]
        out[name] = item
    if extra:
        out[EXTRA_KEY] = extra
    return out


def convert(value: Mapping[str, Any] | T, struct: type[T]) -> T:
    """``value`` as a ``struct``: a dict in either spelling (see :func:`normalise`),
    or an instance, returned as is.

    Raises:
        InvalidRequestError: a value has the wrong type, or a field is given twice.
    """
    if isinstance(value, struct):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"expected a {struct.__name__} or a dict, not {type(value).__name__}"
        )
    try:
        return msgspec.convert(normalise(value, struct), struct)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"invalid {struct.__name__}: {exc}") from None


# --------------------------------------------------------------------------- encoding

_encoder: Final = msgspec.json.Encoder()


def _merge(target: Any, extra: Any) -> Any:
    """Deep-merge ``extra`` into ``target`` (dicts by key, same-length lists by index)."""
    if isinstance(target, dict) and isinstance(extra, Mapping):
        for key, value in extra.items():
            target[key] = _merge(target[key], value) if key in target else value
        return target
    if isinstance(target, list) and isinstance(extra, list) and len(target) == len(extra):
        return [_merge(t, e) for t, e in zip(target, extra, strict=True)]
    return extra


def _lift_extras(value: Any) -> Any:
    """Move every :data:`EXTRA_KEY` entry of a to_builtins tree into its object."""
    if isinstance(value, dict):
        extra = value.pop(EXTRA_KEY, None)
        for key, item in value.items():
            if isinstance(item, dict | list):
                value[key] = _lift_extras(item)
        if extra:
            _merge(value, extra)
        return value
    if isinstance(value, list):
        return [_lift_extras(item) if isinstance(item, dict | list) else item for item in value]
    return value


def to_wire(value: Any) -> Any:
    """The wire form of a wire type (or plain data holding them) as Python builtins,
    with every ``extra`` merged into its object."""
    return _lift_extras(msgspec.to_builtins(value))


def encode(value: Any) -> bytes:
    """Compact JSON bytes of ``value``, ``extra`` fields merged into their objects.

    The common case (no ``extra`` anywhere) is one msgspec encode and a substring scan.
    """
    data = _encoder.encode(value)
    if _EXTRA_BYTES not in data:
        return data
    return _encoder.encode(to_wire(value))


# --------------------------------------------------------------------------- decoding

_MAX_REPAIRS: Final = 16


def error_path(exc: msgspec.ValidationError) -> list[str | int] | None:
    """``... - at `$.usageMetadata.promptTokenCount``` -> ["usageMetadata", ...]."""
    text = str(exc)
    start = text.rfind("at `$")
    if start < 0:
        return None
    path: list[str | int] = []
    for piece in text[start + 5 : text.rfind("`")].replace("[", ".[").split("."):
        if not piece:
            continue
        if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
            path.append(int(piece[1:-1]))
        else:
            path.append(piece)
    return path


def _unrepresentable(error: msgspec.ValidationError) -> bool:
    """A number the field's type cannot hold (``1e999``, ``2.5`` tokens), as opposed to
    a value of the wrong kind (``"many"``), which stays an error."""
    text = str(error)
    return text.startswith("Number out of range") or "got `float`" in text


def convert_dropping_bad_metadata(
    whole: dict[str, Any], struct: type[R], first: msgspec.ValidationError
) -> R:
    """Convert a decoded frame whose typed decode failed with ``first``: numbers that a
    metadata field (``usageMetadata``, ``groundingMetadata``...) cannot hold (a token
    count of ``1e999``) are left out of the typed result, with a warning, so the answer
    beside them is kept (``.raw`` still has them). ``whole`` is not modified.

    Raises:
        msgspec.ValidationError: a bad value outside metadata (or too many).
    """
    error = first
    copied = False
    for _ in range(_MAX_REPAIRS):
        path = error_path(error)
        if (
            not path
            or not any(isinstance(p, str) and p.endswith("Metadata") for p in path)
            or not _unrepresentable(error)
        ):
            raise error
        if not copied:  # the frame's dict (.raw) shares these objects: keep it whole
            whole, copied = copy.deepcopy(whole), True
        parent: Any = whole
        try:
            for piece in path[:-1]:
                parent = parent[piece]
            del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            raise error from None
        logger.warning("server response: %s; the value is left out (see .raw)", error)
        try:
            return msgspec.convert(whole, struct, strict=False)
        except msgspec.ValidationError as exc:
            error = exc
    raise error


def decode_response(data: bytes | str, decoder: msgspec.json.Decoder[R], struct: type[R]) -> R:
    """Decode an HTTP body or SSE chunk into ``struct``, keeping the frame for ``.raw``
    (types with ``dict=True``) and dropping only bad metadata values (see
    :func:`convert_dropping_bad_metadata`).

    Raises:
        msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError: the
            body is not valid JSON of that type.
    """
    try:
        result = decoder.decode(data)
        frame = Frame(data)
    except msgspec.ValidationError as exc:
        frame = Frame(data)
        whole = frame.as_dict()
        result = convert_dropping_bad_metadata(whole, struct, exc)
    attrs = getattr(result, "__dict__", None)
    if attrs is not None:
        attrs["_frame"] = frame
    return result


# --------------------------------------------------------------------------- raw frames

_any_decoder: Final = msgspec.json.Decoder()


class Frame(msgspec.Struct):
    """The frame (JSON text) a response, chunk or event was decoded from.

    Decoded into a dict on first use only: the per-chunk path makes this small object
    (a msgspec struct, cheap to create) and nothing more. Provenance, not value: two
    frames always compare equal, so events and responses compare by their typed
    fields.
    """

    data: Any
    cached: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The frame as a dict (decoded once; a non-object frame gives ``{}``)."""
        result: dict[str, Any] | None = self.cached
        if result is None:
            data = self.data
            if isinstance(data, Mapping):
                decoded: Any = dict(data)
            else:
                try:
                    decoded = _any_decoder.decode(data)
                except (msgspec.DecodeError, RecursionError):
                    # Numbers beyond a double (1e999): Python's parser gives inf.
                    decoded = json.loads(data)
            result = self.cached = decoded if isinstance(decoded, dict) else {}
        return result

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Frame)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        data = self.data
        return f"Frame({len(data)} bytes)" if isinstance(data, bytes | str) else "Frame(dict)"


class RawFrame:
    """Mixin of the response types that keep their frame: ``.raw``."""

    __slots__ = ()

    @property
    def raw(self) -> dict[str, Any]:
        """The decoded frame (or HTTP body) this object came from, with every field the
        server sent, typed here or not; an object built in Python gives its own wire
        form."""
        return raw_of(self)


def raw_of(obj: Any) -> dict[str, Any]:
    """``obj.raw`` for a wire type decoded with ``dict=True``: its frame, else its own
    wire form (an object the caller built has no frame)."""
    frame = obj.__dict__.get("_frame")
    if frame is not None:
        result: dict[str, Any] = frame.as_dict()
        return result
    built: dict[str, Any] = to_wire(obj)
    return built
