"""Small models that several test files use, in one place.

Each is the smallest model that exercises what its users need; a test that
needs something particular (shared weights, a reflect padding, a layer that
never runs) keeps its own class, next to the test, where the reason shows.
Builders seed torch first, so that two calls give the same weights.
"""
import torch
from torch import nn


class ConvLinear(nn.Module):
    """One Conv2d and one Linear: two quantizable layers, no BatchNorm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


class ConvBnReluLinear(nn.Module):
    """Conv2d + BatchNorm2d (fused by quantize_model) + ReLU, then a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def seeded(cls, seed=0):
    """cls() in eval mode, built right after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return cls().eval()


def images(batch=1, seed=None):
    """A batch of 3x8x8 images, the input of the models above; from a generator
    of its own when seed is given (the global RNG is then left alone)."""
    if seed is None:
        return torch.randn(batch, 3, 8, 8)
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
