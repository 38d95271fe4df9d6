"""The classification search space: data-aware defaults (z-norm for univariate sets, LSTM-FCN,
patches for long sequences), validation of the new keys, the default configuration and the
Katib rendering of the same keys."""

from __future__ import annotations

from typing import Any

import pytest

from lstmtune.classify_space import LSTM_STEPS, patch_choices
from lstmtune.config import load_config
from lstmtune.errors import UserError
from lstmtune.katib.experiment import katib_parameters, parse_value
from lstmtune.search_space import default_configuration, default_space, resolve_search_space


def _meta(n_features: int = 1, longest: int = 24) -> dict[str, Any]:
    return {
        "task": "classify",
        "columns": {"features": [f"c{i}" for i in range(n_features)]},
        "max_sequence_length": longest,
        "classes": ["a", "b"],
    }


def test_patches_keep_the_lstm_near_64_steps() -> None:
    assert patch_choices(24) == [1] and patch_choices(LSTM_STEPS) == [1]
    assert patch_choices(251) == [4, 8]
    assert patch_choices(427) == [8, 16]
    for longest in (65, 251, 500, 4000):
        assert -(-longest // patch_choices(longest)[0]) <= LSTM_STEPS


def test_default_classify_space_is_lstm_fcn_with_small_data_training() -> None:
    space = default_space("classify", _meta(longest=427))
    assert space["conv"] == {"type": "fixed", "value": "fcn"}
    assert space["patch"]["choices"] == [8, 16]
    assert set(space["augment"]["choices"]) == {"none", "jitter", "scaling", "slice", "warp"}
    assert space["class_weight"]["choices"] == ["none", "balanced"]
    assert "lookback" not in space and "embedding_dim" not in space
    assert "conv" not in default_space("text") and "conv" not in default_space("forecast")


@pytest.mark.parametrize(("n_features", "z_norm"), [(1, True), (3, False)])
def test_default_configuration_z_normalises_univariate_sets(n_features: int, z_norm: bool) -> None:
    meta = _meta(n_features, longest=100)
    space = default_space("classify", meta)
    config = default_configuration(space, meta)
    assert space["seq_norm"]["choices"][0] is z_norm  # the first choice is the preferred one
    assert config["seq_norm"] is z_norm
    assert config["patch"] == 2 and config["conv_filters"] == 32
    assert config["learning_rate"] == pytest.approx(1e-3)


def test_new_keys_are_validated(tmp_path: Any) -> None:
    def resolve(space: dict[str, Any]) -> dict[str, Any]:
        cfg = load_config(None, {"tune.search_space": space, "output_dir": str(tmp_path)})
        return resolve_search_space(cfg.resolved(), _meta(), min_train_windows=8)

    assert resolve({"conv": ["fcn", "inception"]})["conv"]["choices"] == ["fcn", "inception"]
    for bad, match in (
        ({"conv": "resnet"}, "conv"),
        ({"augment": ["mixup"]}, "augment"),
        ({"patch": 0}, "patch"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"seq_norm": "yes"}, "seq_norm"),
        ({"class_weight": "inverse"}, "class_weight"),
    ):
        with pytest.raises(UserError, match=match):
            resolve(bad)


def test_katib_renders_and_parses_the_classification_keys() -> None:
    space = default_space("classify", _meta(longest=251))
    rendered = {p["name"]: p for p in katib_parameters(space)}
    assert rendered["seq_norm"]["feasibleSpace"]["list"] == ["true", "false"]
    assert rendered["patch"]["parameterType"] == "discrete"
    assert rendered["augment"]["parameterType"] == "categorical"
    assert parse_value(space["seq_norm"], "false") is False
    assert parse_value(space["label_smoothing"], "0.1") == 0.1
    assert parse_value(space["patch"], "8") == 8
