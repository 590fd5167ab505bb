"""Load and validate a site config, reporting each error as `path.to.field: message (line N)`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edged.config.site import SiteConfig

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A config that cannot be used; `lines` holds one `path: message` line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _node_lines(node: yaml.Node, loc: Loc = ()) -> Iterator[tuple[Loc, int]]:
    yield loc, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield (*loc, str(key.value)), key.start_mark.line + 1
            yield from _node_lines(value, (*loc, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _node_lines(item, (*loc, i))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


_PATH_IN_MESSAGE = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*): (.*)$", re.S)


def _parse_loc(path: str) -> Loc:
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[A-Za-z_]\w*|\d+", path))


def _file_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop the parts pydantic adds that are not keys in the file (union tags, validator names)."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part not in node and not last:
            continue
        out.append(part)
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
    return tuple(out)


def _has(node: dict[Any, Any] | list[Any], part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _error_lines(exc: ValidationError, lines: dict[Loc, int], data: Any) -> list[str]:
    result: list[tuple[int, str]] = []
    for err in exc.errors(include_url=False):
        loc = _file_loc(err["loc"], data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if not loc and (named := _PATH_IN_MESSAGE.match(msg)):
            # A cross-section check names the field itself: `cameras[0].detection.detector: ...`.
            loc, msg = _parse_loc(named.group(1)), named.group(2)
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        where = f" (line {line})" if line else ""
        result.append((line or 10**9, f"{format_loc(loc)}: {msg}{where}"))
    return [text for _, text in sorted(result, key=lambda r: r[0])]  # in file order


# LibYAML's C parser is ~10x faster than PyYAML's Python one; every worker parses the site file.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, name: str = "<config>") -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader (C or Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError([f"{name}: not valid YAML: {getattr(exc, 'problem', exc)}{where}"]) from exc


def _line_map(text: str) -> dict[Loc, int]:
    """Where each key stands in the file; built only when there are errors to report."""
    node = yaml.compose(text, Loader=_Loader)
    return dict(_node_lines(node)) if node is not None else {}


def validate_text(text: str, model: type[M], name: str = "<config>") -> M:
    data = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise ConfigError([f"(root): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_error_lines(exc, _line_map(text), data)) from exc


def load_model(path: str | Path, model: type[M]) -> M:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from exc
    return validate_text(text, model, str(p))


def load_site_config(path: str | Path) -> SiteConfig:
    return load_model(path, SiteConfig)
