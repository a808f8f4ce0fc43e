"""From SSE events to chunks: error events, the last chunk, the wait between events.

Sans-I/O helpers of :mod:`api_gemini.http.transport`:

- :func:`chunk_from_event` decodes one event into a
  :class:`~api_gemini.types.GenerateContentResponse`, or raises the error an error event
  carries (``{"error": {...}}`` in any JSON layout: pretty-printed, split over several
  ``data:`` lines, other keys first, escaped);
- :func:`is_last_chunk` tells the chunk that ends an answer (a ``finishReason``, or a
  prompt blocked by ``promptFeedback.blockReason``), so that a stream ending without one
  is reported as truncated;
- :class:`EventGap` bounds the network wait between two events.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .._wire import decode_response
from ..errors import ApiError, RequestTimeoutError, ResponseParseError, api_error_from_response
from ..types import GenerateContentResponse
from .sse import ServerSentEvent, SSEDecoder

__all__ = ["EventGap", "chunk_from_event", "feed_decoder", "is_last_chunk", "scrub"]

# strict=False: protobuf JSON writes int64 fields as strings.
_chunk_decoder = msgspec.json.Decoder(GenerateContentResponse, strict=False)
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
# An error object that does not decode (cut, or nested deeper than any decoder goes)
# is still an error event when "error" is its first key.
_ERROR_FIRST = re.compile(r'\s*\{\s*"error"\s*:')


def scrub(data: bytes, secret: str | None) -> bytes:
    """``data`` with every occurrence of ``secret`` (the API key) replaced by ``***``.

    A server (or a proxy) may echo request headers back in an error; the key must not
    reach an exception message from there.
    """
    if secret:
        raw = secret.encode()
        if raw in data:
            return data.replace(raw, b"***")
    return data


def _error_event(data: str, secret: str | None) -> ApiError:
    body = scrub(data.encode(), secret)
    return api_error_from_response(_error_status(body), body)


def _error_status(body: bytes) -> int:
    try:
        error = msgspec.json.decode(body, type=dict[str, Any]).get("error")
    except _DECODE_ERRORS:
        return 500
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return 500


def _has_error_key(data: str) -> bool:
    """True when the event's top-level object has an ``error`` key (the slow check)."""
    try:
        top = msgspec.json.decode(data)
    except _DECODE_ERRORS:
        return False
    return isinstance(top, dict) and "error" in top


def chunk_from_event(event: ServerSentEvent, secret: str | None = None) -> GenerateContentResponse:
    """Decode one event; raise the API error of an error event.

    The service reports a failure mid-stream as an event holding ``{"error": {...}}``.
    Decoded as a chunk, such an event is a chunk without candidates (unknown keys are
    ignored), so it must be recognised whatever its layout (pretty-printed, split over
    several ``data:`` lines, other keys first, escaped). The typed decode comes first;
    only an event without candidates (an error, a usage-only or blocked-prompt chunk:
    at most a few per stream) is decoded again to look for a top-level ``error`` key.
    An ordinary chunk, which has candidates, costs nothing more; an ``error`` beside
    candidates is not looked for (no such event is documented, and the search would
    cost every chunk a scan of its text).

    Raises:
        ApiError: an error event (its ``code``, else 500), the key scrubbed out.
        ResponseParseError: an event that is not a chunk.
    """
    data = event.data
    try:
        # Keeps the event's data for .raw; a bad metadata number does not lose the chunk.
        chunk = decode_response(data, _chunk_decoder, GenerateContentResponse)
    except (*_DECODE_ERRORS, ValueError) as exc:
        if _ERROR_FIRST.match(data):
            raise _error_event(data, secret) from None
        raise ResponseParseError(f"malformed SSE chunk: {exc}") from None
    if not chunk.candidates and _has_error_key(data):
        raise _error_event(data, secret)
    return chunk


def is_last_chunk(chunk: GenerateContentResponse) -> bool:
    """True for a chunk that ends an answer: a candidate with a ``finishReason``, or a
    prompt the service blocked (``promptFeedback.blockReason``, and no candidates)."""
    for candidate in chunk.candidates:
        if candidate.finish_reason:
            return True
    feedback = chunk.prompt_feedback
    return bool(feedback and feedback.get("blockReason"))


class EventGap:
    """Bounds the network wait between two SSE events, not only between two bytes.

    The read timeout restarts with every byte, so a server sending comments (or any
    bytes that never complete an event) kept a stream open forever. Only time spent
    waiting for bytes counts (a consumer that stops reading for a while is not the
    server's fault); checked when bytes arrive, so the error comes at most one read
    timeout after the bound was passed.
    """

    __slots__ = ("_limit", "_waited")

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._waited = 0.0

    def after_read(self, waited: float, got_events: bool) -> None:
        """Account for one read that took ``waited`` seconds."""
        if got_events:
            self._waited = 0.0
            return
        self._waited += waited
        if self._limit is not None and self._waited > self._limit:
            raise RequestTimeoutError(
                f"no SSE event for more than {self._limit}s (the read timeout) although "
                "bytes kept arriving"
            )


def feed_decoder(decoder: SSEDecoder, chunk: bytes | None) -> list[ServerSentEvent]:
    """Feed ``chunk`` (``None``: the end of the stream) and map a size error to ours."""
    try:
        return decoder.feed(chunk) if chunk is not None else decoder.close()
    except ValueError as exc:
        raise ResponseParseError(str(exc)) from None
