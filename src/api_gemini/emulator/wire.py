"""Wire helpers shared by the HTTP and Live sides: casing, base64, Google errors."""

from __future__ import annotations

import binascii
from functools import lru_cache
from typing import Any

import msgspec

__all__ = [
    "STATUS_BY_CODE",
    "WireError",
    "b64decode_any",
    "camel_key",
    "decode_json",
    "encode_json",
    "error_body",
    "to_camel",
]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

#: Encode plain data as compact JSON bytes.
encode_json = _encoder.encode
#: Decode JSON bytes or str into plain data (raises msgspec.DecodeError).
decode_json = _decoder.decode

#: google.rpc.Code names for the HTTP statuses the emulator uses.
STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class WireError(Exception):
    """A request the emulator rejects: the HTTP status, message and error details."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details
        #: Extra response headers (``Retry-After``).
        self.headers = headers or {}


def error_body(err: WireError) -> bytes:
    """Google's error JSON: ``{"error": {"code", "message", "status", "details"?}}``."""
    error: dict[str, Any] = {"code": err.code, "message": err.message, "status": err.status}
    if err.details:
        error["details"] = err.details
    return encode_json({"error": error})


@lru_cache(maxsize=1024)
def camel_key(key: str) -> str:
    """``"turn_complete"`` -> ``"turnComplete"``; camelCase keys are returned unchanged."""
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


# Values under these keys are user data (google.protobuf.Struct / JSON Schema), whose
# keys must be kept as the user wrote them: a proto-JSON parser does not rename them.
_FREE_FORM = frozenset(
    {"args", "response", "parametersJsonSchema", "responseJsonSchema", "labels", "example"}
)
# Maps whose keys are user names but whose values are messages (Schema.properties).
_NAME_MAPS = frozenset({"properties"})


def to_camel(value: Any) -> Any:
    """Rename snake_case keys to camelCase, recursively, as proto-JSON parsers accept both.

    Keys inside free-form values (function ``args``, ``response``, JSON schemas) are
    left alone.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = camel_key(key) if isinstance(key, str) and "_" in key else key
            if name in _FREE_FORM:
                out[name] = item
            elif name in _NAME_MAPS and isinstance(item, dict):
                out[name] = {k: to_camel(v) for k, v in item.items()}
            else:
                out[name] = to_camel(item)
        return out
    if isinstance(value, list):
        return [to_camel(item) for item in value]
    return value


_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64decode_any(data: str) -> bytes:
    """Decode base64 in the standard or URL-safe alphabet, padded or not.

    Raises:
        ValueError: not base64.
    """
    raw = data.encode("ascii", "strict").translate(_URLSAFE_TO_STD)
    raw = raw.rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None
