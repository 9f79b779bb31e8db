"""`python -m kerobust.cli`: the `kerobust` console script."""

from kerobust.cli.main import console

console()
