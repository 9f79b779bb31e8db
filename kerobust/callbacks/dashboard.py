"""The robustness dashboard: one TensorBoard run per training (the run folder's `logs/`), on either backend.

Tags sort so that robustness comes first in TensorBoard's Time Series and Scalars tabs, and each number is logged once:

* every epoch, read from the epoch logs (`RobustValidation` must run first): `accuracy/clean` and one
  `accuracy/<attack>` per validation attack (`accuracy/fgsm`, `accuracy/pgd-20`: the validation split, clean and under
  attack), `accuracy/training_batches` (the training batches' accuracy, under the training attack for attack-based
  methods: beside the validation PGD accuracy it shows the train / validation robust gap), `loss/training`,
  `loss/validation` and `learning_rate`;
* every `every` epochs and at the last (costlier): `accuracy/certified` at the evaluation radius (the best per point
  of the fastest applicable certifiers, IBP and the global Lipschitz bound), one `certification/<method>` scalar per
  method, `certification/lipschitz_product`, a histogram of the margin lower bounds (`certification/margin_lower_bound`:
  > 0 is certified); `layer_norms/<l1|linf|l2>/<layer>` for every conv and dense layer (Liang & Huang 2021's
  quantities: exact l1 and l-inf, the eq. (3) l2 bound), histograms `kernels/<layer>`; `adversarial_examples`, an
  image of fixed validation points clean, adversarial (the first validation attack) and the amplified perturbation;
* after training, `write_test_results` adds the test split's accuracies (`test/clean`, `test/pgd-20`,
  `test/autoattack`, `test/certified`) at the last epoch's step.

A custom-scalars layout (`LAYOUT`, TensorBoard's Custom Scalars tab) draws the story on shared charts: clean, FGSM,
PGD and AutoAttack accuracy on one chart, certified beside robust, the training batches beside validation, and one
chart per norm with a line per layer. The callback times itself (`seconds`), so its overhead is measured in every run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping

import keras
import numpy as np

from kerobust.callbacks.classifier_of import classifier_of
from kerobust.callbacks.example_grid import example_grid_png
from kerobust.errors import KerobustError
from kerobust.types import ArrayLike

if TYPE_CHECKING:
    from kerobust.attacks import Attack
    from kerobust.evaluation.certifiers import Certifier

# Epoch-log keys that repeat a number logged under another tag: Keras's clean validation accuracy (the same points
# as `val_clean_accuracy` up to --val-points) and the first attack's accuracy under its generic name.
REPEATED_LOG_KEYS = ("val_accuracy", "val_loss", "val_clean_accuracy", "val_robust_accuracy")
NORMS = {"l1": "l1", "linf": "l-inf", "l2": "l2 (eq. (3) bound)"}
ROBUST_TAGS = r"(clean|fgsm\S*|pgd-\d+\S*|apgd\S*|square\S*|autoattack\S*)"

# (category, [(chart title, [tag regular expressions])]) of the Custom Scalars tab.
LAYOUT = [
    ("Robustness (validation split each epoch; test split after training)", [
        ("Accuracy (0 to 1): clean, FGSM, PGD, AutoAttack", [rf"^accuracy/{ROBUST_TAGS}$", rf"^test/{ROBUST_TAGS}$"]),
        ("Certified beside robust accuracy", [r"^accuracy/(pgd-\d+|certified)$", r"^test/(pgd-\d+|certified)$"]),
        ("Train / validation robust gap: training batches (under the training attack) vs validation PGD",
         [r"^accuracy/(training_batches|pgd-\d+)$"]),
        ("Loss", [r"^loss/"]),
    ]),
    ("Certification and norms", [
        ("Certified accuracy by method", [r"^accuracy/certified$", r"^certification/(ibp|crown\S*|lipschitz)$"]),
        ("Lipschitz constant (product of layer constants, l2)", [r"^certification/lipschitz_product$"]),
        *[(f"Layer {shown} norms, one line per layer", [rf"^layer_norms/{key}/"]) for key, shown in NORMS.items()],
    ]),
]


def log_tag(key: str) -> str | None:
    """The dashboard tag of an epoch-log key (`val_pgd-20_accuracy` -> `accuracy/pgd-20`), None for a repeated one."""
    if key in ("val_accuracy", "val_robust_accuracy"):
        return None
    if key == "val_clean_accuracy":
        return "accuracy/clean"
    if key.startswith("val_") and key.endswith("_accuracy"):
        return f"accuracy/{key[len('val_'):-len('_accuracy')]}"
    return {"accuracy": "accuracy/training_batches", "loss": "loss/training", "val_loss": "loss/validation"}.get(key)


def layout_summary() -> bytes:
    """The serialised custom-scalars layout (`LAYOUT`)."""
    from tensorboard.plugins.custom_scalar import layout_pb2, summary

    categories = [
        layout_pb2.Category(title=title, chart=[
            layout_pb2.Chart(title=chart, multiline=layout_pb2.MultilineChartContent(tag=tags))
            for chart, tags in charts])
        for title, charts in LAYOUT]
    return summary.pb(layout_pb2.Layout(category=categories)).SerializeToString()


class RobustnessDashboard(keras.callbacks.Callback):
    """Writes the run's TensorBoard summaries to `log_dir` (one run: Keras's own TensorBoard callback is not needed).

    Args:
        log_dir: the summary folder, e.g. `<run>/logs`.
        x_val, y_val: validation data; the first `points` are certified, the first `examples` pictured.
        attack: the attack of the pictured adversarial examples (None: no images).
        eps, threat_norm: the certification radius and norm.
        every: epochs between the costly summaries (they also run at the last epoch); 0: per-epoch scalars only.
    """

    def __init__(self, log_dir: str, x_val: ArrayLike, y_val: ArrayLike, attack: Attack | None, eps: float,
                 threat_norm: str, every: int = 1, points: int = 256, examples: int = 8):
        super().__init__()
        if every < 0:
            raise KerobustError(f"dashboard every must be >= 0 epochs (0: per-epoch scalars only), got {every}.")
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
        with self.writer.as_default():
            tf.summary.experimental.write_raw_pb(layout_summary(), step=0)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        started = time.perf_counter()
        done = epoch + 1
        last = done >= (self.params or {}).get("epochs", done)
        with self.writer.as_default(step=epoch):  # epochs from 0, as Keras numbers them
            self._scalars(tf, logs or {})
            if self.every and (done % self.every == 0 or last):
                classifier = classifier_of(self.model)
                self._certification(tf, classifier)
                self._norms_and_kernels(tf, classifier)
                self._examples(tf, classifier, epoch)
        self.writer.flush()
        self.seconds += time.perf_counter() - started

    def _scalars(self, tf, logs):
        for key, value in logs.items():
            tag = log_tag(key)
            if tag is not None:
                tf.summary.scalar(tag, float(value))
        if "val_clean_accuracy" not in logs and "val_accuracy" in logs:
            tf.summary.scalar("accuracy/clean", float(logs["val_accuracy"]))
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            tf.summary.scalar("learning_rate", float(keras.ops.convert_to_numpy(optimizer.learning_rate)))

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
        tf.summary.scalar("accuracy/certified", best)
        for method, share in by_method.items():
            tf.summary.scalar(f"certification/{method}", share)
        tf.summary.histogram("certification/margin_lower_bound", margins)

    @staticmethod
    def _norms_and_kernels(tf, classifier):
        from kerobust.norms import layer_norms
        from kerobust.norms.layer_norm import sublayers

        for row in layer_norms(classifier):
            for key in NORMS:
                value = getattr(row, key)
                if value is not None:
                    tf.summary.scalar(f"layer_norms/{key}/{row.name}", float(value))
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


def write_test_results(logs_dir: str, accuracies: Mapping[str, float | None], step: int) -> None:
    """Writes the test split's `{name: accuracy}` as `test/<name>` scalars at `step` (the run's last epoch, from 0)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(logs_dir)
    with writer.as_default(step=step):
        for name, value in accuracies.items():
            if value is not None:
                tf.summary.scalar(f"test/{name}", float(value))
    writer.close()
