"""Keep ``kfp.local`` from rewriting a step's arguments.

kfp's SubprocessRunner puts the local Python executable in place of ``python3`` in the command
that starts a lightweight component (``python3 -m kfp.dsl.executor_main``). In kfp 2.17 the
replacement also runs over the arguments after the component's source: the executor input, which
holds every pipeline parameter and output path. A data file, output directory or tracking URI
whose path contains ``python3`` (``.venv/lib/python3.11/site-packages/...``) reached the step as
``.venv/lib/<executable>.11/...`` and the run stopped with ``file not found``
(upstream: kubeflow/pipelines pull request 14459, open).

:func:`install` replaces kfp's function, where it still has that fault, by one that stops at the
component's source, as the upstream fix does. It checks the fault on a probe command first, so a
kfp that fixed it (or renamed the function) is left alone.
"""

from __future__ import annotations

from typing import Any

#: kfp's marker of the element before the component's source (the ``sh -c`` bootstrap)
_BOOTSTRAP = '"$program_path/ephemeral_component.py"'


def replace_python_in_bootstrap(full_command: list[str], new_executable: str) -> list[str]:
    """``full_command`` with ``python3`` replaced by ``new_executable`` in the elements up to and
    including the bootstrap script; the component's source and every argument after it (the
    executor input, the function's name) are kept as they are."""
    out: list[str] = []
    for i, element in enumerate(full_command):
        out.append(element.replace("python3", new_executable))
        if _BOOTSTRAP in element and '"$@"' in element:
            return out + list(full_command[i + 1 :])
    return out


def _mangles_arguments(replace: Any) -> bool:
    probe = ["sh", "-c", f'python3 -m x {_BOOTSTRAP} "$@"', "src", "--input", "python3"]
    try:
        return bool(replace(probe, "/py")[-1] != "python3")
    except Exception:  # a changed signature: not the function this fixes
        return False


def install() -> bool:
    """Patch ``kfp.local``'s replacement where it rewrites arguments; True when patched."""
    from kfp.local import subprocess_task_handler as handler

    current = getattr(handler, "replace_python_executable", None)
    if current is None or current is replace_python_in_bootstrap:
        return False
    if not _mangles_arguments(current):
        return False
    handler.replace_python_executable = replace_python_in_bootstrap
    return True
