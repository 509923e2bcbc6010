"""``python -m launcher`` runs the ``dataward`` command."""

from launcher.cli import main

main()
