"""The robustness dashboard: TensorBoard summaries written during `fit`, on either backend.

Every epoch (cheap, read from the epoch logs): `robust_validation/clean` and one `robust_validation/<attack>` scalar
per validation attack (`RobustValidation` must run first), and `adversarial_training/loss` and `/accuracy` (the
training batches: adversarial for attack-based methods).

Every `every` epochs and at the last (costlier):
* `certification/certified_accuracy` at the evaluation radius by the fastest applicable certifiers (IBP and the
  global Lipschitz bound, best per point), one scalar per method, and a histogram of the margin lower bounds
  (`certification/margin_lower_bound`: how far points are from being certified; > 0 is certified);
* `certification/lipschitz_product` (the sound mode's l2 constant of input -> head features);
* `norm_<layer>/l1`, `/linf`, `/l2` for every conv and dense layer (Liang & Huang 2021's quantities: exact l1 and l-inf,
  the eq. (3) l2 bound; TensorBoard groups a layer's three curves together), histograms `kernels/<layer>`;
* `adversarial_examples`: an image of fixed validation points, clean, adversarial (the first validation attack) and
  the amplified perturbation, with labels.
The callback times itself (`seconds`), so its overhead is measured in every run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from kerobust.callbacks.classifier_of import classifier_of
from kerobust.callbacks.example_grid import example_grid_png
from kerobust.errors import KerobustError
from kerobust.types import ArrayLike

if TYPE_CHECKING:
    from kerobust.attacks import Attack
    from kerobust.evaluation.certifiers import Certifier

SKIPPED_LOG_KEYS = ("val_accuracy", "val_loss", "val_clean_accuracy", "val_robust_accuracy")


class RobustnessDashboard(keras.callbacks.Callback):
    """Writes the dashboard's summaries to `log_dir` (a run of its own beside Keras's `train` and `validation`).

    Args:
        log_dir: the summary folder, e.g. `<run>/logs/dashboard`.
        x_val, y_val: validation data; the first `points` are certified, the first `examples` pictured.
        attack: the attack of the pictured adversarial examples (None: no images).
        eps, threat_norm: the certification radius and norm.
        every: epochs between the costly summaries (they also run at the last epoch).
    """

    def __init__(self, log_dir: str, x_val: ArrayLike, y_val: ArrayLike, attack: Attack | None, eps: float,
                 threat_norm: str, every: int = 1, points: int = 256, examples: int = 8):
        super().__init__()
        if every < 1:
            raise KerobustError(f"dashboard every must be >= 1 epoch, got {every}.")
        self.log_dir = log_dir
        self.x_val, self.y_val = np.asarray(x_val)[:points], np.asarray(y_val)[:points]
        self.examples = examples
        self.attack, self.eps, self.threat_norm, self.every = attack, float(eps), threat_norm, int(every)
        self.seconds = 0.0
        self.writer: Any = None  # TensorFlow's summary file writer (a type of no stubs), opened by on_train_begin
        self.certifiers: list[Certifier] | None = None  # the methods that apply, found on first use
        self.notes: list[str] = []

    def get_state(self) -> dict[str, float]:
        """What a resumed run continues from (`ResumableCheckpoint.track`): the time spent so far."""
        return {"seconds": self.seconds}

    def set_state(self, state: dict[str, Any]) -> None:
        self.seconds = float(state.get("seconds", 0.0))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        started = time.perf_counter()
        done = epoch + 1
        logs = logs or {}
        last = done >= (self.params or {}).get("epochs", done)
        with self.writer.as_default(step=epoch):  # Keras's TensorBoard callback writes epoch scalars at step `epoch`
            self._scalars(tf, logs)
            if done % self.every == 0 or last:
                classifier = classifier_of(self.model)
                self._certification(tf, classifier)
                self._norms_and_kernels(tf, classifier)
                self._examples(tf, classifier, epoch)
        self.writer.flush()
        self.seconds += time.perf_counter() - started

    @staticmethod
    def _scalars(tf, logs):
        if "val_clean_accuracy" in logs:
            tf.summary.scalar("robust_validation/clean", float(logs["val_clean_accuracy"]))
        for key, value in logs.items():
            if key.startswith("val_") and key.endswith("_accuracy") and key not in SKIPPED_LOG_KEYS:
                tf.summary.scalar(f"robust_validation/{key[len('val_'):-len('_accuracy')]}", float(value))
        for key in ("loss", "accuracy"):
            if key in logs:
                tf.summary.scalar(f"adversarial_training/{key}", float(logs[key]))

    def _certifiers(self, classifier):
        """The cheap certifiers that apply (IBP and the global Lipschitz bound), built once (eager: they read the
        current weights; the Lipschitz constant is refreshed before each use)."""
        from kerobust.evaluation.certifiers import applicable_certifiers

        certifiers, reasons = applicable_certifiers(classifier, ("ibp", "lipschitz"), self.threat_norm, jit=False)
        self.notes.extend(f"dashboard: no {method} certification ({why})" for method, why in reasons.items())
        return certifiers

    def _certification(self, tf, classifier):
        from kerobust.evaluation.certifiers import LipschitzCertifier, best_certified_accuracy

        if not len(self.x_val):
            return
        if self.certifiers is None:
            self.certifiers = self._certifiers(classifier)
        if not self.certifiers:
            return
        for certifier in self.certifiers:
            if isinstance(certifier, LipschitzCertifier):  # the constant for the current weights
                tf.summary.scalar("certification/lipschitz_product", certifier.refresh())
        best, by_method, margins = best_certified_accuracy(self.certifiers, self.x_val, self.y_val, self.eps)
        tf.summary.scalar("certification/certified_accuracy", best)
        for method, share in by_method.items():
            tf.summary.scalar(f"certification/{method}", share)
        tf.summary.histogram("certification/margin_lower_bound", margins)

    @staticmethod
    def _norms_and_kernels(tf, classifier):
        from kerobust.norms import layer_norms
        from kerobust.norms.layer_norm import sublayers

        for row in layer_norms(classifier):
            for key in ("l1", "linf", "l2"):
                value = getattr(row, key)
                if value is not None:
                    tf.summary.scalar(f"norm_{row.name}/{key}", float(value))
        for layer in sublayers(classifier):
            kernel = getattr(layer, "kernel", None)
            if kernel is not None:
                tf.summary.histogram(f"kernels/{layer.name}", np.asarray(keras.ops.convert_to_numpy(kernel)))

    def _examples(self, tf, classifier, epoch):
        if self.attack is None or not self.examples or not len(self.x_val):
            return
        x, y = self.x_val[:self.examples], self.y_val[:self.examples]
        adversarial = np.asarray(self.attack(classifier, x, y, seed=np.array([0, epoch], "int32")))
        clean_pred = np.argmax(classifier.predict(x, verbose=0), axis=-1)
        adversarial_pred = np.argmax(classifier.predict(adversarial, verbose=0), axis=-1)
        png = example_grid_png(x, adversarial, y, clean_pred, adversarial_pred,
                               title=f"epoch {epoch + 1}: {self.attack.describe()}")
        tf.summary.image("adversarial_examples", tf.image.decode_png(png, channels=4)[None], max_outputs=1)
