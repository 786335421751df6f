"""The ONNX -> torch loader (onnx_module.OnnxModule) against ONNX Runtime.

Runs the original PaddleOCR graphs in onnxruntime-node (tests/ort/run_onnx.js, CPU,
graph optimisations on, as the QDQ tests use it) and in OnnxModule on the same
rendered evaluation lines, and reports the largest output difference. Both read the
same float32 inputs; the graphs end in a softmax, so outputs are probabilities.

    PYTHONPATH=build/python python3 bench/accuracy/ort_check.py [--lines N]

accuracy.py calls check() once per run and keeps the numbers in its JSON.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.path.join(ROOT, 'tests', 'ort', 'run_onnx.js')
ORT_MODULE = os.path.join(ROOT, 'tests', 'ort', 'node_modules', 'onnxruntime-node')


def available():
    return shutil.which('node') is not None and os.path.isdir(ORT_MODULE)


def run_ort(model_path, x, runs=0):
    """Outputs of ONNX Runtime for the float32 batch x (first output only). With
    runs > 0, returns (outputs, per-run latencies in ms) instead: 3 warm-up runs,
    then `runs` timed ones, each on the whole batch (1 intra-op thread)."""
    tmp = tempfile.mkdtemp(prefix='ort_check_')
    try:
        inp = os.path.join(tmp, 'x.npy')
        np.save(inp, np.ascontiguousarray(x.numpy(), dtype=np.float32))
        cmd = ['node', RUNNER, model_path, tmp, inp] + (['--runs', str(runs)] if runs else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'run_onnx.js failed: {proc.stderr.strip()[-500:]}')
        out = torch.from_numpy(np.load(os.path.join(tmp, '0.npy')))
        if not runs:
            return out
        return out, json.loads(proc.stdout.strip().splitlines()[-1])['times_ms']
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compare(name, module, model_path, x):
    with torch.no_grad():
        ours = module(x)
    ref = run_ort(model_path, x)
    if tuple(ours.shape) != tuple(ref.shape):
        raise RuntimeError(f'{name}: loader output {tuple(ours.shape)}, ORT {tuple(ref.shape)}')
    diff = (ours - ref).abs()
    return {'model': name, 'file': os.path.relpath(model_path, ROOT), 'inputs': list(x.shape),
            'max_abs_diff': diff.max().item(), 'mean_abs_diff': diff.mean().item(),
            'max_abs_output': ref.abs().max().item(),
            # The decision the bench scores: per-frame argmax (rec) or class (cls).
            'argmax_agreement': (ours.argmax(-1) == ref.argmax(-1)).float().mean().item()}


def check(rec=None, rec_x=None, cls=None, cls_x=None):
    """rec/cls: OnnxModule of the original graphs, *_x: their inputs (either pair
    may be None). Returns a list of compare() results."""
    import data
    out = []
    if rec is not None:
        out.append(compare('PP-OCRv4 rec', rec, os.path.join(ROOT, data.ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
                           rec_x))
    if cls is not None:
        out.append(compare('PP-OCR cls', cls, os.path.join(ROOT, data.ASSETS,
                                                            'ch_ppocr_mobile_v2.0_cls_infer.onnx'), cls_x))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--lines', type=int, default=16)
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    os.chdir(ROOT)
    import data
    from onnx_module import OnnxModule
    torch.set_num_threads(2)
    keys = data.load_keys()
    words = data.load_words(set(keys[1:]))
    lines = data.make_lines(1, args.lines, words)      # the evaluation seed of accuracy.py
    rec = OnnxModule(os.path.join(data.ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), (3, data.REC_H, data.REC_W)).eval()
    cls = OnnxModule(os.path.join(data.ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
                     (3, data.CLS_H, data.CLS_W)).eval()
    xc, _ = data.cls_tensor(lines, 3)
    print(json.dumps(check(rec, data.rec_tensor(lines), cls, xc), indent=1))


if __name__ == '__main__':
    main()
