"""Whether this run's model is already the newest registered version.

A scheduled run on unchanged data resumes its study (every trial reused) and retrains the same
configurations with the same seeds, which on a CPU gives the same weights to the bit. Registering
that model again would move the version number, and the aliases, for nothing. Each version
carries a digest (tag :data:`TAG`) of what determines the published model: its files (the
weights by their tensors, ``spec.json``), the data's sha256, the configuration that shapes the
model or its promotion (not how long the search runs: :data:`SEARCH_BUDGET`), the lstmtune code
the pyfunc runs and its pinned requirements. When the newest version of the name carries this
run's digest, the run registers nothing and keeps the aliases as they are (:func:`kept_version`,
a pure function).

Training that is not bit-reproducible (CUDA kernels, other thread counts) gives other weights,
hence another digest: such a run registers as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig

#: the version tag holding the digest of the model it publishes
TAG = "model_digest"

#: the record of how the model was evaluated (metrics, timing): evidence, not the model
EVALUATION = "evaluation.json"

#: configuration that says where things are read and written, or how much hardware runs them,
#: not what is trained: left out of the digest (the data's content is in by its sha256)
NOT_THE_MODEL: dict[str, tuple[str, ...]] = {
    "": ("output_dir", "mlflow", "cluster"),
    "data": ("path",),
    "tune": ("storage", "study_name", "workers", "heartbeat_seconds", "katib"),
    "train": ("device", "threads", "parallel_fits"),
}

#: how long the search runs, and nothing else: the trials it may finish (``tune.n_trials``),
#: its time (``tune.timeout``) and the failed trials it tolerates before it aborts
#: (``tune.max_failed_trials``). Each changes the published model only through what the search
#: trains (which trials there are, where the last one stops), and the weights and ``spec.json``
#: are in the digest: a rerun with more trials that ends at the same model is that model. Not
#: among them: what changes what a trial is or how it is judged (``train.patience``, the
#: pruner, ``tune.n_startup_trials``, ``tune.pbt_rounds``: when PBT exploits, ``tune.subset``).
SEARCH_BUDGET: dict[str, tuple[str, ...]] = {
    "tune": ("n_trials", "timeout", "max_failed_trials"),
}

PREFERRED_ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class Newest:
    """The newest version of a registered model, as the decision needs it."""

    version: str
    digest: str | None
    run_id: str | None
    aliases: tuple[str, ...]
    promotion: str = ""


def kept_version(newest: Newest | None, digest: str, run_id: str) -> str | None:
    """The version this run's model already is (nothing to register), or None (register it).

    Kept only when the newest version carries the same digest and still holds an alias: one
    whose alias was taken off by hand is no longer published, and one this very run registered
    is re-attached to by a retried step (:func:`lstmtune.registry_model.log_version`), which
    then finishes its tags and alias. An older version with the same digest does not count:
    a newer, different model was registered since, and this run publishes the old one anew."""
    if newest is None or newest.digest != digest or not newest.aliases:
        return None
    if run_id and newest.run_id == run_id:
        return None
    return newest.version


def held_alias(aliases: tuple[str, ...]) -> str:
    """The alias a kept version is reported under: ``champion``, else ``challenger``, else the
    first of its others (set by hand)."""
    for alias in PREFERRED_ALIASES:
        if alias in aliases:
            return alias
    return sorted(aliases)[0]


def unchanged_line(version: str) -> str:
    return (
        f"unchanged: version {version} already holds this model (same data, configuration, code"
        " and weights); nothing registered"
    )


def newest_version(client: Any, name: str) -> Newest | None:
    """The highest-numbered version of ``name`` (None when it has none); read again by number,
    since a search leaves the aliases out."""
    found = client.search_model_versions(
        f"name='{name}'", max_results=1, order_by=["version_number DESC"]
    )
    if not found:
        return None
    v = client.get_model_version(name, str(max(int(mv.version) for mv in found)))
    tags = v.tags or {}
    aliases = tuple(v.aliases or ())
    return Newest(str(v.version), tags.get(TAG), v.run_id, aliases, tags.get("promotion", ""))


def keep(
    client: Any, name: str, newest: Newest, evaluation: dict[str, Any], run_id: str
) -> dict[str, Any]:
    """Register nothing: the parent run gets the evaluation and a tag naming the version that
    holds its model, and finishes; the aliases stay. The summary's registry fields, for that
    version under the alias it holds (its ``promotion`` tag says why it holds it)."""
    from lstmtune.progress import emit

    alias = held_alias(newest.aliases)
    client.log_dict(run_id, evaluation, EVALUATION)
    client.set_tag(run_id, "lstmtune.unchanged_version", newest.version)
    client.set_terminated(run_id, status="FINISHED")
    emit(
        "unchanged",
        unchanged_line(newest.version),
        model_name=name,
        model_version=newest.version,
        alias=alias,
    )
    return {
        "model_name": name,
        "model_version": newest.version,
        "alias": alias,
        "promotion_reason": newest.promotion,
        "model_uri": f"models:/{name}@{alias}",
        "model_version_uri": f"models:/{name}/{newest.version}",
        "unchanged": True,
    }


def model_digest(
    cfg: RunConfig, meta: dict[str, Any], model_dir: str, requirements: list[str]
) -> str:
    """sha256 over what determines the published model (see the module's docstring)."""
    parts = {
        "model": _files_digest(Path(model_dir)),
        "data_sha256": meta["sha256"],
        "config": _config_digest(cfg),
        "code": _code_digest(Path(__file__).resolve().parent),
        "requirements": sorted(requirements),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _files_digest(model_dir: Path) -> dict[str, str]:
    """Every file of the model directory but the evaluation record: the weights by their
    tensors (names, dtypes, shapes, bytes), the others by their bytes."""
    from lstmtune.serving import WEIGHTS

    out = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel == EVALUATION:
            continue
        out[rel] = _weights_digest(path) if rel == WEIGHTS else _bytes_digest(path)
    return out


def _bytes_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weights_digest(path: Path) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(key.encode() + b"\0")
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _config_digest(cfg: RunConfig) -> str:
    data = cfg.model_dump(mode="json")
    for left_out in (NOT_THE_MODEL, SEARCH_BUDGET):
        for section, keys in left_out.items():
            node = data[section] if section else data
            for key in keys:
                node.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _code_digest(package: Path) -> str:
    """The lstmtune package as the pyfunc logs it (its ``code_paths``), compiled files aside."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
