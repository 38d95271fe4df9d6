from kfp.dsl import Artifact, Dataset, Input, Metrics, Output


def tune(config: str, dataset: Input[Dataset], parent_run_id: str, best: Output[Artifact], metrics: Output[Metrics], worker_id: int = 0) -> None:
    """Hyperparameter search (one worker of it when tune.workers > 1); writes the best configuration as JSON."""
    from lstmtune.steps import tune_step

    for key, value in tune_step(config, dataset.path, parent_run_id, best.path, worker_id).items():
        metrics.log_metric(key, value)
