"""MLflow "model from code" entry point: the logged model is this file, not a pickle."""

import mlflow.models

from lstmtune.serving import LstmtuneModel

mlflow.models.set_model(LstmtuneModel())
