from kfp.dsl import Dataset, Output


def prepare(config: str, dataset: Output[Dataset]) -> str:
    """Validate and split the input data; returns the MLflow parent run id."""
    from lstmtune.steps import prepare_step

    return prepare_step(config, dataset.path)
