"""The words kerobust prints: plurals."""

from kerobust.wording import plural


def test_plural_is_singular_only_for_one():
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert plural(1, "query", "queries") == "1 query" and plural(3, "query", "queries") == "3 queries"
