"""Config objects: dataclass defaults -> optional YAML file -> command-line flags.

Every run saves its resolved config, so a result can always be traced to the settings that made
it. Flags are generated from the dataclass fields (kebab-case, one help string each), so the CLI,
the YAML keys and the Python API cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from cilab.core.errors import CilabError

T = TypeVar("T")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a help string (shown by --help)."""
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = ()
) -> None:
    """Add one flag per field of dataclass `cls`; defaults are left out of the namespace.

    Leaving defaults out (argparse.SUPPRESS) lets `build_config` tell flags the user typed from
    defaults, so a YAML file can sit between the two.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["help"] = f"{help_text} (default: {default})"
        else:
            if typing.get_origin(tp) is Literal:
                kwargs["choices"] = list(typing.get_args(tp))
                kwargs["type"] = type(kwargs["choices"][0])
            else:
                kwargs["type"] = tp
            kwargs["metavar"] = f.name.upper() if "choices" not in kwargs else None
            kwargs["help"] = f"{help_text} (default: {default})"
            if optional:
                kwargs["help"] += "; optional"
        parser.add_argument(_flag(f.name), **{k: v for k, v in kwargs.items() if v is not None})


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Read a `--config` YAML mapping; keys may use dashes like the flags (`lr-g` = `lr_g`)."""
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as e:
        raise CilabError(f"{path}: cannot read config file ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise CilabError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CilabError(f"{path}: a config file must be a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(
    cls: type[T], overrides: dict[str, Any], config_file: str | Path | None = None
) -> T:
    """Resolve defaults, then the YAML file, then `overrides` (the flags the user typed).

    Unknown keys are rejected with the list of valid ones, so a typo never silently does nothing.
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_yaml_config(config_file))
    values.update(overrides)
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"{config_file}: " if config_file else ""
        raise CilabError(
            f"{where}unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
        )
    try:
        cfg = cls(**values)
    except (TypeError, ValueError) as e:
        raise CilabError(f"invalid config: {e}") from None
    return cfg


def config_from_namespace(cls: type[T], ns: argparse.Namespace) -> T:
    """Build `cls` from parsed flags, honouring an optional `--config FILE`."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    overrides = {k: v for k, v in vars(ns).items() if k in names}
    return build_config(cls, overrides, getattr(ns, "config", None))


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as the plain dict that `config.json` stores."""
    return dataclasses.asdict(cfg)
