"""The strict base of every configuration section (unknown keys are errors), and the one line a
validation error becomes."""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError


class _Strict(BaseModel):
    # inf/nan as JSON's Infinity/NaN (json.loads reads them back): the steps get the config as
    # JSON, and the default (null) would turn e.g. train.grad_clip: .inf (no clipping) into an
    # invalid value
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, ser_json_inf_nan="constants"
    )


def _auto_or_bool(v: Any) -> Any:
    """``auto`` or a boolean (YAML's true/false, or those words in a flag); anything else is
    refused in one line."""
    words = {"auto": "auto", "true": True, "false": False}
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in words:
        return words[v.lower()]
    raise ValueError(f"must be auto, true or false, got {v!r}")


AutoOrBool = Annotated[Literal["auto"] | bool, BeforeValidator(_auto_or_bool)]


def error_key(exc: ValidationError) -> str:
    """The dotted config key of the first error."""
    return ".".join(
        str(p)
        for p in exc.errors()[0]["loc"]
        if not (isinstance(p, str) and p in ("ParamSpec", "list[union[bool,int,float,str]]"))
        and not str(p).startswith(("function-", "bool", "int", "float", "str", "list["))
    )


def format_error(source: str, exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line: the source, the dotted key and what is wrong with it; an unknown key of
    ``model`` (the validated class) names the key it is nearly spelt as."""
    err = exc.errors()[0]
    key = error_key(exc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        near = _known_keys(model, err["loc"][:-1]) if model is not None else []
        guess = difflib.get_close_matches(str(err["loc"][-1]), near, n=1, cutoff=0.75)
        msg = f"unknown key (did you mean '{guess[0]}'?)" if guess else "unknown key"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {key}: {msg}{more}"


def _known_keys(model: type[BaseModel], path: tuple[int | str, ...]) -> list[str]:
    """The keys of the section that ``path`` leads to from ``model``; none where the path
    leaves the sections (a search-space mapping, a list)."""
    for part in path:
        field = model.model_fields.get(str(part))
        section = field and next(
            (t for t in (field.annotation, *get_args(field.annotation)) if _is_section(t)), None
        )
        if section is None:
            return []
        model = section
    return list(model.model_fields)


def _is_section(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


class DuplicateKey(ValueError):
    """A key given twice in one YAML mapping (``key``, the 1-based ``line`` of the second)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """safe_load's loader, refusing a key given twice in one mapping."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    """The mapping as safe_load builds it, after refusing a key written twice in it (merge keys,
    ``<<: *defaults``, are left to it: a key written beside them overrides theirs)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            if key in seen:
                raise DuplicateKey(str(key), key_node.start_mark.line + 1)
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping refuses it as bad YAML
            continue
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """YAML as :func:`yaml.safe_load` reads it, except that a key given twice in one mapping is
    refused (:class:`DuplicateKey`): safe_load keeps the last one without a word."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects


#: a UCR / UEA archive file's name (``Chinatown_TRAIN.tsv``, ``ArrowHead_test.ts``): the set's
#: name, the file's role in the pair and its extension (:mod:`lstmtune.data.archive`)
ARCHIVE_NAME = re.compile(r"^(?P<stem>.+)_(?P<role>train|test)(?P<ext>\.[^.]*)?$", re.IGNORECASE)
_STEM_EXTENSIONS = ("", ".tsv", ".txt", ".ts", ".csv", ".arff")


def dataset_stem(name: str) -> str:
    """A data file's name without its suffix, and without the archive's ``_TRAIN`` (the model of
    ``Chinatown_TRAIN.tsv`` is ``lstmtune-chinatown``, as of ``chinatown.csv``)."""
    archive = ARCHIVE_NAME.match(name)
    if archive and archive["role"] == "TRAIN" and (archive["ext"] or "") in _STEM_EXTENSIONS:
        return str(archive["stem"])
    return PurePosixPath(name).stem
