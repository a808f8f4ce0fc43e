"""The drift check (issue 10): google-genai 3.6.1's Live and generateContent fields are
each typed by api_gemini or listed, with a reason, in docs/wire-fields.md."""

from __future__ import annotations

import re
from pathlib import Path

from drift import walk

LIST = Path(__file__).resolve().parent.parent / "docs" / "wire-fields.md"


def carried_through() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Za-z]+\.[A-Za-z]+)` \| (.+?) \|$", LIST.read_text(), re.M)
    return dict(rows)


def test_every_sdk_field_is_typed_or_listed_with_a_reason() -> None:
    typed, untyped, problems = walk()
    assert problems == []  # every type the walk reaches is mapped
    listed = carried_through()
    unknown = sorted(untyped - set(listed))
    assert unknown == [], f"new wire fields: type them or list them in {LIST.name}"
    stale = sorted(set(listed) - untyped)
    assert stale == [], f"listed in {LIST.name} but typed (or gone): remove them"
    assert all(reason.strip() for reason in listed.values())
    assert len(typed) > 150  # the walk really walked
