"""Finding a variable among a model's (the stateless JAX step and the TensorFlow step both address them by index)."""


def index_of(variable, variables):
    """The position of `variable` (by identity) in `variables`."""
    for i, v in enumerate(variables):
        if v is variable:
            return i
    raise ValueError(f"variable {variable.path} not found")
