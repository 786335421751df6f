"""Merges the JSON of several accuracy.py runs (e.g. --only/--methods parts run side
by side) into one file and prints its table. Rows keep the METHODS order; a row
measured by more than one run is an error (which one would be the result?).

    python3 bench/accuracy/merge.py OUT.json RUN1.json RUN2.json ...

Each run's FP32 row is kept once per task (they must agree: same data, same model).
The merged file lists its parts under "runs" with their dates, loads and wall times.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
TASK_ORDER = ['PP-OCRv4 rec', 'PP-OCR cls', 'Fashion-MNIST CNN']


def main():
    # Absolute first: importing accuracy changes to the repository root.
    out_path, *parts = [os.path.abspath(a) for a in sys.argv[1:]]
    import accuracy
    order = [m[0] for m in accuracy.METHODS]
    merged = {'merged_from': [], 'tasks': []}
    tasks = {}
    for p in parts:
        with open(p) as f:
            run = json.load(f)
        if run.get('partial') or run.get('quick'):
            raise SystemExit(f'{p}: a partial or --quick run')
        merged['merged_from'].append({'file': os.path.basename(p), 'date_utc': run['date_utc'],
                                      'machine': run['machine'], 'wall_s': run['wall_s'],
                                      'loader_vs_onnxruntime': run.get('loader_vs_onnxruntime')})
        merged.setdefault('torch', run['torch'])
        for t in run['tasks']:
            dst = tasks.setdefault(t['name'], {k: t[k] for k in ('name', 'metric', 'description')} | {'rows': {}})
            for r in t['rows']:
                if r['method'] in dst['rows']:
                    if r['method'] != 'FP32':
                        raise SystemExit(f'{t["name"]} / {r["method"]} measured twice')
                    if r[t['metric']] != dst['rows']['FP32'][t['metric']]:
                        raise SystemExit(f'{t["name"]}: FP32 differs between runs')
                    continue
                dst['rows'][r['method']] = dict(r, run=os.path.basename(p))
    for name in TASK_ORDER:
        if name in tasks:
            t = tasks[name]
            t['rows'] = sorted(t['rows'].values(), key=lambda r: order.index(r['method']))
            merged['tasks'].append(t)
    with open(out_path, 'w') as f:
        json.dump(merged, f, indent=1)
    print(accuracy.markdown_table(merged))


if __name__ == '__main__':
    main()
