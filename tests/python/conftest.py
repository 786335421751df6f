import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(ROOT, 'build'))
if os.path.join(BUILD, 'python') not in sys.path:
    sys.path.insert(0, os.path.join(BUILD, 'python'))
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
