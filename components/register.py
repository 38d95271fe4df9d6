from kfp.dsl import Artifact, Dataset, Input, Model, Output


def register(config: str, dataset: Input[Dataset], model: Input[Model], best: Input[Artifact], parent_run_id: str, summary: Output[Artifact]) -> str:
    """Publish to the MLflow registry (champion/challenger); returns the run summary as JSON."""
    from lstmtune.steps import register_step

    return register_step(config, dataset.path, model.path, best.path, parent_run_id, summary.path)
