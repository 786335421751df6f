"""Logging: the C++ core reports through the Python logger ``openamct``.

Like the reference's own logger, it prints INFO and above to the console by
default; ``OPENAMCT_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) changes the
level. Applications that configure logging themselves can set
``logging.getLogger('openamct').propagate = True`` and remove the handler.
"""

import logging
import os

LOGGER_NAME = 'openamct'


def configure_logging():
    from . import _C
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            '%(asctime)s - %(levelname)s - [OpenAMCT]: %(message)s'))
        logger.addHandler(handler)
        logger.propagate = False
    level = os.environ.get('OPENAMCT_LOG_LEVEL', 'INFO').upper()
    if level not in ('DEBUG', 'INFO', 'WARNING', 'ERROR'):
        raise ValueError(
            "OPENAMCT_LOG_LEVEL=%r is not a log level; use DEBUG, INFO, WARNING "
            "or ERROR" % level)
    logger.setLevel(level)
    _C.set_log_sink(logger)
