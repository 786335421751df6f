#!/usr/bin/python3
"""Timing checks of quant.cfg files with very many overrides (moved here from
the test suites, where a wall-clock bound fails on a loaded machine).

    /usr/bin/python3 bench/overrides.py     # OPENAMCT_BUILD_DIR, default build/

* Scaling: a Sequential of N Linear layers, each with its own
  override_layer_configs block, for N = 2,000 and 20,000. No step may be
  quadratic (the layer-name validation and the JSON key insertion once were:
  many minutes); the check is t(20,000) < 30 x t(2,000) + 1 s.
* Failing fast: 100,000 overrides of layers the model does not have must fail,
  naming the first, within 30 s.

Prints one line per check with "met" or "MISSED"; exits 1 if one is missed.
"""

import logging
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(ROOT, 'build'))
sys.path.insert(0, os.path.join(BUILD, 'python'))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import openamct as amct  # noqa: E402

OVERRIDE = 'override_layer_configs { layer_name: "%s" calibration_config { %s } }\n'


def seconds_with_overrides(folder, layers):
    """create_quant_config on `layers` Linear layers, each with an override."""
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(layers)]).eval()
    cfg = os.path.join(folder, 'quant.cfg')
    with open(cfg, 'w') as f:
        f.write(''.join(OVERRIDE % (i, 'ifmr_quantize { search_step: 0.02 }')
                        for i in range(layers)))
    start = time.perf_counter()
    amct.create_quant_config(os.path.join(folder, 'q.json'), model, torch.randn(1, 2),
                             config_defination=cfg)
    return time.perf_counter() - start


def seconds_to_fail_on_unknown_layers(folder, overrides):
    cfg = os.path.join(folder, 'quant.cfg')
    with open(cfg, 'w') as f:
        f.write(''.join(OVERRIDE % ('l%d' % i, '') for i in range(overrides)))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(6, 2)).eval()
    start = time.perf_counter()
    try:
        amct.create_quant_config(os.path.join(folder, 'q.json'), model,
                                 torch.randn(1, 3, 8, 8), config_defination=cfg)
    except ValueError as e:
        if str(e) != 'Layer l0 does not exist in the graph.':
            raise
    else:
        raise AssertionError('100,000 unknown layers were accepted')
    return time.perf_counter() - start


def main():
    torch.set_num_threads(1)
    logging.getLogger('openamct').setLevel(logging.WARNING)
    missed = 0
    with tempfile.TemporaryDirectory() as folder:
        small = seconds_with_overrides(folder, 2000)
        large = seconds_with_overrides(folder, 20000)
        ok = large < 30 * small + 1.0
        missed += not ok
        print('overrides, 2,000 layers: %.2f s; 20,000 layers: %.2f s (ratio %.1f): %s'
              % (small, large, large / small, 'met' if ok else 'MISSED'))
        fail = seconds_to_fail_on_unknown_layers(folder, 100000)
        ok = fail < 30
        missed += not ok
        print('100,000 overrides of unknown layers fail in %.2f s (< 30 s): %s'
              % (fail, 'met' if ok else 'MISSED'))
    return 1 if missed else 0


if __name__ == '__main__':
    sys.exit(main())
