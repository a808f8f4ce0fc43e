"""Ephemeral tokens for the Live API: ``client.auth_tokens.create(...)``.

A server holding the real API key mints a short-lived token (``POST v1alpha/
auth_tokens``) and gives its ``name`` (``auth_tokens/...``) to a client (a browser, a
phone) that must not see the key. That client connects with
``AsyncClient(api_key=token.name)``: the Live endpoint is then
``BidiGenerateContentConstrained`` of API version ``v1alpha``, with the header
``Authorization: Token auth_tokens/...``
(https://ai.google.dev/gemini-api/docs/ephemeral-tokens).

The request's wire form follows google-genai 3.6.1 (``tokens.py``,
``_tokens_converters.py``): ``uses``, ``expireTime``, ``newSessionExpireTime``,
``bidiGenerateContentSetup`` (the locked setup: ``live_connect_constraints``) and
``fieldMask`` (which of its fields are locked; see :meth:`AsyncAuthTokens.create`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._wire import RawFrame, WireStruct, camel, convert
from .errors import InvalidRequestError
from .types import GenerationConfig, encode_json
from .websocket.live_types import LiveConnectConfig

if TYPE_CHECKING:
    from .http.transport import AsyncHttpTransport, CallTimeout, HttpTransport

__all__ = [
    "AsyncAuthTokens",
    "AuthToken",
    "AuthTokens",
    "LiveConnectConstraints",
    "auth_token_body",
]

#: The only API version that has ephemeral tokens (the docs' requirement).
TOKENS_API_VERSION = "v1alpha"

TimeLike = dt.datetime | dt.timedelta | str


class AuthToken(WireStruct, RawFrame, dict=True):
    """A minted token: give ``name`` to the client (``AsyncClient(api_key=name)``)."""

    name: str = ""
    expire_time: str | None = None
    new_session_expire_time: str | None = None
    uses: int | None = None

    def __repr__(self) -> str:
        # ``name`` is a credential (it is sent as the key): a repr lands in logs and
        # tracebacks, so it shows only that a token is there, as the client's does.
        shown = "auth_tokens/…" if self.name else "''"
        return (
            f"AuthToken(name={shown}, expire_time={self.expire_time!r}, "
            f"new_session_expire_time={self.new_session_expire_time!r}, uses={self.uses!r})"
        )


class LiveConnectConstraints(WireStruct):
    """What a token locks: the model and the session config (google-genai's name)."""

    model: str | None = None
    config: LiveConnectConfig | None = None


def _time(value: TimeLike | None, what: str) -> str | None:
    """RFC 3339 (UTC, ``Z``) from a datetime, a delta from now, or a string as given."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta):
        value = dt.datetime.now(dt.UTC) + value
    if not isinstance(value, dt.datetime):
        raise InvalidRequestError(f"{what} must be a datetime, a timedelta or a string")
    if value.tzinfo is None:
        raise InvalidRequestError(f"{what} must be timezone-aware (UTC is safest)")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field_mask(setup: Mapping[str, Any], additional: Sequence[str] | None) -> str | None:
    """google-genai's rule: ``None`` locks the whole setup (no mask); ``[]`` locks the
    fields set (two levels: ``generationConfig.temperature``); names add to those
    (a generation config field gets its ``generationConfig.`` prefix)."""
    if additional is None:
        return None
    fields: list[str] = []
    for key, value in setup.items():
        if isinstance(value, dict) and value:
            fields.extend(f"{key}.{inner}" for inner in value)
        else:
            fields.append(key)
    generation = set(GenerationConfig.__struct_fields__) | {
        camel(name) for name in GenerationConfig.__struct_fields__
    }
    for name in additional:
        fields.append(f"generationConfig.{name}" if name in generation else name)
    return ",".join(fields)


def auth_token_body(
    *,
    uses: int | None = None,
    expire_time: TimeLike | None = None,
    new_session_expire_time: TimeLike | None = None,
    live_connect_constraints: LiveConnectConstraints | Mapping[str, Any] | None = None,
    lock_additional_fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST v1alpha/auth_tokens`` (see :meth:`AsyncAuthTokens.create`).

    Raises:
        InvalidRequestError: a value of the wrong type.
    """
    from .websocket.stream import model_resource_name

    body: dict[str, Any] = {}
    if uses is not None:
        body["uses"] = uses
    if (expire := _time(expire_time, "expire_time")) is not None:
        body["expireTime"] = expire
    if (new_session := _time(new_session_expire_time, "new_session_expire_time")) is not None:
        body["newSessionExpireTime"] = new_session
    if live_connect_constraints is not None:
        constraints = convert(live_connect_constraints, LiveConnectConstraints)
        config = constraints.config or LiveConnectConfig()
        model = model_resource_name(constraints.model) if constraints.model else ""
        # As given, without the session defaults: the token locks what its maker chose.
        setup: dict[str, Any] = config.to_setup(model, apply_defaults=False).to_dict()
        if not model:
            setup.pop("model", None)
        if setup:
            body["bidiGenerateContentSetup"] = setup
            mask = _field_mask(setup, lock_additional_fields)
            if mask:
                body["fieldMask"] = mask
    elif lock_additional_fields:
        body["fieldMask"] = ",".join(lock_additional_fields)
    return body


_CONFIG_FIELDS = (
    "uses",
    "expire_time",
    "new_session_expire_time",
    "live_connect_constraints",
    "lock_additional_fields",
)


def _body(config: Mapping[str, Any] | None, **given: Any) -> bytes:
    """The encoded request: ``config`` (google-genai's form, either spelling) under the
    keyword arguments that are set; a key of ``config`` that is not a token field is
    sent as given (the service names it in its 400 if it does not know it either)."""
    fields: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in (config or {}).items():
        name = next((f for f in _CONFIG_FIELDS if key in (f, camel(f))), None)
        if name is None:
            unknown[key] = value
        else:
            fields[name] = value
    fields.update({key: value for key, value in given.items() if value is not None})
    body = auth_token_body(**fields)
    body.update(unknown)
    return encode_json(body)


class AsyncAuthTokens:
    """``client.auth_tokens``: mint ephemeral tokens (needs the real API key)."""

    def __init__(self, http: AsyncHttpTransport) -> None:
        self._http = http

    async def create(
        self,
        *,
        uses: int | None = None,
        expire_time: TimeLike | None = None,
        new_session_expire_time: TimeLike | None = None,
        live_connect_constraints: LiveConnectConstraints | Mapping[str, Any] | None = None,
        lock_additional_fields: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> AuthToken:
        """Mint a token.

        Args:
            uses: sessions the token may start (service default 1).
            expire_time: when messages stop being accepted (default 30 minutes); a
                datetime, a timedelta from now, or an RFC 3339 string.
            new_session_expire_time: when new sessions stop being accepted (default 1
                minute).
            live_connect_constraints: ``{"model": ..., "config": {...}}`` (or
                :class:`LiveConnectConstraints`): the setup every session of the token
                runs with.
            lock_additional_fields: ``None`` (default) locks the whole setup; ``[]``
                locks only the fields set in the constraints; names lock those fields
                too (``["temperature"]``).
            config: the same fields as one dict, as google-genai takes them
                (``create(config={"uses": 1, "live_connect_constraints": {...}})``);
                a keyword argument wins over the same field in it.
            timeout: seconds for each wait of this call (connect, read, write, pool),
                or a :class:`~api_gemini.settings.Timeouts`; the client's when ``None``.

        Raises:
            ApiError: the service refused (a 400 names the field).
        """
        body = _body(
            config,
            uses=uses,
            expire_time=expire_time,
            new_session_expire_time=new_session_expire_time,
            live_connect_constraints=live_connect_constraints,
            lock_additional_fields=lock_additional_fields,
        )
        return await self._http.request(
            "POST", f"/{TOKENS_API_VERSION}/auth_tokens", AuthToken, body=body, timeout=timeout
        )


class AuthTokens:
    """The synchronous twin of :class:`AsyncAuthTokens`."""

    def __init__(self, http: HttpTransport) -> None:
        self._http = http

    def create(
        self,
        *,
        uses: int | None = None,
        expire_time: TimeLike | None = None,
        new_session_expire_time: TimeLike | None = None,
        live_connect_constraints: LiveConnectConstraints | Mapping[str, Any] | None = None,
        lock_additional_fields: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        timeout: CallTimeout = None,
    ) -> AuthToken:
        """As :meth:`AsyncAuthTokens.create`."""
        body = _body(
            config,
            uses=uses,
            expire_time=expire_time,
            new_session_expire_time=new_session_expire_time,
            live_connect_constraints=live_connect_constraints,
            lock_additional_fields=lock_additional_fields,
        )
        return self._http.request(
            "POST", f"/{TOKENS_API_VERSION}/auth_tokens", AuthToken, body=body, timeout=timeout
        )
