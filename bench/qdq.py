"""FP32 ONNX vs the flow's QDQ model in ONNX Runtime (issue 13): torchvision
ResNet-50 and MobileNet-V2 (weights=None, seed 0) at 1x3x224x224, onnxruntime-
node with 1 intra-op thread, latency median of --runs runs after 3 warm-up runs, model file sizes, and the
ops ONNX Runtime's optimiser leaves (how many convolutions became integer
kernels). Both models of a network run in one Node process, interleaved run by
run (bench/ort_interleaved.js), so the load of a shared machine hits both alike.
The calibration uses batch_num=2 random batches: fine for speed and size,
meaningless for accuracy.

    PYTHONPATH=build/python /usr/bin/python3 bench/qdq.py [--runs 30] [--out bench/qdq_results.json]
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torchvision

import openamct as amct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, 'bench', 'ort_interleaved.js')
MODELS = ('resnet50', 'mobilenet_v2')


def _model(name):
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval()


def _ort(x_path, runs, models):
    """{model: [ms per run]}; `models` is [(path, optimized graph path)]."""
    cmd = ['node', RUNNER, x_path, str(runs)] + ['%s=%s' % m for m in models]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def _ops(path):
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node).most_common())


def bench_model(name, runs, work):
    model = _model(name)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 224, 224, generator=gen)
    fp32 = os.path.join(work, name + '_fp32.onnx')
    torch.onnx.export(model, x, fp32, opset_version=13, do_constant_folding=True)
    cfg, rec, mod = (os.path.join(work, name + s) for s in ('.json', '.txt', '_modified.onnx'))
    amct.create_quant_config(cfg, model, x, batch_num=2)
    cm = amct.quantize_model(cfg, mod, rec, model, x)
    with torch.no_grad():
        for _ in range(2):
            cm(torch.randn(1, 3, 224, 224, generator=gen))
    prefix = os.path.join(work, name)
    amct.save_model(mod, rec, prefix, formats=('qdq',))
    qdq = prefix + '_qdq_model.onnx'
    x_path = os.path.join(work, 'x.npy')
    np.save(x_path, x.numpy())
    paths = {'fp32': fp32, 'qdq': qdq}
    optimized = {t: os.path.join(work, '%s_%s_ort.onnx' % (name, t)) for t in paths}
    times = _ort(x_path, runs, [(paths[t], optimized[t]) for t in paths])
    out = {}
    for tag, path in paths.items():
        t = times[path]
        out[tag] = {'median_ms': statistics.median(t), 'min_ms': min(t), 'runs': len(t),
                    'file_bytes': os.path.getsize(path),
                    'ort_optimized_ops': _ops(optimized[tag])}
    out['latency_ratio'] = out['qdq']['median_ms'] / out['fp32']['median_ms']
    out['size_ratio'] = out['qdq']['file_bytes'] / out['fp32']['file_bytes']
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'qdq_results.json'))
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {'runs': args.runs, 'threads': 1, 'input': [1, 3, 224, 224],
               'load_average': os.getloadavg(), 'cpu': _cpu(), 'models': {}}
    with tempfile.TemporaryDirectory() as work:
        for name in MODELS:
            results['models'][name] = bench_model(name, args.runs, work)
            r = results['models'][name]
            print('%-13s fp32 %8.1f ms %6.1f MB | qdq %8.1f ms %6.1f MB | latency %.2fx size %.2fx'
                  % (name, r['fp32']['median_ms'], r['fp32']['file_bytes'] / 2**20,
                     r['qdq']['median_ms'], r['qdq']['file_bytes'] / 2**20,
                     r['latency_ratio'], r['size_ratio']), flush=True)
    results['load_average_after'] = os.getloadavg()
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=1)
    return 0


def _cpu():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == '__main__':
    sys.exit(main())
