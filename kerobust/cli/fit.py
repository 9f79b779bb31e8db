"""`kerobust fit`: train a model adversarially, evaluate clean / FGSM / PGD accuracy, save and export it.

The job itself is `kerobust.experiment.run`; this module parses flags into a `FitConfig`, calls it and prints.
"""

import argparse
import json
import sys

from kerobust.experiment.config import FIELDS, resolve_fit_config

_FLAGS = (
    ("--arch", "architecture: wrn, resnet20, resnet18, vgg11, senet18, regnetx_200mf, basicnet, certcnn, noisenet20, "
               "lenet5, lenet5_lrn1, lenet5_lrn2, lenet5_lrn3, cifar_nin"),
    ("--k", "WideResNet widening factor"),
    ("--depth", "WideResNet depth (6n + 4)"),
    ("--norm", "normalisation inside the model: none, bn, convnorm, bn+convnorm (wrn, resnets, vgg11, senet18)"),
    ("--dropout", "dropout rate"),
    ("--width", "channels of basicnet's first layer / cifar_nin's mlpconv layers"),
    ("--noise", "parametric noise granularity of noisenet20: layerwise, channelwise, elementwise"),
    ("--input-noise", "Gaussian noise (pixels) on the input, also at inference"),
    ("--data", "digits, cifar10, cifar100, mnist, fashion_mnist, svhn, or npz:PATH"),
    ("--data-dir", "tfds data directory"),
    ("--epochs", "training epochs (free training runs epochs / replays passes)"),
    ("--batch-size", "batch size"),
    ("--train-method", "natural, fgsm, pgd, free, pni (0.5 clean + 0.5 PGD loss, Rakin et al.), mat-rand or mat-max "
                       "(l-inf and l2 PGD, Araujo et al.); certified training: ibp (Gowal et al.), crown-ibp (Zhang et al.) "
                       "or lipschitz-margin (Tsuzuku et al.; l2)"),
    ("--threat-norm", "linf or l2 threat model for training and evaluation"),
    ("--eps", "training radius, e.g. 0.2 or 8/255 (default: the dataset's)"),
    ("--steps", "PGD steps in training"),
    ("--step-size", "PGD step size in training; free training's replay step (default: eps)"),
    ("--replays", "minibatch replays m for free training"),
    ("--eps-warmup-epochs", "free training: epochs (passes) over which eps and the step grow linearly from 0"),
    ("--free-box", "true: free training as Wong et al. 2020: input x + delta unclipped, delta projected after each "
                   "update so that x + delta stays in [0, 1] (default: Shafahi et al.'s clip of x + delta)"),
    ("--cert-warmup-epochs", "certified training: natural epochs before the eps ramp (default: 5%% of the epochs)"),
    ("--cert-ramp-epochs", "certified training: epochs over which eps grows from 0 and kappa (and beta) fall (default: "
                           "half the epochs)"),
    ("--kappa-end", "certified training: final weight of the natural loss (default 0.5 for ibp, else 0)"),
    ("--l2-eps", "l2 training radius of mat-rand / mat-max (default: the dataset's l2 radius)"),
    ("--adversarial-share", "share of adversarial training, e.g. 0.95 (the rest natural; fgsm, pgd, mat-*)"),
    ("--mix", "how natural and adversarial mix: batch (whole natural batches, seed 002) or example"),
    ("--optimizer", "adamw, adam or sgd"),
    ("--lr", "learning rate"),
    ("--lr-schedule", "constant, multistep (x gamma at --milestones) or cosine (with --warmup-epochs)"),
    ("--milestones", "epochs where multistep multiplies the learning rate by gamma, e.g. 20,30 (default 50%,75%)"),
    ("--gamma", "multistep factor"),
    ("--warmup-epochs", "linear warm-up epochs of the cosine schedule"),
    ("--weight-decay", "decoupled weight decay (default: adamw 0.01, sgd 5e-4, adam none)"),
    ("--norm-decay", "l1 or linf: seed 001's norm decay of every conv and dense layer's operator norm (none: off)"),
    ("--nd-beta", "norm decay strength beta (each of the N layers gets beta / N)"),
    ("--nd-gamma", "norm decay momentum gamma in [0, 1)"),
    ("--svc", "singular value clipping: limit c of every conv's circular-operator singular values"),
    ("--svc-every", "batches between singular value clips (and on each epoch's last batch)"),
    ("--svc-operator", "circular (Sedghi et al.: circular conv on the input size) or layer (also bounds zero-padded convs)"),
    ("--seed", "random seed"),
    ("--run-dir", "run folder (default runs/<arch>_<data>_<method>)"),
    ("--eval-eps", "evaluation radius (default: the training eps)"),
    ("--eval-l2-eps", "l2 evaluation radius of mat-* runs (default: --l2-eps)"),
    ("--eval-steps", "PGD step counts at evaluation, e.g. 10,20"),
    ("--eval-step-size", "PGD step size at evaluation"),
    ("--val-points", "validation points attacked after each epoch"),
    ("--restore-best", "true: end with the weights of the epoch of best robust validation accuracy (Rice et al.)"),
    ("--patience", "stop after this many epochs without better robust validation accuracy (restores the best)"),
    ("--diagnostics-points", "points of the gradient-masking probe at evaluation (0: off)"),
    ("--dashboard-every", "epochs between the dashboard's costly TensorBoard summaries: layer norms, certification, "
                          "histograms, adversarial examples (0: no dashboard)"),
    ("--export-onnx", "true: also write model.onnx through Keras's ONNX exporter, checked with onnxruntime (needs "
                      "kerobust[onnx]; not for models with noise layers)"),
    ("--distribute", "mirrored: tf.distribute.MirroredStrategy over the local GPUs, or with --replicas N over N "
                     "logical devices of the CPU; multi-worker: MultiWorkerMirroredStrategy over the tasks of "
                     "TF_CONFIG (run the same command on each; the chief writes the run folder); data-parallel "
                     "(JAX): keras.distribution.DataParallel over the local GPUs or N host devices of the CPU"),
    ("--replicas", "devices of --distribute mirrored or data-parallel (default: every GPU; on a CPU, 2)"),
    ("--jit", "XLA compilation: auto (JAX always, TensorFlow on GPU), on, off"),
)



def add_arguments(parser):
    parser.add_argument("--config", help="YAML file of defaults (flags override it)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="evaluate and export a finished run again (shown, unchanged, without it); the training "
                             "figures are kept")
    for flag, help_text in _FLAGS:
        parser.add_argument(flag, help=help_text.replace("%", "%%"), default=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args):
    from kerobust.experiment import run as fit_run

    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    config, explicit = resolve_fit_config(flags, args.config)
    result = fit_run(config, explicit, reevaluate=args.reevaluate)
    evaluation = result.evaluation
    if evaluation is None:  # a multi-worker task other than the chief
        return 0
    print(json.dumps({"clean_top1": evaluation.clean_top1, **{a.description: a.top1 for a in evaluation.attacks}}))
    if result.metrics.get("status") == "failed":
        print(f"kerobust fit: {result.metrics['failure']}", file=sys.stderr)
        return 1
    return 0
