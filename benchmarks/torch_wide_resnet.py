"""The peer for benchmarks: the same WideResNet-16-k and training steps as a plain PyTorch CPU loop."""

import torch
from torch import nn
from torch.nn import functional as F


class _Block(nn.Module):
    def __init__(self, cin, cout, stride, bn):
        super().__init__()
        self.bn1, self.conv1 = bn(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = bn(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        return shortcut + self.conv2(F.relu(self.bn2(self.conv1(pre))))


class WideResNet(nn.Module):
    """WRN-depth-k, pre-activation basic-wide blocks (the layout of kerobust.models.wide_resnet).

    `mean`, `std`: per-channel input normalisation as the model's first step (kerobust's models take [0, 1] pixels);
    `bn_momentum`, `bn_eps`: PyTorch's batch-norm settings (Keras's defaults are momentum 0.01 and eps 1e-3 here).
    """

    def __init__(self, depth=16, k=1, channels=3, classes=10, mean=None, std=None, bn_momentum=0.1, bn_eps=1e-5):
        super().__init__()
        n = (depth - 4) // 6

        def bn(features):
            return nn.BatchNorm2d(features, eps=bn_eps, momentum=bn_momentum)

        layers, cin = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False)], 16
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


def pgd(model, x, y, eps, alpha, steps):
    """PGD-l-inf with random start, in eval mode (as kerobust attacks)."""
    model.eval()
    delta = torch.empty_like(x).uniform_(-eps, eps)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model((x + delta).clamp(0, 1)), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        delta = ((x + delta).clamp(0, 1) - x).detach()
    model.train()
    return (x + delta).clamp(0, 1)


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


def free_step(model, optimizer, x, y, delta, eps, replays):
    """Shafahi et al.: m replays, one backward pass for weights and perturbation; returns the new delta."""
    for _ in range(replays):
        delta.requires_grad_(True)
        optimizer.zero_grad()
        F.cross_entropy(model((x + delta).clamp(0, 1)), y).backward()
        optimizer.step()
        delta = (delta.detach() + eps * delta.grad.sign()).clamp(-eps, eps)
    return delta
