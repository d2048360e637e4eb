"""`python -m bridge` runs the `ringbridge` command."""

from bridge.cli import main

main()
