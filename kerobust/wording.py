"""Small helpers for the words kerobust prints."""


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 epoch`, `3 epochs`, `0 epochs`: the count and the noun, plural unless the count is one."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"
