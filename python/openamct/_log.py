"""Logging: the C++ core reports through the Python logger ``openamct``.

Like the reference's own logger, it prints INFO and above to the console by
default; ``OPENAMCT_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) changes the
level. Applications that configure logging themselves can set
``logging.getLogger('openamct').propagate = True`` and remove the handler.
"""

import logging

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
    logger.setLevel(_C.log_level_from_environment())  # ValueError on a bad level
    _C.set_log_sink(logger)
