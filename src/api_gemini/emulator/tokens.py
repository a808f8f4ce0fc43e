"""Ephemeral tokens: ``POST /v1alpha/auth_tokens`` mints them; Live sessions spend them.

Following https://ai.google.dev/gemini-api/docs/ephemeral-tokens and google-genai's
``tokens.py`` / ``_tokens_converters.py`` (the wire form of a request):

- ``uses`` (default 1; 0: no limit), ``expireTime`` (default 30 minutes from now:
  messages after it are refused), ``newSessionExpireTime`` (default 1 minute: no new
  session after it), ``bidiGenerateContentSetup`` (the locked setup, google-genai's
  ``liveConnectConstraints``) and ``fieldMask`` (which of its fields are locked; absent
  with a setup: all of them).
- The token's ``name`` (``auth_tokens/...``) is the credential of the Live endpoint
  ``BidiGenerateContentConstrained`` of API version ``v1alpha`` only, in the header
  ``Authorization: Token auth_tokens/...`` or the query ``access_token=``.
- Resuming a session does not spend a use (the doc: "resuming ... does not count").
- Locked fields: the session runs with the token's values; what the client sends for
  them is ignored ("changing outputAudioTranscription ... will be ignored by the API").

The refusals' wordings are not published: the emulator closes 1008 with its own
sentences (:data:`TOKEN_REASONS`).
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["TOKEN_REASONS", "EphemeralToken", "TokenStore"]

TOKEN_REASONS = {
    "unknown": "Ephemeral token not valid.",
    "version": "Ephemeral tokens are only supported in API version v1alpha.",
    "used": "Ephemeral token has no uses left.",
    "expired": "Ephemeral token has expired.",
    "new_session": "Ephemeral token can no longer start new sessions.",
}
_MAX_TOKENS = 10_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class EphemeralToken:
    """One minted token and what is left of it."""

    name: str
    uses: int
    uses_left: int
    expire_time: dt.datetime
    new_session_expire_time: dt.datetime
    setup: dict[str, Any] | None
    field_mask: list[str] | None

    def refusal(self, *, new_session: bool, resuming: bool) -> str | None:
        """The reason a use now is refused, else None (does not spend a use)."""
        now = _now()
        if now >= self.expire_time:
            return TOKEN_REASONS["expired"]
        if new_session and not resuming:
            if now >= self.new_session_expire_time:
                return TOKEN_REASONS["new_session"]
            if self.uses and self.uses_left <= 0:
                return TOKEN_REASONS["used"]
        return None

    def effective_setup(self, client: dict[str, Any]) -> dict[str, Any]:
        """The setup a session runs with: the client's, with the locked fields replaced."""
        if self.setup is None:
            return client
        if self.field_mask is None:
            # Everything locked; only the resumption handle still comes from the client.
            merged = copy.deepcopy(self.setup)
            if "sessionResumption" in client and "sessionResumption" not in merged:
                merged["sessionResumption"] = client["sessionResumption"]
            return merged
        merged = copy.deepcopy(client)
        for path in self.field_mask:
            parts = path.split(".")
            source: Any = self.setup
            for part in parts:
                source = source.get(part) if isinstance(source, dict) else None
            target = merged
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            if source is None:
                target.pop(parts[-1], None)
            else:
                target[parts[-1]] = copy.deepcopy(source)
        if "model" in self.setup:
            merged["model"] = self.setup["model"]
        return merged

    def to_wire(self) -> dict[str, Any]:
        """The ``AuthToken`` resource as the service answers it."""
        body: dict[str, Any] = {
            "name": self.name,
            "uses": self.uses,
            "expireTime": _format_time(self.expire_time),
            "newSessionExpireTime": _format_time(self.new_session_expire_time),
        }
        if self.setup is not None:
            body["bidiGenerateContentSetup"] = self.setup
        if self.field_mask is not None:
            body["fieldMask"] = ",".join(self.field_mask)
        return body


class TokenStore:
    """The tokens an emulator has minted (in memory, the newest kept)."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._tokens: dict[str, EphemeralToken] = {}
        self._scale = time_scale

    def mint(self, body: dict[str, Any]) -> EphemeralToken:
        """Mint a token from a schema-checked camelCase request body.

        Raises:
            ValueError: a value the service refuses (the message says which).
        """
        now = _now()
        uses = int(body.get("uses", 1))
        if uses < 0:
            raise ValueError("uses must not be negative.")
        limit = now + dt.timedelta(hours=20)
        expire = (
            _parse_time(body["expireTime"])
            if "expireTime" in body
            else now + dt.timedelta(seconds=1800 * self._scale)
        )
        new_session = (
            _parse_time(body["newSessionExpireTime"])
            if "newSessionExpireTime" in body
            else now + dt.timedelta(seconds=60 * self._scale)
        )
        if expire > limit or new_session > limit:
            raise ValueError(
                "expireTime and newSessionExpireTime must be less than 20 hours in the future."
            )
        mask_text = body.get("fieldMask")
        mask = [p.strip() for p in mask_text.split(",") if p.strip()] if mask_text else None
        token = EphemeralToken(
            name=f"auth_tokens/{secrets.token_urlsafe(24)}",
            uses=uses,
            uses_left=uses,
            expire_time=expire,
            new_session_expire_time=new_session,
            setup=body.get("bidiGenerateContentSetup"),
            field_mask=mask,
        )
        self._tokens[token.name] = token
        while len(self._tokens) > _MAX_TOKENS:
            self._tokens.pop(next(iter(self._tokens)))
        return token

    def get(self, name: str | None) -> EphemeralToken | None:
        """The token called ``name``, or None."""
        return self._tokens.get(name) if name else None
