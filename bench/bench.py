#!/usr/bin/python3
"""OpenAMCT's create_quant_config against the cost the reference pays.

    /usr/bin/python3 bench/bench.py [--runs 5] [--out bench/results.json]

The reference finds the quantizable layers by exporting the model to ONNX,
which runs it; OpenAMCT runs a shadow of the model on the ``meta`` device.
This script measures, in ONE process with ``torch.set_num_threads(1)``:

* for ResNet-50, ViT-B/16, DenseNet-121 and MobileNet-V2 at 1x3x224x224:
  OpenAMCT's ``create_quant_config`` (default capture); the reference's cost
  (``copy.deepcopy`` of the model plus ``torch.onnx.export``, opset 11,
  ``keep_initializers_as_inputs=True``, into a BytesIO); one eager forward
  pass; and one hooked forward of a prebuilt meta shadow alone;
* scale: Sequentials of 100, 1,000 and 10,000 small Conv2d/Linear layers, and
  a 7-billion-parameter decoder-only transformer built on ``meta``.

Times are medians of wall-clock runs (``time.perf_counter``). Peak RSS is
measured in a fresh subprocess per (model, method), see ``rss_worker``. The
table is printed and written as JSON. See bench/README.md.
"""

import argparse
import copy
import gc
import io
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(ROOT, 'build'))
sys.path.insert(0, os.path.join(BUILD, 'python'))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import openamct as amct  # noqa: E402
from openamct import _capture  # noqa: E402

TORCHVISION_MODELS = ['resnet50', 'vit_b_16', 'densenet121', 'mobilenet_v2']
SYNTHETIC_LAYERS = [100, 1000, 10000]
MB = 1024.0 * 1024.0


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
def torchvision_model(name):
    import torchvision
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval(), torch.randn(1, 3, 224, 224)


def synthetic_model(layers):
    """A Sequential of `layers` quantizable layers: Conv2d(4, 4, 3) and
    Linear(4, 4) in turn, on a 1x4x4x4 input (Linear acts on the last axis)."""
    torch.manual_seed(0)
    mods = [nn.Conv2d(4, 4, 3, padding=1) if i % 2 == 0 else nn.Linear(4, 4)
            for i in range(layers)]
    return nn.Sequential(*mods).eval(), torch.randn(1, 4, 4, 4)


class RMSNorm(nn.Module):
    def __init__(self, dim, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, device=device))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, dim, heads, device):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False, device=device)
        self.k_proj = nn.Linear(dim, dim, bias=False, device=device)
        self.v_proj = nn.Linear(dim, dim, bias=False, device=device)
        self.o_proj = nn.Linear(dim, dim, bias=False, device=device)

    def forward(self, x):
        b, s, d = x.shape

        def heads(t):
            return t.view(b, s, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        scores = q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5
        mask = torch.full((s, s), float('-inf'), device=x.device).triu(1)
        out = torch.softmax(scores + mask, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, s, d))


class MLP(nn.Module):
    def __init__(self, dim, hidden, device):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False, device=device)
        self.up_proj = nn.Linear(dim, hidden, bias=False, device=device)
        self.down_proj = nn.Linear(hidden, dim, bias=False, device=device)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, device):
        super().__init__()
        self.input_norm = RMSNorm(dim, device)
        self.attn = Attention(dim, heads, device)
        self.post_norm = RMSNorm(dim, device)
        self.mlp = MLP(dim, hidden, device)

    def forward(self, x):
        x = x + self.attn(self.input_norm(x))
        return x + self.mlp(self.post_norm(x))


class Decoder(nn.Module):
    """A LLaMA-7B-shaped decoder-only transformer built from nn.Linear."""

    def __init__(self, vocab=32000, dim=4096, blocks=32, heads=32, hidden=11008, device='meta'):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim, device=device)
        self.layers = nn.ModuleList(Block(dim, heads, hidden, device) for _ in range(blocks))
        self.norm = RMSNorm(dim, device)
        self.lm_head = nn.Linear(dim, vocab, bias=False, device=device)

    def forward(self, tokens):
        x = self.embed_tokens(tokens)
        for block in self.layers:
            x = block(x)
        return self.lm_head(self.norm(x))


