"""The studies that reproduce the papers' tables and figures, one module each (`python -m apps.<study> --help`, run
from the repository root); `docs/studies.md` maps each to its paper, table and figure."""
