from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def train_best(config: str, dataset: Input[Dataset], best: Input[Artifact], parent_run_id: str, model: Output[Model], metrics: Output[Metrics]) -> None:
    """Retrain the best configuration on train+val and evaluate it on test against baselines."""
    from lstmtune.steps import train_best_step

    for key, value in train_best_step(config, dataset.path, best.path, parent_run_id, model.path).items():
        metrics.log_metric(key, value)
