"""prepare -> tune -> train_best (retrain + evaluate) -> register.

The whole run configuration travels as one JSON string parameter (``config``): the same
validated :class:`lstmtune.config.RunConfig` that ``lstmtune run`` builds, so a scheduled run
on a cluster and a laptop run differ only in that configuration.
"""

from collections.abc import Callable
from typing import Any

from kfp import compiler, dsl
from lstmtune.components import prepare, register, train_best, tune

from lstmtune import __version__

PIPELINE_NAME = "lstmtune"
DEFAULT_IMAGE = f"ghcr.io/lstmtune/lstmtune:{__version__.split('+')[0]}"


def _op(func: Callable[..., Any], image: str) -> Any:
    return dsl.component(func, base_image=image, install_kfp_package=False)


def build_pipeline(image: str = DEFAULT_IMAGE) -> Any:
    """The pipeline, with every step running ``image`` (which has lstmtune installed)."""
    prepare_op, tune_op, train_best_op, register_op = (_op(f, image) for f in (prepare, tune, train_best, register))

    @dsl.pipeline(name=PIPELINE_NAME, description="Tune an LSTM with Optuna, retrain the best configuration, evaluate it against naive baselines and publish it to the MLflow registry.")
    def lstmtune_pipeline(config: str = "{}") -> str:
        prep = prepare_op(config=config).set_display_name("prepare data")
        search = tune_op(config=config, dataset=prep.outputs["dataset"], parent_run_id=prep.outputs["Output"]).set_display_name("tune")
        best = train_best_op(config=config, dataset=prep.outputs["dataset"], best=search.outputs["best"], parent_run_id=prep.outputs["Output"]).set_display_name("retrain best and evaluate")
        reg = register_op(config=config, dataset=prep.outputs["dataset"], model=best.outputs["model"], best=search.outputs["best"], parent_run_id=prep.outputs["Output"]).set_display_name("register")
        for task in (prep, search, best, reg):
            task.set_caching_options(False)
        return reg.outputs["Output"]

    return lstmtune_pipeline


def compile_pipeline(path: str, image: str = DEFAULT_IMAGE) -> None:
    compiler.Compiler().compile(build_pipeline(image), package_path=path)
