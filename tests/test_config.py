"""load_config: YAML + dotted overrides, one-line errors naming the key, ParamSpec, resolved()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lstmtune.config import ParamSpec, RunConfig, example_data_path, load_config
from lstmtune.errors import UserError


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(path: str | None, overrides: dict | None = None) -> str:
    with pytest.raises(UserError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


# --- YAML + overrides -----------------------------------------------------------------


def test_yaml_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data:\n  target: y\n  time_column: t\n  horizon: 3\n"
        "tune:\n  n_trials: 7\n  sampler: random\n"
        "train:\n  patience: 4\n"
        "mlflow:\n  experiment: exp1\n"
        "output_dir: somewhere\n",
    )
    cfg = load_config(path)
    assert cfg.data.target == "y"
    assert cfg.data.time_column == "t"
    assert cfg.data.horizon == 3
    assert cfg.tune.n_trials == 7
    assert cfg.tune.sampler == "random"
    assert cfg.train.patience == 4
    assert cfg.mlflow.experiment == "exp1"
    assert cfg.output_dir == "somewhere"
    # untouched keys keep their defaults
    assert cfg.tune.pruner == "hyperband"
    assert cfg.data.missing == "error"


def test_overrides_win_over_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "tune:\n  n_trials: 5\n  sampler: random\ndata:\n  target: y\n")
    cfg = load_config(path, {"tune.n_trials": 9, "data.horizon": 2})
    assert cfg.tune.n_trials == 9  # flag wins
    assert cfg.tune.sampler == "random"  # YAML kept where no flag is given
    assert cfg.data.target == "y"
    assert cfg.data.horizon == 2  # flag adds a key the YAML lacks


def test_none_override_does_not_clobber_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "tune:\n  n_trials: 5\n")
    cfg = load_config(path, {"tune.n_trials": None, "data.target": None})
    assert cfg.tune.n_trials == 5
    assert cfg.data.target is None


def test_nested_dotted_override_into_search_space() -> None:
    cfg = load_config(None, {"tune.search_space.lookback": 12})
    assert cfg.tune.search_space == {"lookback": 12}


def test_no_file_gives_defaults() -> None:
    cfg = load_config(None)
    assert cfg == RunConfig()
    assert cfg.tune.n_trials == 30


def test_empty_yaml_is_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == RunConfig()


def test_to_json_round_trip(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tune:\n  search_space:\n    units: [8, 16]\n    dropout: 0.1\n"
        "    learning_rate: {type: float, low: 0.001, high: 0.1, log: true}\n",
    )
    cfg = load_config(path).resolved()
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg


# --- errors name the key / file ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("tune:\n  n_trialz: 3\n", "tune.n_trialz", " (did you mean 'n_trials'?)"),
        ("data:\n  bogus: 1\n", "data.bogus", ""),
        ("trian:\n  seed: 1\n", "trian", " (did you mean 'train'?)"),
        ("mlflow:\n  tracking: x\n", "mlflow.tracking", " (did you mean 'tracking_uri'?)"),
        (
            "tune:\n  katib:\n    namespac: x\n",
            "tune.katib.namespac",
            " (did you mean 'namespace'?)",
        ),
    ],
)
def test_unknown_key_in_yaml_is_named(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    msg = error_of(path)
    assert msg.endswith(f"{path}: {key}: unknown key{hint}")


def test_unknown_key_in_override_is_named() -> None:
    msg = error_of(None, {"tune.n_trialz": 3})
    assert msg.endswith("config: tune.n_trialz: unknown key (did you mean 'n_trials'?)")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("tune:\n  n_trials: abc\n", "tune.n_trials"),
        ("tune:\n  n_trials: 0\n", "tune.n_trials"),
        ("data:\n  horizon: [1, 2]\n", "data.horizon"),
        ("train:\n  device: tpu\n", "train.device"),
        ("tune:\n  sampler: bogus\n", "tune.sampler"),
        ("data:\n  task: regress\n", "data.task"),
        ("data:\n  missing: drop\n", "data.missing"),
        ("train:\n  amp: maybe\n", "train.amp"),
        ("data: 5\n", "data"),
    ],
)
def test_wrong_type_is_named(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    msg = error_of(path)
    assert path in msg
    assert f": {key}:" in msg


def test_wrong_type_in_override_is_named() -> None:
    msg = error_of(None, {"tune.sampler": "bogus"})
    assert "tune.sampler" in msg
    assert "tpe" in msg  # the allowed values are listed


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  target: [unclosed\n  horizon: 2\n")
    msg = error_of(path)
    assert msg.startswith(path)
    assert "not valid YAML" in msg
    assert "line" in msg


def test_a_key_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    """safe_load keeps the last of two keys without a word: a user's n_trials: 3 was 4."""
    path = write(tmp_path, "tune:\n  n_trials: 3\n  sampler: tpe\n  n_trials: 4\n")
    msg = error_of(path)
    assert (
        msg == f"{path}: key 'n_trials' appears twice in one mapping (line 4); YAML would keep"
        " the last one without a word"
    )
    space = "tune:\n  search_space:\n    units: {type: int, low: 8, high: 16}\n"
    space += "    lookback: {type: int, low: 8, high: 16}\n"  # one key in two mappings: fine
    assert load_config(write(tmp_path, space)).tune.search_space["lookback"].high == 16
    merged = "tune:\n  search_space:\n    units: &r {type: int, low: 8, high: 16}\n"
    merged += "    lookback: {<<: *r, high: 32}\n"  # a merge key, and a key overriding it: fine
    looked = load_config(write(tmp_path, merged)).tune.search_space["lookback"]
    assert (looked.low, looked.high) == (8, 32)
    assert "not valid YAML" in error_of(write(tmp_path, "tune:\n  ? [a, b]\n  : 1\n"))


