"""A differentiable estimate of the sound mode's Lipschitz constant, for Lipschitz-margin training.

References: Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-Margin Training", section 4 (the product of per-layer spectral
norms, each tracked by one power-iteration step per training step, the vectors kept from step to step as in Miyato et
al. 2018's spectral normalisation); Leino, Wang & Fredrikson 2021 (GloRo) section 3.

Each layer gets the same constant `rules.layer_lipschitz` gives it, so training shrinks the quantity `lipschitz`
certification divides by:
* Dense: ||W||_2, tracked by power iteration on W;
* Conv2D: min(||W||_F sqrt(m), ||circular convolution on the zero-padded grid||_2) (`bounds.convolution`), the second
  tracked by power iteration on every frequency's Cin x Cout block of the kernel's 2-D DFT (Sedghi et al. 2019) at
  once;
* BatchNormalization: max |gamma| / sqrt(var + eps), with the moving variance (the inference map; not folded into a
  neighbour, so never below the certified constant);
* layers without trainable weights (activations, pooling, Flatten, Dropout, the input normalisation): their exact
  constants.
Power iteration approaches each norm from below; the vectors are held fixed in the gradient (sigma = ||A v||, v
normalised), so the loss's gradient is the norm's gradient at convergence.
"""

import keras
from keras import ops

from kerobust.bounds.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.bounds.batch_norm import scale_of
from kerobust.bounds.convolution import output_windows
from kerobust.bounds.evaluator import decision_head
from kerobust.bounds.folding import channels_last
from kerobust.bounds.lipschitz_composition import compose_lipschitz
from kerobust.bounds.rules import layer_lipschitz, refuse_randomised
from kerobust.errors import KerobustError
from kerobust.layers.conv_geometry import padded_size
from kerobust.norms.layer_norm import conv_input_size

TINY = 1e-12


def _normalised(parts, axes):
    """`parts` (real and imaginary arrays of one complex vector per block) scaled to unit norm over `axes`."""
    norm = ops.sqrt(sum(ops.sum(ops.square(p), axis=axes, keepdims=True) for p in parts))
    return [p / ops.maximum(norm, TINY) for p in parts]


def _dilated(kernel, dilation):
    """The kernel spread out by `dilation` (zeros between taps), in `keras.ops` so the gradient reaches the kernel."""
    for axis, rate in enumerate(dilation):
        if rate == 1:
            continue
        shape = list(kernel.shape)
        spread = ops.stack([kernel] + [ops.zeros_like(kernel)] * (rate - 1), axis=axis + 1)
        shape[axis] = shape[axis] * rate
        kernel = ops.reshape(spread, shape)
        kernel = ops.take(kernel, list(range(shape[axis] - rate + 1)), axis=axis)
    return kernel


def _transfer(kernel, grid):
    """(real, imaginary) DFT blocks T[u, v] (H, W, Cin, Cout) of the kernel zero-padded to `grid` (H, W)."""
    kh, kw = kernel.shape[:2]
    channels_first = ops.transpose(kernel, (2, 3, 0, 1))
    padded = ops.pad(channels_first, [(0, 0), (0, 0), (0, grid[0] - kh), (0, grid[1] - kw)])
    real, imag = ops.fft2((padded, ops.zeros_like(padded)))
    return ops.transpose(real, (2, 3, 0, 1)), ops.transpose(imag, (2, 3, 0, 1))


def _block_product(vector, blocks):
    """x T for every block: `vector` (real, imag) (H, W, Cin), `blocks` (real, imag) (H, W, Cin, Cout)."""
    (xr, xi), (tr, ti) = vector, blocks
    def product(a, b):
        return ops.einsum("hwi,hwio->hwo", a, b)

    return product(xr, tr) - product(xi, ti), product(xr, ti) + product(xi, tr)


def _block_adjoint_product(vector, blocks):
    """y T^H for every block: `vector` (real, imag) (H, W, Cout)."""
    (yr, yi), (tr, ti) = vector, blocks
    def product(a, b):
        return ops.einsum("hwo,hwio->hwi", a, b)

    return product(yr, tr) + product(yi, ti), product(yi, tr) - product(yr, ti)


