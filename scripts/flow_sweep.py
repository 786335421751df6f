#!/usr/bin/python3
"""Every config of the create_quant_config kit through the rest of the flow.

Why: a config create_quant_config writes should be one quantize_model can
run. The kit (../shared/conformance) holds the exact configs the reference
writes for 90 models and settings; this runs each through
quantize_preprocess (DMQ configs) + quantize_model + batch_num calibration
forwards + save_model (deploy and fake-quant; fake-quant and QDQ when an
LSTM/GRU layer is quantised, whose deploy model is refused by name), one
fresh interpreter per case, and prints the cases that fail.

    /usr/bin/python3 scripts/flow_sweep.py [--pythonpath build/python] [--jobs 2]
        [--timeout 300] [--only ID]...

Cases whose config trains AdaRound (ada_quantize, 10000 Adam steps per layer
by default) take hours on a CPU, as in the reference: they print TIMEOUT
unless the timeout allows for them. Not part of the test command (about 15
minutes on 2 cores)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT = os.path.join(os.path.dirname(ROOT), 'shared', 'conformance')


def _cases():
    sys.path.insert(0, KIT)
    import cases  # pylint: disable=import-outside-toplevel
    expected = {}
    with open(os.path.join(KIT, 'expected.jsonl')) as f:
        for line in f:
            e = json.loads(line)
            expected[e['id']] = e
    out = []
    for c in cases.all_cases():
        e = expected[c['id']]
        if e['expect'] == 'file' and c['model'] != cases.NOT_MODULE:
            out.append((c, os.path.join(KIT, e['file'])))
    return cases, out


def run_one(case_id):
    """The flow on one case, in this interpreter; returns 'ok' or why not."""
    import logging
    import torch
    import openamct as amct
    logging.getLogger('openamct').setLevel(logging.ERROR)
    cases, todo = _cases()
    case, config_path = next((c, p) for c, p in todo if c['id'] == case_id)
    work = tempfile.mkdtemp(prefix='openamct_sweep_')
    cfg = os.path.join(work, 'config.json')
    with open(config_path) as f:
        text = f.read()
    with open(cfg, 'w') as f:
        f.write(text)
    config = json.loads(text)
    enabled = {k for k, v in config.items() if isinstance(v, dict) and v.get('quant_enable')}
    if not enabled:
        return 'no enabled layer'
    model = cases.make_model(case)
    data = cases.make_input_data(case)
    args = data if isinstance(data, tuple) else (data,)
    record, modified = os.path.join(work, 'record.txt'), os.path.join(work, 'modified.onnx')
    if any('dmq_balancer_param' in config[k] for k in enabled):
        preprocessed = amct.quantize_preprocess(cfg, record, model, data)
        with torch.no_grad():
            preprocessed(*args)
    calibration = amct.quantize_model(cfg, modified, record, model, data)
    with torch.no_grad():
        for _ in range(config.get('batch_num', 1)):
            calibration(*args)
    rnn = any(type(m).__name__ in ('LSTM', 'GRU') for n, m in model.named_modules()
              if n in enabled)
    amct.save_model(modified, record, os.path.join(work, 'quant'),
                    formats=('fake_quant', 'qdq') if rnn else ('deploy', 'fake_quant'))
    return 'ok'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pythonpath', default=os.path.join(ROOT, 'build', 'python'))
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--timeout', type=int, default=300)
    parser.add_argument('--only', action='append', default=[])
    parser.add_argument('--one', help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.one:
        sys.path.insert(0, a.pythonpath)
        try:
            print('RESULT ' + run_one(a.one))
        except Exception as exc:  # pylint: disable=broad-except
            print('RESULT FAIL %s: %s' % (type(exc).__name__, str(exc).split('\n')[0][:300]))
        return 0
    _, todo = _cases()
    ids = [c['id'] for c, _ in todo if not a.only or c['id'] in a.only]

    def one(case_id):
        try:
            r = subprocess.run([sys.executable, __file__, '--one', case_id, '--pythonpath',
                                a.pythonpath], capture_output=True, text=True,
                               timeout=a.timeout)
        except subprocess.TimeoutExpired:
            return case_id, 'TIMEOUT after %d s' % a.timeout
        lines = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
        if not lines:
            return case_id, 'CRASH (exit %d): %s' % (r.returncode, r.stderr[-300:])
        return case_id, lines[-1][len('RESULT '):]

    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(one, ids))
    bad = [(i, r) for i, r in results if r != 'ok']
    for i, r in bad:
        print('%s: %s' % (i, r))
    print('flow sweep: %d/%d configs ran through the flow' % (len(results) - len(bad),
                                                              len(results)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
