"""``python -m console`` runs the ``oncall`` command line."""

from console.cli.main import main

main()
