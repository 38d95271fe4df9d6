from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Model, Output


def register(config: str, dataset: Input[Dataset], model: Input[Model], best: Input[Artifact], parent_run_id: str,
             summary: Output[Artifact], report: Output[HTML], summary_md: Output[Markdown]) -> str:
    """Publish to the MLflow registry (champion/challenger) and write the report; returns the run summary as JSON."""
    from lstmtune.steps import register_step

    return register_step(config, dataset.path, model.path, best.path, parent_run_id, summary.path, report.path, summary_md.path)