def test_binary_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    msg = error_of(str(path))
    assert str(path) in msg
    assert "not valid YAML" in msg


def test_missing_config_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    msg = error_of(path)
    assert path in msg
    assert "not found" in msg


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "list"), ("42\n", "int"), ("just text\n", "str")]
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path, text)
    msg = error_of(path)
    assert path in msg
    assert "mapping" in msg
    assert kind in msg


# --- val_size / test_size ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.2, 0.5, 0.99, 1, 5, 12, 12.0])
@pytest.mark.parametrize("key", ["val_size", "test_size"])
def test_sizes_accepted(key: str, value: float) -> None:
    cfg = load_config(None, {f"data.{key}": value})
    assert getattr(cfg.data, key) == value


@pytest.mark.parametrize("value", [1.5, 2.5, 10.1])
@pytest.mark.parametrize("key", ["val_size", "test_size"])
def test_sizes_non_integer_count_rejected(key: str, value: float) -> None:
    msg = error_of(None, {f"data.{key}": value})
    assert f"data.{key}" in msg
    assert "integer count" in msg


@pytest.mark.parametrize("value", [0, -0.1, -3])
@pytest.mark.parametrize("key", ["val_size", "test_size"])
def test_sizes_non_positive_rejected(key: str, value: float) -> None:
    msg = error_of(None, {f"data.{key}": value})
    assert f"data.{key}" in msg


def test_size_error_from_yaml_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  test_size: 2.5\n")
    msg = error_of(path)
    assert path in msg
    assert "data.test_size" in msg


# --- ParamSpec -----------------------------------------------------------------------------


