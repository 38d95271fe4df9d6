"""KFP lightweight components: thin shims, each calling one ``lstmtune.steps`` function.

Their bodies import ``lstmtune`` from the project image (``install_kfp_package=False``, no
``packages_to_install``): nothing is installed at run time. The image is chosen when the
pipeline is built (:func:`lstmtune.pipelines.build_pipeline`), not at import time.
"""

from lstmtune.components.collect_best import collect_best
from lstmtune.components.prepare import prepare
from lstmtune.components.register import register
from lstmtune.components.train_best import train_best
from lstmtune.components.tune import tune

__all__ = ["collect_best", "prepare", "register", "train_best", "tune"]
