"""The lstmtune Kubeflow pipeline (one definition for kfp.local and for clusters)."""

from lstmtune.pipelines.lstmtune_pipeline import (
    DEFAULT_IMAGE,
    PIPELINE_NAME,
    build_pipeline,
    compile_pipeline,
)

__all__ = ["DEFAULT_IMAGE", "PIPELINE_NAME", "build_pipeline", "compile_pipeline"]
