"""The one string catalogue for every report: `rules/strings/<lang>.yaml`, Vietnamese by default,
plus one file per part of the tool where that keeps a file short (`rules/strings/<part>.<lang>.yaml`,
merged in; a key written in two files is an error).

Both languages share one set of keys, checked at load, so a report never shows a raw key in one
language only; a missing key or a different set of `{placeholders}` is a RulesError naming the
file and the key. Number and date separators live in the catalogue too (keys `fmt.*`), so the
whole page follows one convention per language."""

from __future__ import annotations

import os
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from linkage.errors import RulesError
from linkage.rules import RULES_ENV, rules_dir

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
STRINGS_DIR = "strings"


def _flatten(data: Any, prefix: str, path: Path, out: dict[str, str]) -> dict[str, str]:
    """Nested YAML mappings become dotted keys ("run.inputs.title"): easy to edit, easy to look up."""
    if not isinstance(data, dict):
        raise RulesError(f"{path}: {prefix or 'top level'}: expected a mapping of keys to strings")
    for k, v in data.items():
        if not isinstance(k, str):  # YAML 1.1 reads a bare yes/no/on/off key as a boolean
            raise RulesError(f"{path}: {prefix + '.' if prefix else ''}{k}: key is not a string (quote it)")
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            _flatten(v, key, path, out)
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[key] = str(v)
        else:
            raise RulesError(f"{path}: {key}: expected a string, got {type(v).__name__}")
    return out


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key written twice in one mapping (PyYAML keeps the last one
    silently, which would hide a string)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise RulesError(f"string catalogue not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: invalid YAML: {exc}") from None
    return _flatten(data, "", path, {})


def validate(catalogues: dict[str, dict[str, str]], paths: dict[str, Path]) -> None:
    """Every language has exactly the keys of the others, with the same placeholders."""
    langs = list(catalogues)
    for lang in langs:
        for other in langs:
            if other == lang:
                continue
            missing = sorted(set(catalogues[other]) - set(catalogues[lang]))
            if missing:
                raise RulesError(f"{paths[lang]}: missing key '{missing[0]}' (present in {paths[other]})"
                                 + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    first = langs[0]
    for key, text in catalogues[first].items():
        for lang in langs[1:]:
            if _fields(text) != _fields(catalogues[lang][key]):
                raise RulesError(f"{paths[lang]}: {key}: placeholders {sorted(_fields(catalogues[lang][key]))} "
                                 f"differ from {paths[first]} {sorted(_fields(text))}")


def _read_lang(d: Path, lang: str) -> dict[str, str]:
    """The language's main file and its parts (`<part>.<lang>.yaml`), one key in one file only."""
    out = _read(d / f"{lang}.yaml")
    for part in sorted(d.glob(f"*.{lang}.yaml")):
        for key, text in _read(part).items():
            if key in out:
                raise RulesError(f"{part}: key '{key}' is already defined in another {lang} catalogue file")
            out[key] = text
    return out


@lru_cache(maxsize=8)
def _load(directory: str) -> dict[str, dict[str, str]]:
    d = Path(directory)
    paths = {lang: d / f"{lang}.yaml" for lang in LANGS}
    catalogues = {lang: _read_lang(d, lang) for lang in LANGS}
    validate(catalogues, paths)
    return catalogues


def load_catalogue(rules: str | Path | None = None) -> dict[str, dict[str, str]]:
    """All languages' strings, validated; cached per rules directory (a page looks up dozens of
    strings: no file-system call per lookup)."""
    return _catalogue_for(None if rules is None else str(rules), os.environ.get(RULES_ENV))


@lru_cache(maxsize=16)
def _catalogue_for(rules: str | None, env: str | None) -> dict[str, dict[str, str]]:
    return _load(str(rules_dir(rules) / STRINGS_DIR))


def pack_catalogue(rules: str | Path | None, lang: str) -> dict[str, str]:
    """The language's strings of a rules pack, or none for a pack without a catalogue (the rules'
    own `text` then stands: the FEBRL example pack)."""
    if not (rules_dir(rules) / STRINGS_DIR).is_dir():
        return {}
    return load_catalogue(rules)[check_lang(lang)]


def check_lang(lang: str) -> str:
    """The language code, or a clear error listing the ones we have."""
    if lang not in LANGS:
        raise RulesError(f"unknown report language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def t(key: str, lang: str = DEFAULT_LANG, rules: str | Path | None = None, **fmt: Any) -> str:
    """The catalogue's text for key in lang, formatted with fmt; an unknown key is an error, never
    a silently English page."""
    cat = load_catalogue(rules)[check_lang(lang)]
    try:
        text = cat[key]
    except KeyError:
        raise RulesError(f"{rules_dir(rules) / STRINGS_DIR / (lang + '.yaml')}: missing key '{key}'") from None
    return text.format(**fmt) if fmt else text


def has(key: str, lang: str = DEFAULT_LANG, rules: str | Path | None = None) -> bool:
    """Whether the catalogue has key (for optional labels such as a comparison's display name)."""
    return key in load_catalogue(rules)[check_lang(lang)]
