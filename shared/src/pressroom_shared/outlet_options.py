"""One declared, documented shape for each outlet type's options, validated in one place.

Like `Settings`, an outlet type declares its options as a frozen dataclass whose fields are
made with `option(default, doc)` (`REQUIRED` for none) or `secret_option(doc)`, and calls
`parse_options(Options, config, settings)`. Every problem is reported at once; an unknown key
is an error (a typo must not silently fall back to a default). A secret option `X` is given as
`X = "..."` in the file or, better, `X_env = "PRESSROOM_SECRET_<NAME>"`, so the file holds none.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from pressroom_shared.config import SECRET_PREFIX, Settings

T = TypeVar("T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
ENV_SUFFIX = "_env"

Check = Callable[[Any], str | None]  # an error message, or None when the value is fine


class OptionsError(ValueError):
    pass


def option(default: Any, doc: str, *, check: Check | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"doc": doc, "check": check})


def secret_option(doc: str, *, required: bool = True) -> Any:
    return dataclasses.field(
        default=REQUIRED if required else None,
        metadata={"doc": doc, "secret": True, "check": None},
    )


def http_url(value: Any) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return f"must be an http(s) URL, got {value!r}"


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be positive, got {value!r}"


def parse_options(cls: type[T], name: str, options: Mapping[str, Any], settings: Settings) -> T:
    """Build `cls` from the outlet's table; OptionsError naming the outlet and every problem."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    known = set(fields) | {f + ENV_SUFFIX for f, spec in fields.items() if _is_secret(spec)}
    problems = [
        f"unknown option {key!r} (known: {', '.join(sorted(known))})"
        for key in options
        if key not in known
    ]
    values: dict[str, Any] = {}
    for field_name, spec in fields.items():
        value: Any
        try:
            if _is_secret(spec):
                value = _secret(field_name, spec, options, settings)
            elif field_name in options:
                value = _coerce(hints[field_name], options[field_name])
            elif spec.default is REQUIRED:
                raise OptionsError("is required")
            else:
                value = spec.default
            check: Check | None = spec.metadata.get("check")
            error = None if value is None or check is None else check(value)
            if error is not None:
                raise OptionsError(error)
        except OptionsError as exc:
            problems.append(f"{field_name}: {exc}")
            continue
        values[field_name] = value
    if problems:
        raise OptionsError(f"outlet {name!r}: " + "; ".join(problems))
    return cls(**values)


def documentation(cls: type[Any]) -> list[tuple[str, str, str]]:
    """(key, default, doc) for every option of `cls`, for the README."""
    rows = []
    for spec in dataclasses.fields(cls):
        if _is_secret(spec):
            key = f"{spec.name} / {spec.name}{ENV_SUFFIX}"
            default = "required" if spec.default is REQUIRED else ""
        else:
            key = spec.name
            default = "required" if spec.default is REQUIRED else _toml(spec.default)
        rows.append((key, default, spec.metadata["doc"]))
    return rows


def _toml(value: Any) -> str:
    """A default as it would be written in the outlets file ("" when there is none)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_secret(spec: dataclasses.Field[Any]) -> bool:
    return bool(spec.metadata.get("secret"))


def _secret(
    field_name: str, spec: dataclasses.Field[Any], options: Mapping[str, Any], settings: Settings
) -> str | None:
    variable_key = field_name + ENV_SUFFIX
    literal, variable = options.get(field_name), options.get(variable_key)
    if literal is not None and variable is not None:
        raise OptionsError(f"give {field_name} or {variable_key}, not both")
    if variable is not None:
        if not isinstance(variable, str) or not variable.startswith(SECRET_PREFIX):
            raise OptionsError(
                f"{variable_key} must name a {SECRET_PREFIX}* variable "
                f"(only those are read from the environment), got {variable!r}"
            )
        literal = settings.secrets.get(variable)
        if literal is None:
            raise OptionsError(f"{variable_key} names {variable}, which is not set")
    if literal is None:
        if spec.default is REQUIRED:
            raise OptionsError(
                f'needs {field_name} = "..." or {variable_key} = "{SECRET_PREFIX}<NAME>"'
            )
        return None
    if not isinstance(literal, str) or not literal:
        raise OptionsError("must be a non-empty string")
    return literal


def _coerce(hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        errors = []
        for arm in get_args(hint):
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(arm, value)
            except OptionsError as exc:
                errors.append(str(exc))
        raise OptionsError(" or ".join(errors))
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise OptionsError(f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin in (list, tuple):
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list):
            raise OptionsError(f"must be a list, got {value!r}")
        items = [_coerce(item, v) for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptionsError(f"must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise OptionsError(f"must be a non-empty string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise OptionsError(f"must be a path, got {value!r}")
        return Path(value)
    raise TypeError(f"option type {hint!r} is not supported")  # a bug in the declaration
