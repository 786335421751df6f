"""The shared conformance suite (../shared/conformance): every case must match."""
import os
import subprocess
import sys

import pytest

from conftest import BUILD, SHARED

RUNNER = os.path.join(SHARED, 'conformance', 'run_conformance.py')


@pytest.mark.skipif(not os.path.exists(RUNNER),
                    reason='../shared/conformance is absent: conformance suite NOT run')
def test_shared_conformance_suite_passes():
    proc = subprocess.run(
        ['/usr/bin/python3', RUNNER, '--pythonpath', os.path.join(BUILD, 'python'),
         '--jobs', str(os.cpu_count() or 2)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    sys.stdout.write(proc.stdout)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert last.startswith('conformance: ') and last.split()[1].split('/')[0] == \
        last.split()[1].split('/')[1], last
