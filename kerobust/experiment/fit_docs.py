"""`python -m kerobust.experiment.fit_docs docs/fit.md`: rewrites the page's generated flag table from the option
declarations of `FitConfig` (a test keeps the checked-in page equal to them)."""

import sys

from kerobust.experiment.config import FitConfig
from kerobust.experiment.options import markdown_table, with_table


def refresh(page_path: str) -> None:
    """Replaces the generated block of `page_path` with the current flag table."""
    with open(page_path, encoding="utf-8") as handle:
        page = handle.read()
    with open(page_path, "w", encoding="utf-8") as handle:
        handle.write(with_table(page, markdown_table(FitConfig)))


if __name__ == "__main__":
    refresh(sys.argv[1])