def test_paramspec_valid_forms() -> None:
    assert ParamSpec(type="categorical", choices=[1, 2]).choices == [1, 2]
    spec = ParamSpec(type="int", low=1, high=4, step=1)
    assert (spec.low, spec.high, spec.step) == (1, 4, 1)
    assert ParamSpec(type="float", low=1e-4, high=1e-1, log=True).log is True
    assert ParamSpec(type="float", low=0.0, high=0.5).low == 0.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"type": "categorical"}, "choices"),
        ({"type": "categorical", "choices": []}, "choices"),
        ({"type": "categorical", "choices": [1], "low": 0}, "not low/high"),
        ({"type": "int"}, "needs 'low' and 'high'"),
        ({"type": "int", "low": 1}, "needs 'low' and 'high'"),
        ({"type": "float", "high": 1.0}, "needs 'low' and 'high'"),
        ({"type": "int", "low": 1, "high": 3, "choices": [1]}, "not 'choices'"),
        ({"type": "int", "low": 5, "high": 3}, "greater than high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "float", "low": -1.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        (
            {"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1},
            "cannot have a step",
        ),
        ({"type": "float", "low": 0.1, "high": 1.0, "step": 0}, "step must be > 0"),
        ({"type": "int", "low": 1.5, "high": 3}, "integer low"),
        ({"type": "bool", "low": 1, "high": 3}, "type"),
    ],
)
def test_paramspec_invalid(kwargs: dict, fragment: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        ParamSpec(**kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("yaml_spec", "fragment"),
    [
        ("{type: categorical}", "choices"),
        ("{type: int, low: 1}", "needs 'low' and 'high'"),
        ("{type: float, low: 0, high: 1, log: true}", "log scale needs low > 0"),
    ],
)
def test_paramspec_error_in_yaml_names_parameter(
    tmp_path: Path, yaml_spec: str, fragment: str
) -> None:
    path = write(tmp_path, f"tune:\n  search_space:\n    learning_rate: {yaml_spec}\n")
    msg = error_of(path)
    assert path in msg
    assert "tune.search_space.learning_rate" in msg
    assert fragment in msg


def test_search_space_shorthands(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tune:\n  search_space:\n    units: [8, 16]\n    dropout: 0.2\n"
        "    num_layers: {type: int, low: 1, high: 3}\n",
    )
    space = load_config(path).tune.search_space
    assert space is not None
    assert space["units"] == [8, 16]
    assert space["dropout"] == 0.2
    assert isinstance(space["num_layers"], ParamSpec)
    assert (space["num_layers"].low, space["num_layers"].high) == (1, 3)


# --- resolved() ----------------------------------------------------------------------------


def test_resolved_fills_sqlite_defaults_under_output_dir(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "x"
    cfg = load_config(None, {"output_dir": str(out)}).resolved()
    assert Path(cfg.output_dir) == out.resolve()
    assert Path(cfg.output_dir).is_absolute()
    assert cfg.tune.storage == f"sqlite:///{out.resolve() / 'optuna.db'}"
    assert cfg.mlflow.tracking_uri == f"sqlite:///{out.resolve() / 'mlflow.db'}"
    # resolving writes nothing
    assert not out.exists()


def test_resolved_relative_output_dir_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, {"output_dir": "rel-out"}).resolved()
    assert cfg.output_dir == str(tmp_path.resolve() / "rel-out")
    assert cfg.tune.storage == f"sqlite:///{tmp_path.resolve() / 'rel-out' / 'optuna.db'}"


def test_resolved_bundled_data() -> None:
    cfg = load_config(None).resolved()
    assert cfg.data.path == example_data_path()
    assert Path(cfg.data.path).is_file()
    assert cfg.data.target == "passengers"
    assert cfg.data.time_column == "month"
    assert cfg.mlflow.model_name == "lstmtune-airline_passengers"


def test_resolved_bundled_data_not_forced_on_classify() -> None:
    cfg = load_config(None, {"data.task": "classify"}).resolved()
    assert cfg.data.path == example_data_path()
    assert cfg.data.target is None


def test_resolved_keeps_explicit_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(
        None,
        {
            "data.path": "data/My Series.csv",
            "tune.storage": "sqlite:////elsewhere/o.db",
            "mlflow.tracking_uri": "http://mlflow:5000",
            "output_dir": str(tmp_path / "o"),
        },
    ).resolved()
    assert cfg.data.path == str(tmp_path.resolve() / "data" / "My Series.csv")
    assert cfg.tune.storage == "sqlite:////elsewhere/o.db"
    assert cfg.mlflow.tracking_uri == "http://mlflow:5000"
    assert cfg.mlflow.model_name == "lstmtune-my-series"


def test_resolved_leaves_uris_alone() -> None:
    cfg = load_config(None, {"data.path": "s3://bucket/dir/sales.parquet"}).resolved()
    assert cfg.data.path == "s3://bucket/dir/sales.parquet"
    assert cfg.mlflow.model_name == "lstmtune-sales"


def test_resolved_is_a_copy() -> None:
    cfg = load_config(None)
    resolved = cfg.resolved()
    assert cfg.data.path is None
    assert cfg.tune.storage is None
    assert resolved.data.path is not None


def test_infinite_values_survive_the_json_round_trip_to_the_steps() -> None:
    cfg = load_config(None, {"train.grad_clip": float("inf")})
    back = RunConfig.from_json(cfg.to_json())
    assert back.train.grad_clip == float("inf") and back == cfg


def test_a_bad_flag_is_not_blamed_on_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "threads.yaml"
    path.write_text("train:\n  threads: 1\n")
    with pytest.raises(UserError, match=r"^config: data\.horizon: "):
        load_config(str(path), {"data.horizon": 0})
    path.write_text("data:\n  horizon: 0\n")
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: data\.horizon: "):
        load_config(str(path), {"train.threads": 1})
