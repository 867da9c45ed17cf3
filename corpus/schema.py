"""The one config checker: a dataclass is the schema of a YAML mapping.

A dataclass's init fields are the allowed keys (a trailing underscore in a field name avoids a Python
keyword: ``async_`` is the YAML key ``async``), their annotations the allowed values, their defaults
what a left-out key means. `from_mapping` checks a parsed YAML mapping against it, nested dataclasses
and ``list[...]``, ``dict[...]``, unions, ``Optional`` and ``Literal`` included, and builds the
instance; `replace` puts the checked keys of a partial mapping into an instance (an override). Every
mistake is a one-line `UserError` in words that names the key where it sits (``stages[3].ner.threshold
must be a number, got 'high'``), so the pipeline config, stage parameters, the trainer config, the
ablate experiment file and the rules files a stage reads all read the same.

Rules of the values: a ``float`` takes a whole number too (and holds it as a float); ``bool`` is never
taken for a number nor a number for ``bool``; a ``str`` is never empty; ``None`` (YAML ``null``) only
where the annotation allows it, except that a nested dataclass given as ``null`` takes its defaults
(an empty YAML section).

This module imports nothing of ``corpus`` but its errors: the trainer uses it too.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, Union

from corpus.errors import UserError

T = TypeVar("T")

_SCALARS: dict[Any, tuple[str, Any]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    str: ("a non-empty string", lambda v: isinstance(v, str) and v != ""),
}


def yaml_key(field_name: str) -> str:
    """The YAML key of a dataclass field: a trailing underscore avoids a Python keyword (``async_``)."""
    return field_name.removesuffix("_")


def keys(cls: type) -> list[str]:
    """The YAML keys a dataclass schema allows, in field order."""
    return [yaml_key(f.name) for f in dataclasses.fields(cls) if f.init]


def from_mapping(cls: type[T], data: Any, where: str = "", ignore: Iterable[str] = ()) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``data``, every key and value checked.

    ``where`` is the mapping's place in its file (``stages[3]``; empty for the top level), named in
    every error; keys in ``ignore`` are allowed in ``data`` and left to the caller."""
    data, fields = _mapping(cls, data, where, tuple(ignore))
    hints = _hints(cls)
    values = {}
    for key, f in fields.items():
        if key in data:
            values[f.name] = check(_join(where, key), data[key], hints[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError(f"{where}: missing required key {key!r}" if where else f"missing required key {key!r}")
    return cls(**values)


def replace(obj: T, data: Any, where: str = "") -> T:
    """The dataclass instance ``obj`` with the keys of ``data`` put in, each checked as `from_mapping`
    checks it: a partial mapping that overrides a few values (a language's section of a rules file)."""
    data, fields = _mapping(type(obj), data, where, ())
    hints = _hints(type(obj))
    return dataclasses.replace(obj, **{fields[k].name: check(_join(where, k), v, hints[fields[k].name])
                                       for k, v in data.items()})


def _mapping(cls: type, data: Any, where: str, ignore: tuple[str, ...]) -> tuple[Mapping, dict[str, Any]]:
    """``data`` as a mapping (``None``: empty) whose keys are all fields of ``cls`` or in ``ignore``,
    with the fields by YAML key."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise UserError(f"{where or 'the top level'} must be a mapping of keys, got {_show(data)}")
    fields = {yaml_key(f.name): f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields and key not in ignore:
            raise UserError(unknown_key(key, where, [*fields, *ignore]))
    return data, fields


def unknown_key(key: Any, where: str, allowed: list[str]) -> str:
    """The error for a key the schema does not have: the close one if there is one, else every key."""
    near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
    return f"unknown key {key!r}{f' in {where}' if where else ''} ({hint})"


def check(where: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the annotation ``hint`` (nested dataclasses built); a `UserError` if
    it does not fit."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for alt in args:  # the first alternative of the value's shape, checked deeply for a precise error
            if alt is not type(None) and _shape_fits(value, alt):
                return check(where, value, alt)
        raise _wrong(where, value, hint)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise _wrong(where, value, hint)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where)
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise _wrong(where, value, hint)
        item = args[0] if args else Any
        return [check(f"{where}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise _wrong(where, value, hint)
        key_hint, value_hint = args or (Any, Any)
        return {check(f"a key of {where}", k, key_hint): check(_join(where, str(k)), v, value_hint)
                for k, v in value.items()}
    if hint in _SCALARS:
        if not _SCALARS[hint][1](value):
            raise _wrong(where, value, hint)
        return float(value) if hint is float else value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise _wrong(where, value, hint)
    return value


def words(hint: Any) -> str:
    """What an annotation allows, in words (``a whole number or null``)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return "anything"
    if hint is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(words(a) for a in sorted(args, key=lambda a: a is type(None)))
    if origin is Literal:
        return str(args[0]) if len(args) == 1 else f"one of {', '.join(map(str, args))}"
    if dataclasses.is_dataclass(hint) or origin is dict or hint is dict:
        return "a mapping"
    if origin is list or hint is list:
        return "a list"
    if hint in _SCALARS:
        return _SCALARS[hint][0]
    return f"a {getattr(hint, '__name__', hint)}"


def _shape_fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the outer shape of ``hint`` (a list for a list, a number for a number)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_shape_fits(value, a) for a in typing.get_args(hint))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if dataclasses.is_dataclass(hint) or origin is dict or hint is dict:
        return isinstance(value, Mapping)
    if origin is list or hint is list:
        return isinstance(value, list)
    if hint in _SCALARS:
        return _SCALARS[hint][1](value)
    return not isinstance(hint, type) or isinstance(value, hint)


def _wrong(where: str, value: Any, hint: Any) -> UserError:
    return UserError(f"{where or 'the value'} must be {words(hint)}, got {_show(value)}")


def _show(value: Any) -> str:
    """A value as the error quotes it: its repr, cut short so the error stays one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
