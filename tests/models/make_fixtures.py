"""Small TorchScript fixtures for the capture and CLI tests.

    /usr/bin/python3 tests/models/make_fixtures.py OUT_DIR

writes, for every model of MODELS, OUT_DIR/<name>_traced.pt and
OUT_DIR/<name>_scripted.pt (models built after torch.manual_seed(0), in eval
mode unless the model says otherwise, traced on the inputs of input_data()).
The pytest suite imports this file for the same models.
"""
import os
import sys
import warnings

import torch
import torch.nn as nn


class Calls(nn.Module):
    """Call counts: a module called twice, one in a loop, one never, and an
    unbatched (3-D) input to a Conv2d."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.twice = nn.Conv2d(4, 4, 1)
        self.looped = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)
        self.unbatched = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y = self.twice(self.twice(self.stem(x)))
        z = self.unbatched(y[0])
        f = y.mean((2, 3)) + z.mean((1, 2))
        for _ in range(3):
            f = self.looped(f)
        return self.head(f)


class Padding(nn.Module):
    """Padding modes, dilation, groups, bias."""

    def __init__(self):
        super().__init__()
        self.c_zeros = nn.Conv2d(3, 4, 3, padding=1)
        self.c_reflect = nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect')
        self.c_replicate = nn.Conv2d(4, 4, 3, padding=1, padding_mode='replicate')
        self.c_circular = nn.Conv2d(4, 4, 3, padding=1, padding_mode='circular', bias=False)
        self.c_grouped = nn.Conv2d(4, 4, 3, padding=2, groups=2, dilation=2)
        self.d_depth = nn.Conv3d(1, 2, 3, padding=1, dilation=(2, 1, 1))
        self.d_hw = nn.Conv3d(2, 2, 3, padding=2, dilation=(1, 2, 2))
        self.deconv = nn.ConvTranspose2d(4, 4, 2, stride=2, bias=False)

    def forward(self, x, v):
        y = self.c_grouped(self.c_circular(self.c_replicate(self.c_reflect(self.c_zeros(x)))))
        return self.deconv(y), self.d_hw(self.d_depth(v))


class Shared(nn.Module):
    """Weight sharing, and a module registered under two names (listed once,
    under the first), called through its first name: the only calls the
    reference sees (a call through the alias goes round its marker module;
    a traced model cannot tell the two apart, so no fixture calls an alias)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc_a = nn.Linear(4, 4)
        self.fc_b = nn.Linear(4, 4)
        self.fc_b.weight = self.fc_a.weight
        self.c1_a = nn.Conv1d(4, 4, 1)
        self.c1_b = nn.Conv1d(4, 4, 1)
        self.c1_b.weight = self.c1_a.weight
        self.alias = self.conv
        self.fc_c = nn.Linear(4, 4)

    def forward(self, x):
        y = self.conv(x)
        t = y.flatten(2)
        f = self.fc_b(self.fc_a(t.transpose(1, 2)))
        return self.c1_b(self.c1_a(t)), self.fc_c(f)


class Recurrent(nn.Module):
    """LSTM / GRU settings."""

    def __init__(self):
        super().__init__()
        self.lstm_multi = nn.LSTM(4, 5, num_layers=2, dropout=0.25, bidirectional=True)
        self.lstm_proj = nn.LSTM(4, 6, proj_size=3)
        self.gru = nn.GRU(4, 7, bias=False)
        self.lstm = nn.LSTM(4, 8)

    def forward(self, x):
        a, _ = self.lstm_multi(x)
        b, _ = self.lstm_proj(x)
        c, _ = self.gru(x)
        d, _ = self.lstm(x)
        return a, b, c, d


class Branch(nn.Module):
    """A module called only in a branch that is not taken."""

    def __init__(self):
        super().__init__()
        self.taken = nn.Linear(4, 4)
        self.not_taken = nn.Linear(4, 4)

    def forward(self, x):
        if bool(x.sum() > 1e9):
            return self.not_taken(x)
        return self.taken(x)


class TrainBn(nn.Module):
    """Saved in train mode: running statistics must survive a capture."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


# name -> (class, input shapes, train mode)
MODELS = {
    'calls': (Calls, [(1, 3, 8, 8)], False),
    'padding': (Padding, [(1, 3, 8, 8), (1, 1, 6, 6, 6)], False),
    'shared': (Shared, [(1, 3, 8, 8)], False),
    'recurrent': (Recurrent, [(5, 2, 4)], False),
    'branch': (Branch, [(2, 4)], False),
    'train_bn': (TrainBn, [(1, 3, 8, 8)], True),
}


def build(name):
    cls, _, train = MODELS[name]
    torch.manual_seed(0)
    return cls().train(train)


def input_data(shapes):
    """The CLI's inputs: torch.manual_seed(1), one torch.randn per shape."""
    torch.manual_seed(1)
    return tuple(torch.randn(s) for s in shapes)


def to_torchscript(model, inputs, kind):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if kind == 'traced':
            return torch.jit.trace(model, inputs)
        return torch.jit.script(model)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, (_, shapes, _) in MODELS.items():
        for kind in ('traced', 'scripted'):
            ts = to_torchscript(build(name), input_data(shapes), kind)
            torch.jit.save(ts, os.path.join(out_dir, '%s_%s.pt' % (name, kind)))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: make_fixtures.py OUT_DIR')
    main(sys.argv[1])
