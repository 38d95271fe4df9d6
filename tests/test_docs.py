"""The README stays true: its configuration reference is the generated one, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from lstmtune.cli import build_parser
from lstmtune.config import config_reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_reference_is_generated_from_the_schema() -> None:
    text = README.read_text()
    block = text.split("<!-- config-reference:start -->\n", 1)[1].split(
        "\n<!-- config-reference:end -->", 1
    )[0]
    assert block == config_reference(), "regenerate with: lstmtune config --reference"


def test_every_lstmtune_command_in_the_readme_exists() -> None:
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = set(re.findall(r"^lstmtune ([a-z-]+)", README.read_text(), re.M))
    assert used, "README shows no lstmtune command"
    assert used <= commands, used - commands


def test_readme_names_the_two_setup_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
