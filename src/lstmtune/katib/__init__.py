"""Katib backend: the same search space as Optuna, rendered as a ``kubeflow.org/v1beta1``
Experiment whose trials are batch Jobs running ``lstmtune trial`` in the project image.

Three jobs, three modules, as in Katib itself (the Experiment's shape, its admission webhook and
its controller are separate packages):

* :mod:`~lstmtune.katib.experiment` renders the Experiment as typed models from
  ``kubeflow-katib-api`` (:func:`build_experiment`) and reads trial arguments back;
* :mod:`~lstmtune.katib.admission` checks it against Katib's admission rules
  (:func:`validate_experiment`) before it is submitted;
* :mod:`~lstmtune.katib.client` creates it with the ``kubernetes`` client, re-attaches to an
  existing one of the same name (a retried pipeline step never launches twice), waits with a
  timeout and returns the optimal trial. A failed or timed-out Experiment raises — never a
  silent success.

:mod:`~lstmtune.katib.staging` puts the prepared data where trial pods read it, and
:mod:`~lstmtune.katib.launcher` is the tune step that drives all of them (:func:`katib_tune`).
"""

from lstmtune.katib.admission import ALGORITHMS, NAME_RE, validate_experiment
from lstmtune.katib.client import (
    create_or_attach,
    optimal_result,
    wait_for_experiment,
)
from lstmtune.katib.experiment import (
    BEST_EPOCH,
    GROUP,
    METRICS_REGEX,
    PBT_CHECKPOINTS,
    PLURAL,
    PRIMARY_CONTAINER,
    SAMPLER_TO_ALGORITHM,
    VERSION,
    algorithm_for,
    build_experiment,
    decode_config,
    encode_config,
    experiment_name,
    katib_parameters,
    parse_value,
)
from lstmtune.katib.launcher import katib_tune
from lstmtune.katib.staging import fetch_prepared, upload_prepared

__all__ = [
    "ALGORITHMS",
    "BEST_EPOCH",
    "GROUP",
    "METRICS_REGEX",
    "NAME_RE",
    "PBT_CHECKPOINTS",
    "PLURAL",
    "PRIMARY_CONTAINER",
    "SAMPLER_TO_ALGORITHM",
    "VERSION",
    "algorithm_for",
    "build_experiment",
    "create_or_attach",
    "decode_config",
    "encode_config",
    "experiment_name",
    "fetch_prepared",
    "katib_parameters",
    "katib_tune",
    "optimal_result",
    "parse_value",
    "upload_prepared",
    "validate_experiment",
    "wait_for_experiment",
]
