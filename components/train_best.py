from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output


def train_best(config: str, dataset: Input[Dataset], best: Input[Artifact], parent_run_id: str, model: Output[Model],
               metrics: Output[Metrics], confusion: Output[ClassificationMetrics]) -> None:
    """Retrain the best configuration on train+val and evaluate it on test against baselines."""
    from lstmtune.steps import train_best_step

    result = train_best_step(config, dataset.path, best.path, parent_run_id, model.path)
    for key, value in result["metrics"].items():
        metrics.log_metric(key, value)
    if result["confusion_matrix"]:
        confusion.log_confusion_matrix(**result["confusion_matrix"])
