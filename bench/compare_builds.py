"""Is one build of OpenAMCT slower than another at create_quant_config?

    /usr/bin/python3 bench/compare_builds.py BUILD_A BUILD_B [...] [--rounds 5] [--runs 15]

For a refactor that must not slow the call (issue 9), on a machine that other
work shares: each round runs one fresh process per build, in turn, so that
load falls on every build alike; a process times `--runs` calls on
torchvision's ResNet-50 and MobileNet-V2 (1x3x224x224, 1 thread, the file on
/dev/shm, the garbage collector paused) and keeps the fastest CPU time
(`time.process_time`: what the process itself spent, without the waits that
load adds to the wall clock). The table gives, per build and model, the
median over rounds of those minima, and the ratio to the first build.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r'''
import gc, json, os, sys, tempfile, time
import torch, torchvision
torch.set_num_threads(1)
import openamct as amct
runs = int(sys.argv[1])
out = {}
for name in ('resnet50', 'mobilenet_v2'):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(tempfile.mkdtemp(dir='/dev/shm'), 'q.json')
    amct.create_quant_config(path, model, x)  # first-time costs are not measured
    best = float('inf')
    for _ in range(runs):
        os.remove(path)
        gc.collect()
        gc.disable()
        t = time.process_time()
        amct.create_quant_config(path, model, x)
        best = min(best, time.process_time() - t)
        gc.enable()
    os.remove(path)
    os.rmdir(os.path.dirname(path))
    out[name] = best
print(json.dumps(out))
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('builds', nargs='+', help='build folders (each with python/openamct)')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--runs', type=int, default=15)
    args = parser.parse_args()
    times = {b: [] for b in args.builds}
    for r in range(args.rounds):
        for b in args.builds:
            env = dict(os.environ, PYTHONPATH=os.path.join(os.path.abspath(b), 'python'),
                       OPENAMCT_LOG_LEVEL='ERROR')
            proc = subprocess.run([sys.executable, '-c', CHILD, str(args.runs)], env=env,
                                  capture_output=True, text=True, check=True)
            times[b].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print('round %d of %d done' % (r + 1, args.rounds), file=sys.stderr)
    models = list(times[args.builds[0]][0])
    print('| build | ' + ' | '.join('%s CPU ms (ratio)' % m for m in models) + ' |')
    print('|---|' + '---:|' * len(models))
    base = {m: statistics.median(t[m] for t in times[args.builds[0]]) for m in models}
    for b in args.builds:
        cells = []
        for m in models:
            med = statistics.median(t[m] for t in times[b])
            cells.append('%.2f (%.2f)' % (med * 1e3, med / base[m]))
        print('| %s | %s |' % (b, ' | '.join(cells)))


if __name__ == '__main__':
    main()