class TrainableLipschitz(keras.layers.Layer):
    """`L = lipschitz(iterations)`: the estimate for the classifier's current weights, advancing every power-iteration
    vector by `iterations` steps (the vectors are this layer's non-trainable weights, so JAX's stateless steps carry
    them).

    Args:
        classifier: the model being trained (functional; the Dense head is left to the margin, as in sound mode).
        warm_iterations: power-iteration steps run once at creation, so the first training steps see converged
            vectors.

    Raises:
        KerobustError: naming the first layer with trainable weights and no differentiable rule (ConvNorm,
            DepthwiseConv2D, ...), or a layer that is random at inference.
    """

    def __init__(self, classifier, warm_iterations=50, **kwargs):
        super().__init__(name=kwargs.pop("name", "trainable_lipschitz"), **kwargs)
        head, layers = decision_head(classifier)
        # Not tracked: the classifier's layers belong to the classifier.
        object.__setattr__(self, "_graph", (classifier.inputs, head, layers))
        object.__setattr__(self, "head_layer", head.layer)  # the Dense head, or None
        self.vectors = []
        object.__setattr__(self, "_vector_of", {})
        for layer in layers:
            refuse_randomised(layer)
            shape = self._vector_shape(layer)
            if shape is not None:
                self._vector_of[id(layer)] = len(self.vectors)
                self.vectors.append(self.add_weight(shape=shape, initializer=keras.initializers.RandomNormal(seed=0),
                                                    trainable=False, name=f"power_vector_{layer.name}"))
            elif layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
                raise KerobustError(f"lipschitz-margin training has no differentiable Lipschitz rule for layer "
                                    f"{layer.name!r} ({type(layer).__name__}); it trains Dense, Conv2D and batch norm.")
            elif isinstance(layer, keras.layers.BatchNormalization) and not channels_last(layer):
                raise KerobustError(f"layer {layer.name!r}: lipschitz-margin training needs channels_last batch norm.")
        self.built = True
        if warm_iterations:
            self.lipschitz(warm_iterations)

    @staticmethod
    def _vector_shape(layer):
        if isinstance(layer, keras.layers.Conv2D):  # DepthwiseConv2D is not one: refused as trainable, no rule
            kh, kw, cin, _ = layer.kernel.shape
            dh, dw = layer.dilation_rate
            grid = padded_size(conv_input_size(layer), ((kh - 1) * dh + 1, (kw - 1) * dw + 1), tuple(layer.strides),
                               layer.padding)
            return (layer.groups, 2, grid[0], grid[1], cin)
        if isinstance(layer, keras.layers.Dense):
            return (layer.kernel.shape[0],)
        return None

    def lipschitz(self, iterations=1):
        """The composed estimate (a scalar tensor, differentiable in the kernels)."""
        inputs, head, layers = self._graph

        def constant(layer):
            index = self._vector_of.get(id(layer))
            if index is not None:
                vector = self.vectors[index]
                if isinstance(layer, keras.layers.Conv2D):
                    norm = self._conv_norm(layer, vector, iterations)
                else:
                    norm = self._dense_norm(layer, vector, iterations)
                return norm * activation_lipschitz(activation_name(layer.activation))
            if isinstance(layer, keras.layers.BatchNormalization):
                return ops.max(ops.abs(scale_of(layer)))
            return layer_lipschitz(layer)

        return compose_lipschitz(layers, inputs, head.features, constant)

    @staticmethod
    def _dense_norm(layer, vector, iterations):
        kernel = ops.convert_to_tensor(layer.kernel)
        fixed = ops.stop_gradient(kernel)
        v = ops.convert_to_tensor(vector)
        for _ in range(iterations):
            v = _normalised([ops.matmul(fixed, ops.matmul(v, fixed))], 0)[0]
        vector.assign(v)
        return ops.sqrt(ops.sum(ops.square(ops.matmul(v, kernel))))

    @staticmethod
    def _conv_norm(layer, vector, iterations):
        kernel = _dilated(ops.convert_to_tensor(layer.kernel), tuple(layer.dilation_rate))
        kh, kw, _, cout = kernel.shape
        frobenius = ops.sqrt(ops.sum(ops.square(kernel)) * output_windows((kh, kw), layer.strides))
        grid = tuple(vector.shape[2:4])
        per_group = cout // layer.groups
        state = ops.convert_to_tensor(vector)
        updated, spectral = [], []
        for g in range(layer.groups):
            blocks = _transfer(kernel[..., g * per_group:(g + 1) * per_group], grid)
            fixed = [ops.stop_gradient(b) for b in blocks]
            x = [state[g, 0], state[g, 1]]
            for _ in range(iterations):
                x = _normalised(_block_adjoint_product(_block_product(x, fixed), fixed), (2,))
            updated.append(ops.stack(x))
            yr, yi = _block_product(x, blocks)
            spectral.append(ops.sqrt(ops.max(ops.sum(ops.square(yr) + ops.square(yi), axis=-1))))
        vector.assign(ops.stack(updated))
        return ops.minimum(frobenius, ops.max(ops.stack(spectral)))
