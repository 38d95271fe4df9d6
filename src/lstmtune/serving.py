"""The published model: raw, unscaled input in, predictions in original units out.

A model directory holds ``weights.pt`` (a state dict, loaded with ``weights_only=True``: no
unpickling) and ``spec.json`` (featurizer and architecture; a classifier's ``ensemble`` lists its
members, whose weights sit in the one state dict under ``members.<i>.``). :class:`Predictor` is the
framework-free core; :class:`LstmtuneModel` is the MLflow pyfunc around it, logged as
"model from code" so MLflow does not pickle the Python object either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmtune.data.history_check import check_history
from lstmtune.data.sequence_ids import first_sent
from lstmtune.data.text import TextFeaturizer
from lstmtune.ensemble import EnsembleNet, build_ensemble
from lstmtune.features import (
    ClassifyFeaturizer,
    ForecastFeaturizer,
    filled_history,
    input_values,
    typed_labels,
)
from lstmtune.model import LSTMNet, build_model
from lstmtune.nonnegative import clip_frame
from lstmtune.served_history import served_spec
from lstmtune.served_times import at_origins

WEIGHTS = "weights.pt"
SPEC = "spec.json"


def save_model_dir(path: str | Path, model: nn.Module, spec: dict[str, Any]) -> None:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / WEIGHTS)
    (out / SPEC).write_text(json.dumps(spec, indent=2, sort_keys=True))


class Predictor:
    def __init__(self, spec: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> None:
        self.spec = spec
        self.task = str(spec["task"])
        self.featurizer: ForecastFeaturizer | ClassifyFeaturizer | TextFeaturizer
        if self.task == "forecast":
            self.featurizer = ForecastFeaturizer.from_dict(spec["featurizer"])
        elif self.task == "text":
            self.featurizer = TextFeaturizer.from_dict(spec["featurizer"])
        else:
            self.featurizer = ClassifyFeaturizer.from_dict(spec["featurizer"])
        vocab = spec.get("vocab_size")
        self.model: LSTMNet | EnsembleNet | nn.ModuleList
        if spec.get("members"):
            from lstmtune.forecast_members import build_members

            self.model = build_members(int(spec["n_outputs"]), spec["members"])
        elif spec.get("ensemble"):  # a classifier averaging its members' probabilities
            self.model = build_ensemble(
                int(spec["n_features"]),
                int(spec["n_outputs"]),
                spec["ensemble"],
                vocab_size=int(vocab) if vocab else None,
            )
        else:
            self.model = build_model(
                int(spec["n_features"]),
                int(spec["n_outputs"]),
                spec["params"],
                zero_head=bool(spec["zero_head"]),
                vocab_size=int(vocab) if vocab else None,
                n_series=int(spec.get("n_series", 0)),
            )
        self.model.load_state_dict(state_dict)
        self.model.eval()

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        p = Path(path)
        spec = json.loads((p / SPEC).read_text())
        state = torch.load(p / WEIGHTS, map_location="cpu", weights_only=True)
        return cls(spec, state)

    def _missing(self, frame: pd.DataFrame, cols: list[str]) -> None:
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"input is missing column(s): {', '.join(missing)}")

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.spec.get("panel"):  # many series: long-format history, one row per window
            from lstmtune.serving_panel import predict_panel

            assert isinstance(self.model, LSTMNet)  # an ensemble is a classifier
            return predict_panel(self.model, self.spec, frame)
        if self.task == "forecast":
            return self._forecast(frame)
        if self.task == "text":
            return self._text(frame)
        return self._classify(frame)

    def _text(self, frame: pd.DataFrame) -> pd.DataFrame:
        f = self.featurizer
        assert isinstance(f, TextFeaturizer)
        self._missing(frame, [f.text_column])
        texts = frame[f.text_column]
        if texts.empty:
            raise ValueError("input has no rows")
        missing = np.flatnonzero(texts.isna().to_numpy())
        if len(missing):
            raise ValueError(
                f"input column {f.text_column!r} has a missing text at input row {missing[0] + 1}"
            )
        blank = np.flatnonzero((texts.astype(str).str.strip() == "").to_numpy())
        if len(blank):  # refused in training too: nothing to read
            raise ValueError(
                f"input column {f.text_column!r} has an empty text at input row {blank[0] + 1}"
            )
        strings = texts.astype(str).tolist()
        ids, lengths = f.encode(strings)
        with torch.no_grad():
            proba = torch.softmax(
                self.model(torch.from_numpy(ids), torch.from_numpy(lengths)), dim=1
            ).numpy()
        proba = f.prior_where_unknown(strings, proba)  # no known word: the class shares
        labels = typed_labels([f.classes[i] for i in proba.argmax(axis=1)], f.label_kind)
        out = pd.DataFrame({"label": labels}, index=frame.index)  # one row per text: joinable
        for i, c in enumerate(f.classes):
            out[f"proba_{c}"] = proba[:, i].astype(np.float64)
        return out

    def _forecast(self, frame: pd.DataFrame) -> pd.DataFrame:
        f = self.featurizer
        assert isinstance(f, ForecastFeaturizer)
        self._missing(frame, f.features)
        check_history(frame, self.spec.get("time_axis"))  # duplicates, gaps, order: ValueError
        raw = input_values(frame, f.features)  # pd.NA read as NaN, text refused by row
        missing = str(self.spec.get("missing", ""))  # data.missing: filled as in training
        raw = filled_history(raw, missing, f.features, "at input row")
        spec, lead = served_spec(self.spec, frame, raw[:, f.target_index])  # classical: rebased
        f = ForecastFeaturizer.from_dict(spec["featurizer"])
        featurizers = [
            ForecastFeaturizer.from_dict(m["featurizer"]) for m in spec.get("members") or []
        ]
        featurizers = featurizers or [f]
        longest = max(featurizers, key=lambda m: m.lookback)
        if len(raw) < longest.lookback:
            raise ValueError(
                f"input has {len(raw)} rows; the model needs at least"
                f" lookback={longest.lookback} rows of history"
            )
        ends = longest.history_ends(len(raw))  # origins every member can forecast from
        nets = list(self.model) if isinstance(self.model, nn.ModuleList) else [self.model]
        preds = [
            _network_forecast(net, m, raw, ends) for net, m in zip(nets, featurizers, strict=True)
        ]
        pred = np.mean(preds, axis=0)
        if spec.get("combination"):  # convex mix with classical forecasts, from JSON
            from lstmtune.combine import apply

            pred = apply(spec["combination"], pred, raw[:, f.target_index], ends, f.period)
        out = pd.DataFrame(pred, columns=[f"step_{h}" for h in range(1, f.horizon + 1)])
        if self.spec.get("intervals"):  # step_k_lo_L, step_k_hi_L after the point forecasts
            from lstmtune.conformal import interval_columns, origin_scale

            bands = self.spec["intervals"]  # the local scale reads the stored rows before, too
            target = np.concatenate([lead, raw[:, f.target_index]])
            scale = origin_scale(bands, target, ends + len(lead))
            names, values = interval_columns(pred, bands, scale)
            out = pd.concat([out, pd.DataFrame(dict(zip(names, values, strict=True)))], axis=1)
        out = clip_frame(out, self.spec.get("nonnegative"))  # evaluate.nonnegative, as tested
        return at_origins(out, frame, ends, self.spec.get("time_axis"))  # origin's time, label

    def _classify(self, frame: pd.DataFrame) -> pd.DataFrame:
        f = self.featurizer
        assert isinstance(f, ClassifyFeaturizer)
        self._missing(frame, [f.sequence_column, *f.features])
        if frame.empty:
            raise ValueError("input has no rows")
        ids, padded, lengths = f.sequences(frame)
        with torch.no_grad():
            proba = torch.softmax(
                self.model(torch.from_numpy(padded), torch.from_numpy(lengths)), dim=1
            ).numpy()
        sent = first_sent(frame, f.sequence_column)  # the ids answered as they were sent
        labels = f.label_values([f.classes[i] for i in proba.argmax(axis=1)])
        out = pd.DataFrame({f.sequence_column: [sent[i] for i in ids], "label": labels})
        for i, c in enumerate(f.classes):
            out[f"proba_{c}"] = proba[:, i].astype(np.float64)
        return out


def _network_forecast(
    net: nn.Module, f: ForecastFeaturizer, raw: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """One network's forecasts from the origins ``ends`` of ``raw``, in original units."""
    x, anchor = f.windows(f.scale(raw), ends)
    with torch.no_grad():
        out = net(torch.from_numpy(x)) + torch.from_numpy(anchor)
    return np.asarray(f.unscale_target(out.numpy().astype(np.float64)))


def _pyfunc_class() -> type:
    """:class:`LstmtuneModel`, defined on first use: ``mlflow.pyfunc`` costs a second or more to
    import, and only logging or loading the pyfunc needs it (not training, not the plots, not
    :class:`Predictor`)."""
    import mlflow.pyfunc

    class LstmtuneModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        """MLflow pyfunc wrapper; ``artifacts["model_dir"]`` is a model directory."""

        def load_context(self, context: Any) -> None:
            self.predictor = Predictor.load(context.artifacts["model_dir"])

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            if not isinstance(model_input, pd.DataFrame):
                model_input = pd.DataFrame(model_input)
            return self.predictor.predict(model_input)

    LstmtuneModel.__qualname__ = "LstmtuneModel"
    return LstmtuneModel


def __getattr__(name: str) -> Any:
    """``LstmtuneModel`` (the MLflow pyfunc around :class:`Predictor`) is made when first asked
    for; MLflow is a dependency of lstmtune, but Predictor stays usable without it."""
    if name == "LstmtuneModel":
        cls = globals()[name] = _pyfunc_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
