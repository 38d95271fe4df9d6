from kfp.dsl import Artifact, Dataset, Input, Metrics, Output


def collect_best(config: str, dataset: Input[Dataset], parent_run_id: str, best: Output[Artifact], metrics: Output[Metrics]) -> None:
    """After the parallel tune workers: the best trial of the shared study."""
    from lstmtune.steps import collect_step

    for key, value in collect_step(config, dataset.path, parent_run_id, best.path).items():
        metrics.log_metric(key, value)
