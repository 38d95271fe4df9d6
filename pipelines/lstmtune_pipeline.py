"""prepare -> tune -> train_best (retrain + evaluate) -> register.

The whole run configuration travels as one JSON string parameter (``config``): the same
validated :class:`lstmtune.config.RunConfig` that ``lstmtune run`` builds, so a scheduled run
on a cluster and a laptop run differ only in that configuration. Kubernetes settings (GPUs,
tolerations, node selectors, Secrets as env) are compiled in from ``cluster`` when given;
``kfp.local`` ignores them.
"""

from collections.abc import Callable
from typing import Any

from kfp import compiler, dsl

from lstmtune import __version__
from lstmtune.components import collect_best, prepare, register, train_best, tune
from lstmtune.config import ClusterConfig

PIPELINE_NAME = "lstmtune"
DEFAULT_IMAGE = f"ghcr.io/lstmtune/lstmtune:{__version__.split('+')[0]}"
S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_ENDPOINT_ENV = ("AWS_ENDPOINT_URL",)  # optional key: boto3 reads it, data.s3_endpoint_url wins
MLFLOW_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
STORAGE_ENV = ("LSTMTUNE_STORAGE_URL",)
#: requests of the steps that do not train, at most (their limits stay the cluster's): a GPU
#: config's 4 CPU / 16 Gi held a whole node's share for a step that polls Katib
LIGHT_REQUESTS = ("1", "4Gi")


def _op(func: Callable[..., Any], image: str) -> Any:
    return dsl.component(func, base_image=image, install_kfp_package=False)


def _at_most(value: str, cap: str) -> str:
    """The smaller of two Kubernetes quantities (``"4"`` and ``"1"``, ``"16Gi"`` and ``"4Gi"``)."""
    from kubernetes.utils import parse_quantity

    return value if parse_quantity(value) <= parse_quantity(cap) else cap


def apply_cluster_settings(task: Any, cluster: ClusterConfig, *, trains: bool) -> None:
    """Resources for every task; GPUs, tolerations and node selectors for tasks that train;
    credentials from Kubernetes Secrets as env (never baked into the pipeline)."""
    from kfp import kubernetes

    cpu, memory = cluster.cpu_request, cluster.memory_request
    if not trains:  # prepare, collect, register, a Katib tune step that only polls: no GPU node
        cpu, memory = _at_most(cpu, LIGHT_REQUESTS[0]), _at_most(memory, LIGHT_REQUESTS[1])
    task.set_cpu_request(cpu).set_memory_request(memory)
    if cluster.cpu_limit:
        task.set_cpu_limit(cluster.cpu_limit)
    if cluster.memory_limit:
        task.set_memory_limit(cluster.memory_limit)
    if trains:
        if cluster.gpus:
            task.set_accelerator_type(cluster.accelerator_type).set_accelerator_limit(cluster.gpus)
        for t in cluster.tolerations:
            kubernetes.add_toleration(
                task,
                key=t.get("key"),
                operator=t.get("operator"),
                value=t.get("value"),
                effect=t.get("effect"),
            )
        for key, value in cluster.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for secret, keys, optional in (
        (cluster.s3_secret, S3_ENV, False),
        (cluster.s3_secret, S3_ENDPOINT_ENV, True),
        (cluster.mlflow_secret, MLFLOW_ENV, True),
        (cluster.storage_secret, STORAGE_ENV, False),
    ):
        if secret:
            kubernetes.use_secret_as_env(
                task, secret_name=secret, secret_key_to_env={k: k for k in keys}, optional=optional
            )


def build_pipeline(
    image: str = DEFAULT_IMAGE,
    cluster: ClusterConfig | None = None,
    *,
    backend: str = "optuna",
    workers: int = 1,
) -> Any:
    """The pipeline, with every step running ``image`` (which has lstmtune installed).

    ``backend`` decides which task trains: with ``optuna`` the tune task trains in its own pod
    (and gets the GPU settings); with ``katib`` it only drives the Experiment, whose trial pods
    get them instead. ``workers`` > 1 (Optuna on a shared RDB storage) fans the tune step out
    with ``ParallelFor`` — pods on a cluster, concurrent processes under kfp.local — and a
    collect step reads the best trial from the shared study.
    """
    prepare_op, tune_op, collect_op, train_best_op, register_op = (
        _op(f, image) for f in (prepare, tune, collect_best, train_best, register)
    )
    fan_out = workers > 1 and backend == "optuna"

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=(
            "Tune an LSTM with Optuna or Katib, retrain the best configuration, evaluate it"
            " against naive baselines and publish it to the MLflow registry."
        ),
    )
    def lstmtune_pipeline(config: str = "{}") -> str:
        prep = prepare_op(config=config).set_display_name("prepare data")
        tasks = [prep]
        trainers = []
        if fan_out:
            with dsl.ParallelFor(items=list(range(workers)), parallelism=workers) as worker_id:
                # the MLflow run id travels in the dataset's metadata: kfp.local (2.17) hands a loop
                # body the loop item in place of task-output parameters
                worker = tune_op(
                    config=config,
                    dataset=prep.outputs["dataset"],
                    parent_run_id="",
                    worker_id=worker_id,
                ).set_display_name("tune worker")
            search = (
                collect_op(
                    config=config,
                    dataset=prep.outputs["dataset"],
                    parent_run_id=prep.outputs["Output"],
                )
                .after(worker)
                .set_display_name("collect best trial")
            )
            tasks += [worker, search]
            trainers.append(worker)
        else:
            search = tune_op(
                config=config, dataset=prep.outputs["dataset"], parent_run_id=prep.outputs["Output"]
            ).set_display_name("tune")
            tasks.append(search)
            if backend == "optuna":
                trainers.append(search)
        best = train_best_op(
            config=config,
            dataset=prep.outputs["dataset"],
            best=search.outputs["best"],
            parent_run_id=prep.outputs["Output"],
        ).set_display_name("retrain best and evaluate")
        reg = register_op(
            config=config,
            dataset=prep.outputs["dataset"],
            model=best.outputs["model"],
            best=search.outputs["best"],
            parent_run_id=prep.outputs["Output"],
        ).set_display_name("register")
        tasks += [best, reg]
        trainers.append(best)
        for task in tasks:
            task.set_caching_options(False)
            if cluster is not None:
                apply_cluster_settings(task, cluster, trains=any(task is t for t in trainers))
        return reg.outputs["Output"]

    return lstmtune_pipeline


def compile_pipeline(
    path: str,
    image: str = DEFAULT_IMAGE,
    cluster: ClusterConfig | None = None,
    *,
    backend: str = "optuna",
    workers: int = 1,
) -> None:
    compiler.Compiler().compile(
        build_pipeline(image, cluster, backend=backend, workers=workers), package_path=path
    )
