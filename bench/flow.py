"""The whole calibration flow on torchvision models (issue 11 item 7):
create_quant_config, quantize_model, batch_num = 2 calibration forwards and
save_model, each phase timed beside two floors measured in the same process
and run: the float forwards of the same batches, and one torch.onnx.export of
the model. 1 thread, 1x3x224x224, one process; peak RSS from getrusage.

    PYTHONPATH=build/python /usr/bin/python3 bench/flow.py [--runs 3] [--out bench/flow_results.json]
"""
import argparse
import copy
import io
import json
import os
import resource
import sys
import tempfile
import time

import torch
import torchvision

import openamct as amct

CASES = [('resnet18', 'ifmr'), ('mobilenet_v2', 'ifmr'), ('resnet18', 'hfmg')]


def _model(name):
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval()


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def one_run(name, algo, work):
    model = _model(name)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(1, 3, 224, 224, generator=gen) for _ in range(2)]
    x = batches[0]
    cfg, onnx_path, rec = (os.path.join(work, f) for f in ('c.json', 'm.onnx', 'r.txt'))
    kwargs = {'batch_num': 2}
    if algo == 'hfmg':
        cfg_def = os.path.join(work, 'hfmg.cfg')
        with open(cfg_def, 'w') as f:
            f.write('batch_num : 2\ncommon_config {\n  hfmg_quantize {\n  }\n}\n')
        kwargs = {'config_defination': cfg_def}
    t = {}
    t['config'], _ = _timed(lambda: amct.create_quant_config(cfg, model, x, **kwargs))
    t['quantize_model'], cm = _timed(lambda: amct.quantize_model(cfg, onnx_path, rec, model, x))

    def calibrate():
        with torch.no_grad():
            for b in batches:
                cm(b)
    t['calibration_forwards'], _ = _timed(calibrate)
    t['save_model'], _ = _timed(lambda: amct.save_model(onnx_path, rec, os.path.join(work, 'q')))
    t['whole_flow'] = sum(t.values())

    def float_forwards():
        with torch.no_grad():
            for b in batches:
                model(b)
    t['floor_float_forwards'], _ = _timed(float_forwards)

    def export():
        torch.onnx.export(copy.deepcopy(model), x, io.BytesIO(), opset_version=11,
                          keep_initializers_as_inputs=True)
    t['floor_onnx_export'], _ = _timed(export)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--out', default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        one_run('resnet18', 'ifmr', work)  # warm-up: imports, kernels
        for name, algo in CASES:
            runs = [one_run(name, algo, work) for _ in range(args.runs)]
            med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
            results['%s_%s' % (name, algo)] = med
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    cols = ['config', 'quantize_model', 'calibration_forwards', 'save_model', 'whole_flow',
            'floor_float_forwards', 'floor_onnx_export']
    print('| case | ' + ' | '.join(cols) + ' |')
    print('|---' * (len(cols) + 1) + '|')
    for case, med in results.items():
        print('| %s | %s |' % (case, ' | '.join('%.3f' % med[c] for c in cols)))
    print('peak RSS of the process: %.0f MiB; load average %s' % (
        rss_mib, ' '.join('%.2f' % v for v in os.getloadavg())))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'median_seconds': results, 'peak_rss_mib': rss_mib,
                       'runs': args.runs, 'loadavg': os.getloadavg()}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
