"""``python -m console`` runs the ``oncall`` command line."""

from console.cli import main

main()
