"""FP32 ONNX vs the flow's QDQ model in ONNX Runtime (issue 13): torchvision
ResNet-50 and MobileNet-V2 (weights=None, seed 0) at 1x3x224x224, onnxruntime-
node with 1 intra-op thread, latency median of --runs runs after 3 warm-up runs, model file sizes, and the
ops ONNX Runtime's optimiser leaves (how many convolutions became integer
kernels). Both models of a network run in one Node process, interleaved run by
run (bench/ort_interleaved.js), so the load of a shared machine hits both alike.
The calibration uses batch_num=2 random batches: fine for speed and size,
meaningless for accuracy.

The calibration runs with qdq_full=True (the record is the same as without it),
so one record gives both the default QDQ model and the qdq_full model (residual
Adds and the layers feeding them in int8 too), each with int8 activations (zero
point offset_d) and with uint8 ones (offset_d + 128, the same integers). These,
the FP32 and the fake-quant model are timed; then each runs on --samples inputs (half random
normal, half smooth structured images) and their outputs are compared with the
fake-quant model's (max abs difference of the logits, top-1 agreement).

    PYTHONPATH=build/python /usr/bin/python3 bench/qdq.py [--runs 30] [--samples 12]
        [--out bench/qdq_results.json]
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
QDQ_TAGS = ('qdq', 'qdq_full', 'qdq_uint8', 'qdq_full_uint8')


def _model(name):
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval()


def _ort(x_path, runs, models, output_inputs=()):
    """{model: [ms per run], 'outputs': {model: [[logits] per input]}}; `models`
    is [(path, optimized graph path)]."""
    cmd = ['node', RUNNER, x_path, str(runs)] + ['%s=%s' % m for m in models]
    if output_inputs:
        cmd += ['--outputs', ','.join(output_inputs)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def _ops(path):
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node).most_common())


def _samples(count, gen):
    """Half random normal images, half smooth ones (sums of random low-frequency waves)."""
    out = []
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing='ij')
    for i in range(count):
        if i % 2 == 0:
            out.append(torch.randn(1, 3, 224, 224, generator=gen))
            continue
        img = torch.zeros(1, 3, 224, 224)
        for c in range(3):
            for _ in range(4):
                fx, fy, ph = (torch.rand(3, generator=gen) * torch.tensor([6., 6., 6.28])).tolist()
                img[0, c] += torch.sin(6.28 * (fx * xx + fy * yy) + ph)
        out.append(img)
    return out


def _agreement(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return {'max_abs_diff': float(np.abs(got - want).max()),
            'max_abs_want': float(np.abs(want).max()),
            'top1_agreement': float((got.argmax(1) == want.argmax(1)).mean())}


def bench_model(name, runs, work, samples):
    model = _model(name)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 224, 224, generator=gen)
    fp32 = os.path.join(work, name + '_fp32.onnx')
    torch.onnx.export(model, x, fp32, opset_version=13, do_constant_folding=True)
    cfg, rec, mod = (os.path.join(work, name + s) for s in ('.json', '.txt', '_modified.onnx'))
    amct.create_quant_config(cfg, model, x, batch_num=2)
    cm = amct.quantize_model(cfg, mod, rec, model, x, qdq_full=True)
    with torch.no_grad():
        for _ in range(2):
            cm(torch.randn(1, 3, 224, 224, generator=gen))
    prefix = os.path.join(work, name)
    amct.save_model(mod, rec, prefix, formats=('fake_quant', 'qdq', 'qdq_full'))
    amct.save_model(mod, rec, prefix + '_u8', formats=('qdq', 'qdq_full'),
                    activation_dtype='uint8')
    x_path = os.path.join(work, 'x.npy')
    np.save(x_path, x.numpy())
    sample_paths = []
    for i, s in enumerate(_samples(samples, gen)):
        sample_paths.append(os.path.join(work, 'sample%d.npy' % i))
        np.save(sample_paths[-1], s.numpy())
    paths = {'fp32': fp32, 'qdq': prefix + '_qdq_model.onnx',
             'qdq_full': prefix + '_qdq_full_model.onnx',
             'qdq_uint8': prefix + '_u8_qdq_model.onnx',
             'qdq_full_uint8': prefix + '_u8_qdq_full_model.onnx',
             'fake_quant': prefix + '_fake_quant_model.onnx'}
    optimized = {t: os.path.join(work, '%s_%s_ort.onnx' % (name, t)) for t in paths}
    times = _ort(x_path, runs, [(paths[t], optimized[t]) for t in paths], sample_paths)
    out = {}
    for tag, path in paths.items():
        t = times[path]
        out[tag] = {'median_ms': statistics.median(t), 'min_ms': min(t), 'runs': len(t),
                    'file_bytes': os.path.getsize(path),
                    'ort_optimized_ops': _ops(optimized[tag])}
        if tag != 'fake_quant':
            out[tag]['vs_fake_quant'] = _agreement(times['outputs'][path],
                                                   times['outputs'][paths['fake_quant']])
    for tag in QDQ_TAGS:
        out[tag]['latency_ratio'] = out[tag]['median_ms'] / out['fp32']['median_ms']
        out[tag]['size_ratio'] = out[tag]['file_bytes'] / out['fp32']['file_bytes']
    out['latency_ratio'] = out['qdq']['latency_ratio']
    out['size_ratio'] = out['qdq']['size_ratio']
    out['samples'] = samples
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--samples', type=int, default=12)
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'qdq_results.json'))
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {'runs': args.runs, 'threads': 1, 'input': [1, 3, 224, 224],
               'load_average': os.getloadavg(), 'cpu': _cpu(), 'models': {}}
    with tempfile.TemporaryDirectory() as work:
        for name in MODELS:
            results['models'][name] = bench_model(name, args.runs, work, args.samples)
            r = results['models'][name]
            print('%-13s fp32 %8.1f ms %6.1f MB' % (name, r['fp32']['median_ms'],
                                                    r['fp32']['file_bytes'] / 2**20))
            for tag in QDQ_TAGS:
                q = r[tag]
                print('  %-14s %8.1f ms %6.1f MB | latency %.2fx size %.2fx | QLinearConv %d, '
                      'Conv/FusedConv %d | vs fake-quant: max|diff| %.3g (max|logit| %.3g), '
                      'top-1 %.0f%%'
                      % (tag, q['median_ms'], q['file_bytes'] / 2**20, q['latency_ratio'],
                         q['size_ratio'], q['ort_optimized_ops'].get('QLinearConv', 0),
                         q['ort_optimized_ops'].get('Conv', 0) +
                         q['ort_optimized_ops'].get('FusedConv', 0),
                         q['vs_fake_quant']['max_abs_diff'], q['vs_fake_quant']['max_abs_want'],
                         100 * q['vs_fake_quant']['top1_agreement']), flush=True)
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
