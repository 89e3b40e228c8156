"""Instance attributes and image tags: what a class's attributes are (AttributeSpec) and an
instance's values (Attributes, an immutable, hashable mapping).

A value is a bool (boolean), a str (choice, text) or a float (number). An instance holds
values only for attributes its class defines; one it has no value for reads as the spec's
default. Names follow the class-name rule of core/names.py, and so do image tags.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Iterator, Mapping

from .names import MAX_NAME_LENGTH, unprintable

Value = bool | str | float
MAX_TEXT_LENGTH = 1000  # characters in a text value


class AttributeKind(str, Enum):
    BOOLEAN = "boolean"
    CHOICE = "choice"
    TEXT = "text"
    NUMBER = "number"


def label_problem(text: object, what: str) -> str | None:
    """Why this is not a usable attribute name, choice or tag (`what` names it), or None."""
    if not isinstance(text, str) or not text.strip():
        return f"{what} must be text and not empty"
    if text != text.strip():
        return f"{what} {text[:60]!r} has surrounding spaces"
    if len(text) > MAX_NAME_LENGTH:
        return f"{what} is at most {MAX_NAME_LENGTH} characters (this one has {len(text):,})"
    problem = unprintable(text)
    return f"{what} may not contain {problem}" if problem else None


def _require(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of a class. `default` None means the kind's own: False, the first
    choice, "" or 0.0. Raises ValueError (one line) when it is not consistent."""

    name: str
    kind: AttributeKind
    choices: tuple[str, ...] = ()
    default: Value | None = None

    def __post_init__(self) -> None:
        _require(label_problem(self.name, "an attribute name"))
        try:
            kind = AttributeKind(self.kind)
        except ValueError:
            raise ValueError(f"attribute {self.name!r}: kind must be one of "
                             f"{', '.join(k.value for k in AttributeKind)}, got {self.kind!r}") from None
        object.__setattr__(self, "kind", kind)
        choices = tuple(self.choices)
        object.__setattr__(self, "choices", choices)
        if kind == AttributeKind.CHOICE:
            if not choices:
                raise ValueError(f"attribute {self.name!r}: a choice needs at least one option")
            for choice in choices:
                _require(label_problem(choice, f"attribute {self.name!r}: an option"))
            if len(set(choices)) != len(choices):
                raise ValueError(f"attribute {self.name!r}: an option is given twice")
        elif choices:
            raise ValueError(f"attribute {self.name!r}: only a choice has options")
        default = self.check(self.default) if self.default is not None else self._kind_default()
        object.__setattr__(self, "default", default)

    def _kind_default(self) -> Value:
        return {AttributeKind.BOOLEAN: False, AttributeKind.TEXT: "",
                AttributeKind.NUMBER: 0.0}.get(self.kind, self.choices[0] if self.choices else "")

    def check(self, value: Any) -> Value:
        """The value as stored (an int number becomes a float); ValueError (one line) if it
        does not fit this attribute."""
        where = f"attribute {self.name!r}"
        if self.kind == AttributeKind.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(f"{where} is true or false, got {_brief(value)}")
            return value
        if self.kind == AttributeKind.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where} is a number, got {_brief(value)}")
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"{where} is a finite number, got {value!r}")
            return number
        if not isinstance(value, str):
            raise ValueError(f"{where} is text, got {_brief(value)}")
        if self.kind == AttributeKind.CHOICE:
            if value not in self.choices:
                raise ValueError(f"{where} is one of {', '.join(self.choices)}; got {_brief(value)}")
            return value
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError(f"{where} is at most {MAX_TEXT_LENGTH} characters of text ({len(value):,} given)")
        problem = unprintable(value)
        if problem:
            raise ValueError(f"{where} may not contain {problem}")
        return value

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind.value, "choices": list(self.choices),
                "default": self.default}

    @classmethod
    def from_json(cls, data: Mapping) -> "AttributeSpec":
        return cls(data["name"], data["kind"], tuple(data.get("choices", ())), data.get("default"))


def infer_spec(name: str, value: Any) -> AttributeSpec:
    """The spec an importer gives an attribute the project does not know, from its JSON
    type: true/false a boolean, a number a number, anything else text."""
    if isinstance(value, bool):
        return AttributeSpec(name, AttributeKind.BOOLEAN)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return AttributeSpec(name, AttributeKind.NUMBER)
    return AttributeSpec(name, AttributeKind.TEXT)


def value_from_text(kind: AttributeKind, text: str) -> Value:
    """The value a text form stands for (an XML attribute, as CVAT writes them): "true" or
    "false" for a boolean, a decimal for a number, the text itself otherwise. ValueError (one
    line) when the text is not one of those; the value is not yet checked against a spec."""
    if kind == AttributeKind.BOOLEAN:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"a true/false attribute is 'true' or 'false', got {_brief(text)}")
        return lowered == "true"
    if kind == AttributeKind.NUMBER:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"a number attribute needs a number, got {_brief(text)}") from None
    return text


def kind_from_text(text: str) -> AttributeKind:
    """The kind an importer gives a text value whose attribute nobody defined: "true" or
    "false" a boolean, a finite number a number, anything else text."""
    if text.strip().lower() in ("true", "false"):
        return AttributeKind.BOOLEAN
    try:
        return AttributeKind.NUMBER if math.isfinite(float(text)) else AttributeKind.TEXT
    except ValueError:
        return AttributeKind.TEXT


def value_text(value: Value) -> str:
    """A value as text forms hold it: "true"/"false", an integral number without ".0"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def check_values(specs: Iterable[AttributeSpec], values: Mapping[str, Any], where: str = "") -> "Attributes":
    """Values checked against a class's specs; ValueError (one line) for a name the class
    does not define or a value that does not fit."""
    by_name = {s.name: s for s in specs}
    out = {}
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            raise ValueError(f"{where}no attribute {_brief(name)} is defined for this class")
        try:
            out[name] = spec.check(value)
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from None
    return Attributes(out)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Attributes(Mapping[str, Value]):
    """An instance's attribute values: read-only, hashable, ordered by name. Two are equal
    when they hold the same names with values of the same type and value."""

    __slots__ = ("_items",)

    def __init__(self, values: Mapping[str, Value] | Iterable[tuple[str, Value]] = ()) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        self._items: tuple[tuple[str, Value], ...] = tuple(sorted(dict(pairs).items()))

    def __getitem__(self, name: str) -> Value:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _typed(self) -> tuple:
        return tuple((k, type(v), v) for k, v in self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attributes):
            return self._typed() == other._typed()
        if isinstance(other, Mapping):
            return self._typed() == Attributes(other)._typed()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._typed())

    def __repr__(self) -> str:
        return f"Attributes({dict(self._items)!r})"

    def set(self, name: str, value: Value | None) -> "Attributes":
        """A copy with that value (None: without the attribute)."""
        values = dict(self._items)
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
        return Attributes(values)

    def to_text(self) -> str:
        """Compact JSON, as the store keeps it ('{}' when empty)."""
        return json.dumps(dict(self._items), separators=(",", ":"), ensure_ascii=False) if self._items else "{}"

    @classmethod
    def from_text(cls, text: str) -> "Attributes":
        return cls(json.loads(text)) if text != "{}" else EMPTY


EMPTY = Attributes()


def normal_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Image tags as kept: each checked (ValueError, one line), duplicates dropped, sorted."""
    out = set()
    for tag in tags:
        _require(label_problem(tag, "an image tag"))
        out.add(tag)
    return tuple(sorted(out))
