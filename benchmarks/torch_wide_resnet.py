"""The peer for benchmarks: the same WideResNet-16-k and training steps as a plain PyTorch CPU loop."""

import torch
from torch import nn
from torch.nn import functional as F


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        return shortcut + self.conv2(F.relu(self.bn2(self.conv1(pre))))


class WideResNet(nn.Module):
    """WRN-depth-k, pre-activation basic-wide blocks (the layout of kerobust.models.wide_resnet)."""

    def __init__(self, depth=16, k=1, channels=3, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        layers, cin = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False)], 16
        for width, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
            for i in range(n):
                layers.append(_Block(cin, width, stride if i == 0 else 1))
                cin = width
        self.body, self.bn, self.fc = nn.Sequential(*layers), nn.BatchNorm2d(cin), nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.body(x)))
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
