import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerobust.allocator import keep_freed_memory  # noqa: E402

keep_freed_memory()  # the suite's steps fault their buffers back in after every free otherwise (kerobust/allocator.py)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from kerobust.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def linear_digits(digits):
    """A linear softmax classifier (logits = x W + b) fitted by scikit-learn's multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression

    x = digits.x_train.reshape(len(digits.x_train), -1)
    fit = LogisticRegression(C=1.0, max_iter=2000).fit(x, digits.y_train)
    model = keras.Sequential([keras.Input(digits.input_shape), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([fit.coef_.T.astype("float32"), fit.intercept_.astype("float32")])
    return model, fit.coef_.T.astype("float64"), fit.intercept_.astype("float64")


@pytest.fixture(scope="session")
def natural_digits_net(digits):
    """A small naturally trained digits network (basicnet, width 8; about 95 % clean accuracy)."""
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, batch_size=64, epochs=8, verbose=0)
    return model


@pytest.fixture
def tiny_digits(digits):
    """The first 256 training and 64 test digits."""
    return digits.x_train[:256], digits.y_train[:256], digits.x_test[:64], digits.y_test[:64]


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() != "tensorflow":
        skip = pytest.mark.skip(reason="TensorFlow-only check (the JAX leg runs the smoke subset)")
        heavy = pytest.mark.skip(reason="smoke test too slow for the JAX leg on a CPU (the TensorFlow leg runs it)")
        for item in items:
            if "smoke" not in item.keywords:
                item.add_marker(skip)
            elif "slow_on_jax" in item.keywords:
                item.add_marker(heavy)
