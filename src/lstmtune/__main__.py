"""``python -m lstmtune``: the ``lstmtune`` command."""

from lstmtune.cli import entry

if __name__ == "__main__":
    entry()