def decoder_7b():
    torch.manual_seed(0)
    return Decoder().eval(), torch.randint(0, 32000, (1, 16))


def build(name):
    if name == 'decoder_7b':
        return decoder_7b()
    if name.startswith('synthetic_'):
        return synthetic_model(int(name.split('_')[1]))
    return torchvision_model(name)


def weight_bytes(model):
    return sum(t.numel() * t.element_size() for t in
               list(model.parameters()) + list(model.buffers()))


def quantizable_layers(model):
    types = frozenset(amct._C.quantizable_types())
    return sum(type(m).__name__ in types for m in model.modules())


# ---------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------
class Methods:
    """The calls that are timed, for one model and its input."""

    def __init__(self, model, x, workdir):
        self.model, self.x = model, x
        self.config = os.path.join(workdir, 'config.json')
        # the same call with the file on tmpfs, where fsync costs nothing
        shm = '/dev/shm' if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK) else None
        self.config_tmpfs = os.path.join(shm, 'openamct_bench_%d.json' % os.getpid()) \
            if shm else None
        self._shadow = None

    def before_openamct(self):
        for path in (self.config, self.config_tmpfs):
            if path and os.path.exists(path):
                os.remove(path)  # every call writes a new file, as a first call does

    def openamct(self):
        amct.create_quant_config(self.config, self.model, self.x)

    def openamct_tmpfs(self):
        amct.create_quant_config(self.config_tmpfs, self.model, self.x)

    def inspect_layers(self):
        amct.inspect_layers(self.model, self.x)

    def onnx_export(self):
        """What the reference pays before it looks at a layer."""
        clone = copy.deepcopy(self.model)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(clone, self.x, io.BytesIO(), opset_version=11,
                              keep_initializers_as_inputs=True)

    def eager(self):
        with torch.no_grad():
            self.model(self.x)

    def meta_shadow(self):
        _capture.meta_shadow(self.model)

    def prepare_hooked_meta_forward(self):
        quantizable = frozenset(amct._C.quantizable_types())
        memo = {}
        shadow = _capture.meta_shadow(self.model, memo)
        self._shadow = (shadow, [memo[id(mod)] for name, mod in self.model.named_modules()
                                 if type(mod).__name__ in quantizable])

    def hooked_meta_forward(self):
        """One hooked forward of a prebuilt meta shadow alone, run as the call
        runs it (garbage collector paused, inference_mode, no eval() walk: the
        shadow is born in eval mode): the floor."""
        shadow, hooked = self._shadow
        with _capture._gc_paused():
            _capture._run_watched(shadow, _capture._to_meta((self.x,)), {}, hooked, (),
                                  set_eval=False, grad_off=torch.inference_mode,
                                  fast_paths_off=False)

    def cleanup(self):
        if self.config_tmpfs and os.path.exists(self.config_tmpfs):
            os.remove(self.config_tmpfs)


def _summary(wall, cpu):
    return {'median_s': statistics.median(wall), 'min_s': min(wall),
            'cpu_median_s': statistics.median(cpu), 'runs': len(wall)}


def timed(fn, runs, before=None):
    """Median wall (and process CPU) seconds of `runs` calls of fn."""
    return timed_together({'fn': (fn, before)}, runs)['fn']


def timed_together(fns, runs):
    """Like timed, for several methods, interleaved: run i of every method,
    then run i + 1 of every method, ... so that the load of a shared machine
    falls on all of them alike. fns: {key: (fn, before or None)}."""
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(runs):
        for key, (fn, before) in fns.items():
            if before:
                before()
            w, c = time.perf_counter(), time.process_time()
            fn()
            cpu[key].append(time.process_time() - c)
            wall[key].append(time.perf_counter() - w)
    return {k: _summary(wall[k], cpu[k]) for k in fns}


