import contextlib
import logging
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


@pytest.fixture
def openamct_log(caplog):
    """`with openamct_log(level): ...` records the 'openamct' logger's lines of
    `level` and above in caplog (returned). The package's own handler keeps
    its records from propagating to caplog's, so propagation is switched on
    for the block and restored afterwards."""
    logger = logging.getLogger('openamct')

    @contextlib.contextmanager
    def capture(level=logging.INFO):
        saved = logger.propagate
        logger.propagate = True
        try:
            with caplog.at_level(level, logger='openamct'):
                yield caplog
        finally:
            logger.propagate = saved
    return capture
