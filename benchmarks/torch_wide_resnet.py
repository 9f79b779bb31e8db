"""The peer for benchmarks: the same WideResNet-16-k and training steps as a plain PyTorch CPU loop."""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (the extra row and column of an even total go below and to the
    right, where PyTorch's `padding=1` pads both sides), so that the network computes exactly what Keras's does."""

    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__(cin, cout, kernel, stride, 0, bias=False)

    def forward(self, x):
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first
            total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class _Block(nn.Module):
    def __init__(self, cin, cout, stride, bn):
        super().__init__()
        self.bn1, self.conv1 = bn(cin), SameConv2d(cin, cout, 3, stride)
        self.bn2, self.conv2 = bn(cout), SameConv2d(cout, cout, 3, 1)
        self.shortcut = None if (cin == cout and stride == 1) else SameConv2d(cin, cout, 1, stride)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        return shortcut + self.conv2(F.relu(self.bn2(self.conv1(pre))))


class WideResNet(nn.Module):
    """WRN-depth-k, pre-activation basic-wide blocks (the layout of kerobust.models.wide_resnet).

    `mean`, `std`: per-channel input normalisation as the model's first step (kerobust's models take [0, 1] pixels);
    `bn_momentum`, `bn_eps`: PyTorch's batch-norm settings (kerobust uses 0.1 and 1e-5, PyTorch's defaults).
    """

    def __init__(self, depth=16, k=1, channels=3, classes=10, mean=None, std=None, bn_momentum=0.1, bn_eps=1e-5):
        super().__init__()
        n = (depth - 4) // 6

        def bn(features):
            return nn.BatchNorm2d(features, eps=bn_eps, momentum=bn_momentum)

        layers, cin = [SameConv2d(channels, 16, 3, 1)], 16
        for width, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
            for i in range(n):
                layers.append(_Block(cin, width, stride if i == 0 else 1, bn))
                cin = width
        self.body, self.bn, self.fc = nn.Sequential(*layers), bn(cin), nn.Linear(cin, classes)
        shape = (1, channels, 1, 1)
        self.register_buffer("mean", torch.zeros(shape) if mean is None else torch.tensor(mean).reshape(shape))
        self.register_buffer("std", torch.ones(shape) if std is None else torch.tensor(std).reshape(shape))

    def forward(self, x):
        x = F.relu(self.bn(self.body((x - self.mean) / self.std)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def keras_initialisation(model):
    """Keras's default initialisers (Glorot-uniform kernels, zero biases) in place of PyTorch's (Kaiming-uniform with
    a = sqrt(5)), so that both sides start from the same distribution."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def kerobust_weights(model):
    """`{layer name: [numpy arrays]}` in the layout of kerobust's `wrn` (norm "bn"): Keras kernels are
    (kh, kw, in, out), batch norm is (gamma, beta, moving mean, moving variance), the dense kernel is (in, out)."""

    def kernel(conv):
        return conv.weight.detach().permute(2, 3, 1, 0).numpy()

    def norm(bn):
        return [t.detach().numpy() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]

    weights = {"stem_conv": [kernel(model.body[0])]}
    blocks = list(model.body)[1:]
    per_group = len(blocks) // 3
    for i, block in enumerate(blocks):
        name = f"group{i // per_group + 1}_block{i % per_group + 1}"
        weights[f"{name}_norm1"], weights[f"{name}_conv1"] = norm(block.bn1), [kernel(block.conv1)]
        weights[f"{name}_norm2"], weights[f"{name}_conv2"] = norm(block.bn2), [kernel(block.conv2)]
        if block.shortcut is not None:
            weights[f"{name}_shortcut"] = [kernel(block.shortcut)]
    weights["final_norm"] = norm(model.bn)
    weights["logits"] = [model.fc.weight.detach().numpy().T.copy(), model.fc.bias.detach().numpy()]
    return {name: [np.ascontiguousarray(a) for a in arrays] for name, arrays in weights.items()}


def pgd(model, x, y, eps, alpha, steps):
    """PGD-l-inf with random start, in eval mode (as kerobust attacks). The gradient is taken at the clipped point
    itself: a gradient through `clamp(x + delta, 0, 1)` is 0 wherever the clip is active, which froze a third of the
    pixels of digits and left 2.5x the accuracy that this attack leaves (an earlier version of this peer)."""
    model.eval()
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    model.train()
    return x_adv


def fgsm(model, x, y, eps):
    """FGSM-l-inf without random start, in eval mode."""
    model.eval()
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    model.train()
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def natural_step(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def pgd_step(model, optimizer, x, y, eps, alpha, steps):
    natural_step(model, optimizer, pgd(model, x, y, eps, alpha, steps), y)


def free_step(model, optimizer, x, y, delta, eps, replays, box=False):
    """Shafahi et al.: m replays, one backward pass for weights and perturbation; returns the new delta.

    As Shafahi et al.'s code, the input is `clamp(x + delta, 0, 1)`; PyTorch's clamp has a zero gradient on the
    boundary as well as outside it. `box`: as Wong et al. 2020's free training code, the input is `x + delta`
    unclamped and delta is clamped after each update so that x + delta stays in [0, 1]."""
    for _ in range(replays):
        delta.requires_grad_(True)
        optimizer.zero_grad()
        F.cross_entropy(model(x + delta if box else (x + delta).clamp(0, 1)), y).backward()
        optimizer.step()
        delta = (delta.detach() + eps * delta.grad.sign()).clamp(-eps, eps)
        if box:
            delta = torch.min(torch.max(delta, -x), 1 - x)
    return delta
