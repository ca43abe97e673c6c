"""How settings are declared, read and checked: the machinery behind every command's configuration.

A command's settings are one dataclass (``training.config.TrainConfig`` for ``train``; the encoder, predict, evaluate
and suggest commands define theirs beside their code), its fields made with ``setting(default, help)``. A field
that is itself a dataclass is a *section*: its fields are set in a JSON/YAML file as ``section: {field: value}`` and
on the command line as ``--section.field`` (the field ``path`` of a section is just ``--section``, e.g.
``--data PATH``). Enum-like settings are ``Literal`` types, checked with every other value by ``check`` in one
place, raising ``ConfigError``; a section may add cross-field checks in a ``validate()`` method.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says which and how to fix it."""


def setting(default: Any, help: str, *, common: bool = False, positional: bool = False) -> Any:
    """A dataclass field with its help text. ``common``: shown by the short ``--help`` (otherwise ``--help-all``
    only); ``positional``: a positional command-line argument instead of a flag."""
    metadata = {"help": help, "common": common, "positional": positional}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    if dataclasses.is_dataclass(default):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _choices(annotation: Any) -> tuple | None:
    """The allowed values of a ``Literal`` (or ``list[Literal]``, ``Literal | None``) annotation."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _choices(args[0]) if len(args) == 1 else None


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a file or command-line value to the field's type; anything else is a ``ConfigError`` naming it."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType) and args:
        return _coerce(value, args[0], where)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, allowed))}; found {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, found {value!r}")
    if origin is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        # "baseline,transformer" and "baseline transformer" both mean two items
        items = [part for item in items
                 for part in ([p.strip() for p in item.split(",") if p.strip()] if isinstance(item, str) else [item])]
        return [_coerce(v, args[0] if args else str, where) for v in items]
    if annotation is dict or origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping such as {{\"key\": value}}, found {value!r}")
        return value
    if annotation is float and isinstance(value, bool) or annotation is int and isinstance(value, float):
        raise ConfigError(f"{where}: expected {annotation.__name__}, found {value!r}")
    try:
        return annotation(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, found {value!r}") from None


def _flag(dotted: str) -> str:
    """``data.path`` -> ``--data``; ``baseline.c_values`` -> ``--baseline.c-values``."""
    parts = dotted.split(".")
    if len(parts) > 1 and parts[-1] == "path":
        parts = parts[:-1]
    return "--" + ".".join(part.replace("_", "-") for part in parts)


def _apply(target: Any, values: dict, where: str) -> None:
    hints = _hints(type(target))
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in hints:
            raise ConfigError(f"{where}: unknown setting {key!r}; known settings: {', '.join(sorted(hints))}")
        if _is_section(hints[name]):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping of settings, found {value!r}")
            _apply(getattr(target, name), value, f"{where}.{key}")
        else:
            setattr(target, name, _coerce(value, hints[name], f"{where}.{key}"))


def check(config: Any, prefix: str = "") -> Any:
    """Validate a whole configuration however it was built (file, flags or code): every value is converted to its
    field's type (a choice must be one of its ``Literal`` values), then each section's own ``validate()`` runs if it
    has one."""
    for name, annotation in _hints(type(config)).items():
        value = getattr(config, name)
        if _is_section(annotation):
            check(value, f"{prefix}{name}.")
        else:
            setattr(config, name, _coerce(value, annotation, _flag(prefix + name)))
    if hasattr(config, "validate"):
        config.validate()
    return config


def load_config_file(path: str | Path, config: Any) -> Any:
    """Read a JSON or YAML file (nested by section) over ``config``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror}); check the path") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:  # PyYAML's message spans lines and names "<unicode string>": one line, this file
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}{where}: not valid YAML ({problem}); lists are written [a, b], "
                          "sections as `name:` followed by indented settings") from None
    if values is None:
        raise ConfigError(f"config file {path}: no settings in it; write e.g. `seed: 13` or a section such as "
                          "`baseline: {classifiers: [svm]}`")
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings and sections, found {type(values).__name__}")
    _apply(config, values, str(path))
    return config


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, show_all: bool = True) -> None:
    """One flag per field (``--field``, ``--section.field``), positional fields as arguments. Defaults stay unset
    on the parser, so a config file is only overridden by what is typed. Without ``show_all``, only top-level and
    ``common`` fields are listed; each section gets one line pointing to ``--help-all``."""
    defaults = config_cls()

    def add(cls: type, instance: Any, prefix: str, group: Any) -> None:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            annotation, dotted = hints[f.name], prefix + f.name
            if _is_section(annotation):  # described by its field's help, else by its class's first paragraph
                doc = f.metadata.get("help") or " ".join(inspect.cleandoc(annotation.__doc__ or "").split("\n\n")[0].split())
                count = sum(not _is_section(hint) for hint in _hints(annotation).values())
                section = parser.add_argument_group(_flag(dotted) + ".*", doc + ("" if show_all else
                                                    f" ({count} setting{'s' * (count != 1)}; see --help-all)"))
                add(annotation, getattr(instance, f.name), dotted + ".", section)
                continue
            is_list, is_bool = typing.get_origin(annotation) is list, annotation is bool
            default, choices = getattr(instance, f.name), _choices(annotation)
            shown = show_all or not prefix or f.metadata.get("common")
            text = f.metadata.get("help", "") + (f" Choices: {', '.join(map(str, choices))}." if choices else "")
            if default not in (None, [], {}, "") and not is_bool:
                text += f" [default: {' '.join(map(str, default)) if is_list else default}]"
            if f.metadata.get("positional"):
                parser.add_argument("cfg:" + dotted, metavar=f.name.upper().rstrip("S"), nargs="+" if is_list else None,
                                    help=text)
                continue
            help_text = text.replace("%", "%%") if shown else argparse.SUPPRESS
            if is_bool:
                group.add_argument(_flag(dotted), dest="cfg:" + dotted, action=argparse.BooleanOptionalAction,
                                   default=argparse.SUPPRESS, help=help_text)
                continue
            metavar = "{" + ",".join(map(str, choices)) + "}" if choices else f.name.split("_")[-1].upper()
            group.add_argument(_flag(dotted), dest="cfg:" + dotted, nargs="+" if is_list else None, metavar=metavar,
                               default=argparse.SUPPRESS, help=help_text)

    add(config_cls, defaults, "", parser)


def config_from_args(args: argparse.Namespace, config: Any) -> Any:
    """Apply the flags that were typed on top of ``config`` (defaults, or a file's values)."""
    for dest, value in vars(args).items():
        if dest.startswith("cfg:"):
            *sections, name = dest[4:].split(".")
            target = config
            for section in sections:
                target = getattr(target, section)
            setattr(target, name, _coerce(value, _hints(type(target))[name], _flag(dest[4:])))
    return check(config)
