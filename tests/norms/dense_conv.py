"""Ground truth for conv norms: a convolution's dense matrix, from the Keras layer or entry by entry in NumPy."""

import keras
import numpy as np


def keras_dense_matrix(kernel, input_size, strides, padding, dilation=1):
    """The conv's matrix, built by applying the Keras layer to every basis input: column n is f(e_n)."""
    height, width = input_size
    channels = kernel.shape[2]
    layers = []
    if not isinstance(padding, str):
        layers.append(keras.layers.ZeroPadding2D(padding))
    conv = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=strides, dilation_rate=dilation,
                               padding=padding if isinstance(padding, str) else "valid", use_bias=False)
    model = keras.Sequential([keras.Input((height, width, channels)), *layers, conv])
    conv.set_weights([kernel])
    basis = np.eye(height * width * channels, dtype="float32").reshape(-1, height, width, channels)
    return np.asarray(model(basis), dtype="float64").reshape(len(basis), -1).T


def _same_padding(size, span, stride):
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def numpy_dense_matrix(kernel, input_size, strides, padding, dilation=1):
    """The same matrix from the convolution formula in NumPy, entry by entry (TensorFlow 2.21's oneDNN CPU conv
    returns garbage for some unequal strides, e.g. (1, 3) with a 2x3 kernel, so the Keras layer is not the ground
    truth there)."""
    kh, kw, cin, cout = kernel.shape
    (height, width), (sh, sw) = input_size, (strides if isinstance(strides, tuple) else (strides, strides))
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    elif padding == "same":
        pads = (_same_padding(height, (kh - 1) * dilation + 1, sh), _same_padding(width, (kw - 1) * dilation + 1, sw))
    else:
        pads = padding
    out_h = (height + sum(pads[0]) - (kh - 1) * dilation - 1) // sh + 1
    out_w = (width + sum(pads[1]) - (kw - 1) * dilation - 1) // sw + 1
    matrix = np.zeros((out_h * out_w * cout, height * width * cin))
    for p in range(out_h):
        for q in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    u, v = p * sh + a * dilation - pads[0][0], q * sw + b * dilation - pads[1][0]
                    if 0 <= u < height and 0 <= v < width:
                        for o in range(cout):
                            matrix[(p * out_w + q) * cout + o,
                                   (u * width + v) * cin:(u * width + v + 1) * cin] += kernel[a, b, :, o]
    return matrix
