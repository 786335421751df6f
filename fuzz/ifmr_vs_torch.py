"""Randomised differential test of IFMR against the torch transcription of its rule.

    PYTHONPATH=build/python /usr/bin/python3 fuzz/ifmr_vs_torch.py [--seed S] [--cases N]

Not in CI (the transcription makes one pass over the data per candidate; 1 500
cases take a few minutes). Each case draws 1-300 000 elements of one of eight
distributions (normal, ReLU, log-normal, rounded to integers, tiny, scaled ReLU,
non-positive, uniform), splits them into 1-3 batches and runs openamct.algorithms.ifmr
with 4, 8 or 16 bits, with or without offset, percentiles from 0.5 to 1.0 and the
default or another search list (up to 1 000 candidates: the chunked scan and the
sorted search), then bench/algorithms.py's transcription (torch.topk percentiles,
torch.arange candidates, mse_loss per candidate). A finding is any case whose
scale or offset differs in a single bit; its batches are saved next to the message
(torch.save) to become a gtest. The fuzz targets check invariants, the kit's
vectors fixed cases: this is what found the clamped-bound rounding of the first
chunked scan (AlgorithmsIfmr.ClampedElementsTakeTheBoundsExactGridValue).
"""
import argparse
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
from algorithms import torch_ifmr  # noqa: E402  (also sets 1 torch thread)
from openamct import algorithms as alg  # noqa: E402


def draw(rng, gen):
    n = rng.choice([1, 3, 17, 63, 64, 65, 1000, 4095, 4097, 20000, 100000, 300000])
    kind = rng.randrange(8)
    x = torch.randn(n, generator=gen)
    if kind == 1:
        x = torch.relu(x)
    elif kind == 2:
        x = torch.exp(x * 2)
    elif kind == 3:
        x = torch.round(x * 3)
    elif kind == 4:
        x = x * 1e-5
    elif kind == 5:
        x = torch.relu(x) * rng.choice([1e-3, 1.0, 50.0])
    elif kind == 6:
        x = -torch.relu(x) + 0.0
    elif kind == 7:
        x = torch.rand(n, generator=gen) * 255 - 128
    nb = min(rng.choice([1, 2, 3]), n)
    options = dict(num_bits=rng.choice([4, 8, 8, 8, 16]), with_offset=rng.random() < 0.5,
                   max_percentile=rng.choice([0.999999, 1.0, 0.99, 0.9, 0.5]),
                   min_percentile=rng.choice([0.999999, 1.0, 0.99, 0.9, 0.5]),
                   search_start=0.7, search_end=1.3, search_step=0.01)
    if rng.random() < 0.3:
        start = rng.choice([0.1, 0.5, 0.7, 0.9])
        options.update(search_start=start, search_end=start + rng.choice([0.2, 0.6, 1.0]),
                       search_step=rng.choice([0.001, 0.003, 0.01, 0.05]))
    return list(torch.tensor_split(x, nb)), options


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--cases', type=int, default=1500)
    ap.add_argument('--out', default='.', help='folder for the batches of a finding')
    args = ap.parse_args()
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(rng.randrange(1 << 30))
    findings = 0
    for case in range(args.cases):
        batches, o = draw(rng, gen)
        got = alg.ifmr(batches, **o)
        want = torch_ifmr(batches, o['num_bits'], o['with_offset'], o['max_percentile'],
                          o['min_percentile'], o['search_start'], o['search_end'],
                          o['search_step'])
        if np.float32(got['scale']) != np.float32(want[0]) or int(got['offset']) != want[1]:
            findings += 1
            path = os.path.join(args.out, 'ifmr_finding_%d_%d.pt' % (args.seed, case))
            torch.save(batches, path)
            print('finding: case %d, %s, %d elements: openamct (%r, %d), torch (%r, %d); '
                  'batches in %s' % (case, o, sum(b.numel() for b in batches), got['scale'],
                                     got['offset'], want[0], want[1], path), flush=True)
    print('%d cases, %d findings' % (args.cases, findings))
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main())
