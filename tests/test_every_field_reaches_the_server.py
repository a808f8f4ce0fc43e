"""No request field is dropped (issue 10): every request-side field google-genai 3.6.1
knows (tests/drift.py: typed by api_gemini or carried through), sent in a dict request
in snake_case and in camelCase, reaches the server. A recording WebSocket server
(tests/helpers.py) keeps what arrived."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest

from api_gemini._wire import camel
from api_gemini.settings import ClientSettings
from api_gemini.websocket import connect_live
from drift import request_fields
from helpers import RecordingLiveServer

FIELDS = request_fields()


def sample(annotation: Any) -> Any:
    """A valid value for one of our field types (anything for an untyped field)."""
    if annotation is None:
        return "as-given"
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (args and origin is not list and origin is not dict):
        return sample(args[0]) if len(args) >= 1 and origin is not dict else {}
    if origin is list:
        return [sample(args[0])]
    if origin is dict or annotation is Any:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return {}
    return {str: "x", int: 1, float: 0.5, bool: True, bytes: "eA=="}[annotation]


def merge(target: dict[str, Any], path: list[tuple[str, bool]], key: str, value: Any) -> None:
    for step, is_list in path:
        slot = target.setdefault(step, [{}] if is_list else {})
        target = slot[0] if is_list else slot
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        return  # a container already filled by its own fields
    if isinstance(value, list) and isinstance(target.get(key), list):
        return
    target[key] = value


def spelled(name: str, spelling: str) -> str:
    return camel(name) if spelling == "camel" else name


def build(root: str, spelling: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Containers first (deepest paths last), so that their fields fill them.
    for _root, path, name, annotation in sorted(
        (f for f in FIELDS if f[0] == root), key=lambda f: len(f[1])
    ):
        steps = [(spelled(step, spelling), is_list) for step, is_list in path]
        merge(out, steps, spelled(name, spelling), sample(annotation))
    return out


def arrived(message: dict[str, Any], path: list[tuple[str, bool]]) -> dict[str, Any]:
    here: Any = message
    for step, is_list in path:
        here = here[camel(step)]
        if is_list:
            here = here[0]
    result: dict[str, Any] = here
    return result


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_every_request_field_reaches_the_server(spelling: str) -> None:
    assert len(FIELDS) > 150
    setup = build("setup", spelling)
    content = build("clientContent.turns[0]", spelling)
    response = build("toolResponse.functionResponses[0]", spelling)
    async with RecordingLiveServer() as server:
        settings = ClientSettings.resolve("k", base_url=server.base_url)
        session = await connect_live(settings, "gemini-3.8-live", setup)
        await session.send_content(content, turn_complete=False)
        await session.send_tool_response(response)
        await session.close()
    got = {
        "setup": server.messages[0]["setup"],
        "clientContent.turns[0]": server.messages[1]["clientContent"]["turns"][0],
        "toolResponse.functionResponses[0]": server.messages[2]["toolResponse"][
            "functionResponses"
        ][0],
    }
    missing = []
    for root, path, name, annotation in FIELDS:
        holder = arrived(got[root], path)
        # typed fields arrive in camelCase; untyped ones exactly as the caller spelt them
        key = camel(name) if annotation is not None else spelled(name, spelling)
        if key not in holder:
            missing.append(f"{root}: {'.'.join(p for p, _ in path)}.{name}")
    assert missing == []
