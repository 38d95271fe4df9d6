"""The model version as logged to MLflow: the pyfunc "model from code" (``_mlflow_model.py``), its
pip requirements, signature and input example, registered from the parent run once (a retried
step re-attaches to the version it registered)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

MODEL_CODE = Path(__file__).with_name("_mlflow_model.py")


def pip_requirements(spec: dict[str, Any] | None = None) -> list[str]:
    """Pinned versions of what the pyfunc imports (without local build tags such as ``+cpu``):
    with statsforecast for a model of many series with a combination (a series it never saw gets
    its AutoARIMA/AutoETS fitted when served), with scipy for one holding an ARIMA spec (its
    Kalman filter's stationary start)."""
    dists = ["torch", "numpy", "pandas", "mlflow"]
    if spec is not None and ((spec.get("panel") or {}).get("combination")):
        dists.append("statsforecast")
    if spec is not None and _has_arima(spec):
        dists.append("scipy")
    reqs = []
    for dist in dists:
        try:
            version = metadata.version(dist).split("+")[0]
        except metadata.PackageNotFoundError:  # pragma: no cover
            continue
        reqs.append(f"{dist}=={version}")
    return reqs


def _has_arima(node: Any) -> bool:
    """Whether a model spec holds an ARIMA spec anywhere (an anchor, a member's, a partner)."""
    if isinstance(node, dict):
        return node.get("kind") == "arima" or any(_has_arima(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_arima(v) for v in node)
    return False


def _saved_spec(model_dir: str) -> dict[str, Any]:
    import json

    from lstmtune.serving import SPEC

    spec: dict[str, Any] = json.loads((Path(model_dir) / SPEC).read_text())
    return spec


def model_signature(example: pd.DataFrame, output: pd.DataFrame, meta: dict[str, Any]) -> Any:
    """Inferred signature, except the input columns accept any type: the pyfunc reads the
    numeric ones as float64 and the ids and texts as text itself, and MLflow would refuse int64
    for a ``double`` column, floats for a ``long`` one and integer ids or texts for a ``string``
    one (the prepared example's are text). The time column is optional (checked when it is sent)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    sig = infer_signature(example, output)
    any_type = AnyType()  # type: ignore[no-untyped-call]
    columns = meta["columns"]
    times = {(meta.get("time_axis") or {}).get("column"), columns.get("time_column")}
    cols: list[ColSpec | TensorSpec] = [
        ColSpec(any_type, c.name, required=c.name not in times) for c in sig.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(cols), outputs=sig.outputs)


def log_version(
    client: Any,
    name: str,
    parent_run_id: str,
    model_dir: str,
    example: pd.DataFrame,
    signature: Any,
    evaluation: dict[str, Any],
) -> str:
    """The version of ``name`` registered from the parent run: the one a retried step already
    registered, else the pyfunc (with the model directory and the lstmtune package) logged to the
    parent run, with its evaluation, and registered now."""
    import mlflow

    existing = client.search_model_versions(f"run_id='{parent_run_id}'") if parent_run_id else []
    existing = [v for v in existing if v.name == name]
    if existing:  # a retried step re-attaches instead of registering twice
        return str(existing[0].version)
    with mlflow.start_run(run_id=parent_run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"model_dir": str(model_dir)},
            code_paths=[str(Path(__file__).resolve().parent)],  # the lstmtune package
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(_saved_spec(model_dir)),
            registered_model_name=name,
        )
        mlflow.log_dict(evaluation, "evaluation.json")
    return str(info.registered_model_version)