# ---------------------------------------------------------------------------
# Peak RSS, in a fresh process per measurement
# ---------------------------------------------------------------------------
def _status_kb():
    with open('/proc/self/status') as f:
        text = f.read()
    return {k: int(re.search(r'^%s:\s+(\d+) kB' % k, text, re.M).group(1))
            for k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile')}


def _rss_by_mapping():
    """{mapped file, or [anon] / [heap] / ...: resident kB}."""
    out, current = {}, None
    with open('/proc/self/smaps') as f:
        for line in f:
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                fields = line.split()
                current = fields[5] if len(fields) > 5 else '[anon]'
            elif line.startswith('Rss:'):
                out[current] = out.get(current, 0) + int(line.split()[1])
    return out


def _reset_peak():
    """Sets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def rss_worker(method, name, calls):
    """Builds the model, then for each call: gc.collect(), reset the kernel's
    peak-RSS mark, read RSS, call, read the peak. Prints one JSON line."""
    torch.set_num_threads(1)
    logging.getLogger('openamct').setLevel(logging.ERROR)
    model, x = build(name)
    gc.collect()
    process_peak = _status_kb()['VmHWM']
    out = {'model': name, 'method': method, 'calls': []}
    with tempfile.TemporaryDirectory() as work:
        methods = Methods(model, x, work)
        for _ in range(calls):
            if method == 'openamct':
                methods.before_openamct()
            gc.collect()
            maps_before = _rss_by_mapping()
            _reset_peak()
            before = _status_kb()
            getattr(methods, method)()
            after = _status_kb()
            maps_after = _rss_by_mapping()
            process_peak = max(process_peak, after['VmHWM'])
            grown = {k: (v - maps_before.get(k, 0)) / 1024.0 for k, v in maps_after.items()
                     if v - maps_before.get(k, 0) >= 64}
            out['calls'].append({
                'rss_before_mb': before['VmRSS'] / 1024.0,
                'extra_peak_mb': (after['VmHWM'] - before['VmRSS']) / 1024.0,
                'anon_kept_mb': (after['RssAnon'] - before['RssAnon']) / 1024.0,
                'file_kept_mb': (after['RssFile'] - before['RssFile']) / 1024.0,
                'kept_by_mapping_mb': dict(sorted(grown.items(), key=lambda kv: -kv[1]))})
    out['process_peak_mb'] = process_peak / 1024.0
    print(json.dumps(out))


def measure_rss(method, name, calls):
    cmd = [sys.executable, os.path.abspath(__file__), '--rss-worker', method, name,
           '--calls', str(calls)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError('RSS worker %s %s failed:\n%s' % (method, name, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------
def warm_up(work):
    """Every method once on a tiny model: first-time imports and kernel
    registrations are not what a measured run pays."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 2)).eval()
    methods = Methods(model, torch.randn(1, 3, 8, 8), work)
    methods.prepare_hooked_meta_forward()
    for fn in (methods.openamct, methods.inspect_layers, methods.onnx_export, methods.eager,
               methods.hooked_meta_forward):
        methods.before_openamct()
        fn()
    methods.cleanup()


def bench_model(name, runs, fast_runs, work, log):
    model, x = build(name)
    methods = Methods(model, x, work)
    row = {'model': name, 'input': list(x.shape), 'weight_mb': weight_bytes(model) / MB,
           'quantizable_layers': quantizable_layers(model)}
    methods.prepare_hooked_meta_forward()
    fast = {'openamct': (methods.openamct, methods.before_openamct),
            'inspect_layers': (methods.inspect_layers, None),
            'hooked_meta_forward': (methods.hooked_meta_forward, None),
            'meta_shadow': (methods.meta_shadow, None)}
    if methods.config_tmpfs:
        fast['openamct_tmpfs'] = (methods.openamct_tmpfs, methods.before_openamct)
    row.update(timed_together(fast, fast_runs))
    methods.cleanup()
    log('  %s: openamct %.1f ms, hooked meta forward %.1f ms' % (
        name, row['openamct']['median_s'] * 1e3, row['hooked_meta_forward']['median_s'] * 1e3))
    row['eager'] = timed(methods.eager, runs)
    log('  %s: eager %.0f ms' % (name, row['eager']['median_s'] * 1e3))
    row['onnx_export'] = timed(methods.onnx_export, runs)
    log('  %s: deepcopy + onnx export %.0f ms' % (name, row['onnx_export']['median_s'] * 1e3))
    t = {k: row[k]['median_s'] for k in ('openamct', 'eager', 'onnx_export',
                                          'hooked_meta_forward')}
    row['speedup_vs_onnx'] = t['onnx_export'] / t['openamct']
    row['speedup_vs_eager'] = t['eager'] / t['openamct']
    row['call_over_hooked_forward'] = t['openamct'] / t['hooked_meta_forward']
    row['inspect_over_hooked_forward'] = (row['inspect_layers']['median_s']
                                          / t['hooked_meta_forward'])
    if 'openamct_tmpfs' in row:
        row['tmpfs_call_over_hooked_forward'] = (row['openamct_tmpfs']['median_s']
                                                 / t['hooked_meta_forward'])
    # the same ratios in CPU time: what the call computes, without the waits
    # (fsync, and other processes on a shared machine)
    c = {k: row[k]['cpu_median_s'] for k in fast}
    row['cpu_ratios_over_hooked_forward'] = {k: c[k] / c['hooked_meta_forward'] for k in fast}
    return row


def bench_scale(runs, work, log):
    rows = []
    for layers in SYNTHETIC_LAYERS:
        model, x = synthetic_model(layers)
        methods = Methods(model, x, work)
        methods.prepare_hooked_meta_forward()
        row = {'model': 'synthetic_%d' % layers, 'quantizable_layers': layers}
        row.update(timed_together({
            'openamct': (methods.openamct, methods.before_openamct),
            'inspect_layers': (methods.inspect_layers, None),
            'hooked_meta_forward': (methods.hooked_meta_forward, None)}, runs))
        row['us_per_layer'] = row['openamct']['median_s'] / layers * 1e6
        row['inspect_us_per_layer'] = row['inspect_layers']['median_s'] / layers * 1e6
        rows.append(row)
        log('  %d layers: %.0f ms (%.0f us/layer)' % (
            layers, row['openamct']['median_s'] * 1e3, row['us_per_layer']))
    t0 = time.perf_counter()
    model, x = decoder_7b()
    build_s = time.perf_counter() - t0
    methods = Methods(model, x, work)
    methods.prepare_hooked_meta_forward()
    row = {'model': 'decoder_7b', 'quantizable_layers': quantizable_layers(model),
           'parameters': sum(p.numel() for p in model.parameters()), 'build_s': build_s}
    row.update(timed_together({
        'openamct': (methods.openamct, methods.before_openamct),
        'inspect_layers': (methods.inspect_layers, None),
        'hooked_meta_forward': (methods.hooked_meta_forward, None)}, runs))
    rows.append(row)
    log('  7B decoder (%.2fB parameters, on meta): %.0f ms' % (
        row['parameters'] / 1e9, row['openamct']['median_s'] * 1e3))
    return rows


def bench_rss(log):
    rows = []
    plan = [(m, 'openamct', 2) for m in TORCHVISION_MODELS]
    plan += [(m, meth, 1) for m in TORCHVISION_MODELS for meth in ('eager', 'onnx_export')]
    plan += [('synthetic_10000', 'openamct', 2), ('decoder_7b', 'openamct', 2)]
    for name, method, calls in plan:
        res = measure_rss(method, name, calls)
        rows.append(res)
        log('  %s %s: +%.1f MB (first call)' % (name, method, res['calls'][0]['extra_peak_mb']))
    return rows


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def _rss(rss_rows, name, method, call=0, key='extra_peak_mb'):
    for r in rss_rows:
        if r['model'] == name and r['method'] == method:
            return r['calls'][call][key] if call < len(r['calls']) else None
    return None


def _process_peak(rss_rows, name):
    for r in rss_rows:
        if r['model'] == name and r['method'] == 'openamct':
            return r['process_peak_mb']
    return None


def tables(results):
    ms = lambda s: '%.1f' % (s * 1e3) if s < 10 else '%.0f' % (s * 1e3)  # noqa: E731
    rss = results['rss']
    lines = ['| model | weights | eager forward | deepcopy + ONNX export (reference) | '
             'OpenAMCT create_quant_config | speed-up vs ONNX | vs eager | '
             'hooked meta forward alone | call / hooked forward: wall, CPU | '
             'same, file on tmpfs: wall | extra peak RSS: OpenAMCT 1st call (of which code '
             'pages) / 2nd call | ONNX | eager |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in results['models']:
        first, second = (_rss(rss, r['model'], 'openamct', i) for i in (0, 1))
        code = _rss(rss, r['model'], 'openamct', 0, 'file_kept_mb')
        tmpfs = r.get('tmpfs_call_over_hooked_forward')
        lines.append('| %s | %.0f MB | %s ms | %s ms | %s ms | **%.0f×** | %.0f× | %s ms | '
                     '%.2f×, %.2f× | %s | %.1f MB = %.1f%% (%.1f MB) / %.2f MB = %.2f%% | '
                     '%.0f MB | %.0f MB |' % (
                         r['model'], r['weight_mb'], ms(r['eager']['median_s']),
                         ms(r['onnx_export']['median_s']), ms(r['openamct']['median_s']),
                         r['speedup_vs_onnx'], r['speedup_vs_eager'],
                         ms(r['hooked_meta_forward']['median_s']),
                         r['call_over_hooked_forward'],
                         r['cpu_ratios_over_hooked_forward']['openamct'],
                         '%.2f×' % tmpfs if tmpfs is not None else '-',
                         first, 100 * first / r['weight_mb'], code,
                         second, 100 * second / r['weight_mb'],
                         _rss(rss, r['model'], 'onnx_export'), _rss(rss, r['model'], 'eager')))
    lines += ['', '| model | quantizable layers | OpenAMCT create_quant_config | per layer | '
                  'inspect_layers (no file) | per layer | hooked meta forward alone | '
                  'extra peak RSS (1st call) | process peak RSS |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in results['scale']:
        n = r['quantizable_layers']
        peak = _process_peak(rss, r['model'])
        lines.append('| %s | %d | %s ms | %.0f µs | %s ms | %.0f µs | %s ms | %s | %s |' % (
            r['model'] if r['model'] != 'decoder_7b' else
            'decoder 7B on meta (%.2fB params)' % (r['parameters'] / 1e9), n,
            ms(r['openamct']['median_s']), r['openamct']['median_s'] / n * 1e6,
            ms(r['inspect_layers']['median_s']), r['inspect_layers']['median_s'] / n * 1e6,
            ms(r['hooked_meta_forward']['median_s']),
            '%.1f MB' % _rss(rss, r['model'], 'openamct') if _rss(rss, r['model'], 'openamct')
            is not None else '-', '%.0f MB' % peak if peak is not None else '-'))
    return '\n'.join(lines)


def targets(results):
    by = {r['model']: r for r in results['models'] + results['scale']}
    rss = results['rss']
    out = []

    def add(what, value, ok):
        out.append({'target': what, 'value': value, 'met': bool(ok)})

    add('ResNet-50 >= 100x faster than deepcopy + ONNX export',
        '%.0fx' % by['resnet50']['speedup_vs_onnx'], by['resnet50']['speedup_vs_onnx'] >= 100)
    add('ViT-B/16 >= 500x faster than deepcopy + ONNX export',
        '%.0fx' % by['vit_b_16']['speedup_vs_onnx'], by['vit_b_16']['speedup_vs_onnx'] >= 500)
    for name in TORCHVISION_MODELS:
        r = by[name]
        cpu = r['cpu_ratios_over_hooked_forward']
        add('%s: whole call within 2x of one hooked meta forward' % name,
            '%.2fx wall, %.2fx CPU; file on tmpfs: %s; inspect_layers (no file): %.2fx wall, '
            '%.2fx CPU' % (
                r['call_over_hooked_forward'], cpu['openamct'],
                '%.2fx wall' % r['tmpfs_call_over_hooked_forward']
                if 'tmpfs_call_over_hooked_forward' in r else '-',
                r['inspect_over_hooked_forward'], cpu['inspect_layers']),
            r['call_over_hooked_forward'] <= 2)
    t10k = by['synthetic_10000']['openamct']['median_s']
    add('10,000 layers in under 1 s', '%.2f s' % t10k, t10k < 1)
    per = [by['synthetic_%d' % n]['inspect_layers']['median_s'] / n for n in SYNTHETIC_LAYERS]
    per_call = [by['synthetic_%d' % n]['openamct']['median_s'] / n for n in SYNTHETIC_LAYERS]
    add('time per layer flat from 1,000 to 10,000 layers (within 1.5x)',
        'call: %.0f -> %.0f us/layer; inspect_layers: %.0f -> %.0f us/layer' % (
            per_call[1] * 1e6, per_call[2] * 1e6, per[1] * 1e6, per[2] * 1e6),
        per_call[2] <= 1.5 * per_call[1])
    t7b = by['decoder_7b']['openamct']['median_s']
    add('7B decoder on meta in under 1 s', '%.1f ms' % (t7b * 1e3), t7b < 1)
    peak = _process_peak(rss, 'decoder_7b')
    add('7B decoder on meta under 1 GB peak RSS (whole process, torch included)',
        '%.0f MB (the call itself: +%.1f MB)' % (peak, _rss(rss, 'decoder_7b', 'openamct')),
        peak < 1024)
    w = by['resnet50']['weight_mb']
    first, second = _rss(rss, 'resnet50', 'openamct', 0), _rss(rss, 'resnet50', 'openamct', 1)
    code = _rss(rss, 'resnet50', 'openamct', 0, 'file_kept_mb')
    add('ResNet-50 extra peak RSS under 5%% of its weights (%.0f MB)' % w,
        'first call in a fresh process %.2f MB (%.1f%%), of which %.2f MB code pages of '
        'libraries run for the first time; second call %.2f MB (%.2f%%)' % (
            first, 100 * first / w, code, second, 100 * second / w), first < 0.05 * w)
    return out


def machine():
    try:
        with open('/proc/cpuinfo') as f:
            cpu = re.search(r'model name\s*:\s*(.*)', f.read()).group(1)
    except (OSError, AttributeError):
        cpu = platform.processor()
    return {'cpu': cpu, 'cores': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
            'torch': torch.__version__, 'python': platform.python_version(),
            'load_average_at_start': os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=5,
                    help='runs of the slow methods (eager, ONNX export) and of the scale '
                         'models; the median is reported (default %(default)s, at least 5)')
    ap.add_argument('--fast-runs', type=int, default=101,
                    help='runs of the fast methods on the four models (default %(default)s)')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results.json'))
    ap.add_argument('--rss-worker', nargs=2, metavar=('METHOD', 'MODEL'), help=argparse.SUPPRESS)
    ap.add_argument('--calls', type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_worker:
        rss_worker(args.rss_worker[0], args.rss_worker[1], args.calls)
        return 0
    if args.runs < 5:
        ap.error('--runs must be at least 5')

    torch.set_num_threads(1)
    logging.getLogger('openamct').setLevel(logging.ERROR)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results = {'machine': machine(), 'runs': args.runs, 'fast_runs': args.fast_runs}
    with tempfile.TemporaryDirectory() as work:
        warm_up(work)
        log('models (median of %d runs; %d for the fast ones):' % (args.runs, args.fast_runs))
        results['models'] = [bench_model(m, args.runs, args.fast_runs, work, log)
                             for m in TORCHVISION_MODELS]
        log('scale:')
        results['scale'] = bench_scale(args.runs, work, log)
    log('peak RSS (a fresh process per measurement):')
    results['rss'] = bench_rss(log)
    results['targets'] = targets(results)
    results['machine']['load_average_at_end'] = os.getloadavg()
    results['seconds'] = time.perf_counter() - started
    results['table'] = tables(results)

    print(results['table'])
    print()
    for t in results['targets']:
        print('[%s] %s: %s' % ('met' if t['met'] else 'MISSED', t['target'], t['value']))
    print('\n%d cores, torch %s with 1 thread; load average %s at start, %s at end; %.0f s.' % (
        results['machine']['cores'], results['machine']['torch'],
        ', '.join('%.2f' % v for v in results['machine']['load_average_at_start']),
        ', '.join('%.2f' % v for v in results['machine']['load_average_at_end']),
        results['seconds']))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=2)
    print('written: %s' % args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
