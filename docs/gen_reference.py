"""Write ``docs/reference.md`` from the code: every public name, its signature and its
docstring, for ``api_gemini`` (with ``errors`` and ``types``), ``api_gemini.websocket``
and ``api_gemini.emulator``.

Run: .venv/bin/python docs/gen_reference.py
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

MODULES = [
    "api_gemini",
    "api_gemini.websocket",
    "api_gemini.emulator",
    "api_gemini.errors",
    "api_gemini.types",
    "api_gemini.audio",
    # Not imported by name, but what the calls return: client.models and the sync twins.
    "api_gemini.models",
    "api_gemini.websocket.sync_live",
    # The optional picows transport (the picows extra); importing it imports no picows.
    "api_gemini.websocket.transport_picows",
]
_SECTION = re.compile(r"^(Args|Arguments|Attributes|Raises|Returns|Yields):\s*$")
_ITEM = re.compile(r"^    (\S[^:]*):\s*(.*)$")
OUT = Path(__file__).resolve().parent / "reference.md"


def _markdown(doc: str) -> str:
    """Google-style sections (``Args:``, ``Attributes:``, ...) as Markdown lists."""
    out: list[str] = []
    in_section = False
    for line in doc.splitlines():
        if _SECTION.match(line):
            in_section = True
            out += ["", f"**{line.rstrip(':')}**", ""]
            continue
        if in_section:
            item = _ITEM.match(line)
            if item:
                out.append(f"- `{item.group(1)}`: {item.group(2)}")
                continue
            if line.startswith("        ") and out:
                out[-1] += " " + line.strip()
                continue
            if line.strip():
                in_section = False
        out.append(line)
    return "\n".join(out).strip()


def _doc(obj: object) -> str:
    return _markdown(inspect.cleandoc(obj.__doc__ or "").strip())


def _first_paragraph(obj: object) -> str:
    return _doc(obj).split("\n\n")[0].replace("\n", " ")


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _own_doc(cls: type) -> str:
    # A class without its own docstring would show its base's (msgspec, enum, Exception).
    return _doc(cls) if "__doc__" in cls.__dict__ and cls.__doc__ else ""


def _public_vars(cls: type) -> dict[str, object]:
    # Own members and those inherited from this package's private bases.
    found: dict[str, object] = {}
    for base in reversed(cls.__mro__):
        if base is cls or base.__module__.startswith("api_gemini"):
            found.update(vars(base))
    return found


def _members(cls: type) -> list[str]:
    lines = []
    for name, member in sorted(_public_vars(cls).items()):
        if name.startswith("_") and name not in ("__aiter__", "__iter__", "__aenter__"):
            continue
        if isinstance(member, property):
            lines.append(f"- `{name}` (property): {_first_paragraph(member)}")
        elif isinstance(member, (staticmethod, classmethod)):
            func = member.__func__
            lines.append(f"- `{name}{_signature(func)}`: {_first_paragraph(func)}")
        elif inspect.isfunction(member):
            async_ = "async " if inspect.iscoroutinefunction(member) else ""
            if name.startswith("__"):
                lines.append(f"- `{async_}{name}`")
            else:
                lines.append(f"- `{async_}{name}{_signature(member)}`: {_first_paragraph(member)}")
    return lines


def _fields(cls: type) -> list[str]:
    fields = getattr(cls, "__struct_fields__", None) or getattr(cls, "__dataclass_fields__", None)
    if not fields:
        return []
    return [", ".join(f"`{f}`" for f in fields)]


def _entry(module: str, name: str, obj: object) -> list[str]:
    out = [f"### `{module}.{name}`", ""]
    if inspect.isclass(obj):
        if issubclass(obj, enum.Enum):
            out.append(f"Enum: {', '.join(f'`{m.name}`' for m in obj)}.")
            out.append("")
        elif issubclass(obj, BaseException):
            bases = ", ".join(f"`{b.__name__}`" for b in obj.__bases__)
            out.append(f"Exception, subclass of {bases}.")
            out.append("")
        else:
            out.append(f"```\nclass {name}{_signature(obj)}\n```")
            out.append("")
        doc = _own_doc(obj)
        if doc:
            out += [doc, ""]
        fields = _fields(obj)
        if fields and not issubclass(obj, BaseException):
            out += ["Fields: " + fields[0], ""]
        members = _members(obj)
        if members:
            out += [*members, ""]
    elif inspect.isfunction(obj):
        async_ = "async " if inspect.iscoroutinefunction(obj) else ""
        out += [f"```\n{async_}def {name}{_signature(obj)}\n```", "", _doc(obj), ""]
    elif isinstance(obj, ModuleType):
        out += ["Module; see its section below." if obj.__name__ in MODULES else _doc(obj), ""]
    else:
        # A value that names this checkout (an install hint) names "<clone>" instead, so
        # the reference does not change with the directory it is generated in.
        value = repr(obj).replace(str(OUT.parent.parent), "<clone>")
        out += [f"Value: `{value}`", ""]
    return out


def render() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# API reference",
        "",
        "Generated from the code by `docs/gen_reference.py` (signatures and docstrings);",
        "regenerate it after changing a public name. `tests/test_examples.py` checks that",
        "every public name is here.",
        "",
    ]
    for module_name in MODULES:
        lines.append(f"- [`{module_name}`](#{module_name.replace('.', '')})")
    lines.append("")
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        lines += [f"## {module_name}", "", _doc(module), ""]
        for name in sorted(module.__all__, key=str.lower):
            lines += _entry(module_name, name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
