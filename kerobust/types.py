"""Type aliases of kerobust's public signatures.

Keras 3 runs on several backends, so a tensor is whatever the active backend's arrays are (a `tf.Tensor`, a
`jax.Array`) or a NumPy array; the aliases say which is meant without tying a signature to one framework.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np
import numpy.typing as npt

Tensor = Any  # a backend tensor (or a NumPy array converted on use), e.g. the result of a `keras.ops` call
ArrayLike = npt.ArrayLike  # anything `np.asarray` accepts: NumPy arrays, lists, backend tensors
Array = np.ndarray  # a NumPy array, as kerobust returns results
Seed = Union[int, Tensor]  # an integer seed, or an int32 seed pair (`kerobust.seeds.seed_pair`)
LossFn = Callable[[Tensor, Tensor], Tensor]  # (labels, model outputs) -> summed loss
Progress = Callable[[int, int], None]  # (done, total)
