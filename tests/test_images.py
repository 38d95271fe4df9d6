"""Static checks of the container images (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

IMAGES = Path(__file__).parent.parent / "images"


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_image_is_pinned_non_root_and_secret_free(name: str) -> None:
    text = (IMAGES / name).read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.M), (
        "base image pinned to a patch release"
    )
    assert re.search(r"torch==\$\{TORCH_VERSION\}", text) and "ARG TORCH_VERSION=2.13.0" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the last USER must be non-root"
    assert (
        "pip install ." in text
    )  # kfp comes with the package: components need no install at run time
    assert not re.search(r"(?i)(aws_secret|password|token)\s*=", text)
