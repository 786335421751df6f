"""OpenAMCT: AMCT's post-training-quantization toolchain, open and portable.

    import openamct as amct
    amct.create_quant_config('quant.json', model, torch.randn(1, 3, 224, 224))

The functions have the names and arguments of ``amct_pytorch``; the files
they write are byte-for-byte the reference's.
"""

from ._log import configure_logging as _configure_logging
from . import _C
from ._api import create_quant_config, inspect_layers
from ._check_config import check_config
from ._flow import quantize_preprocess, quantize_model, save_model
from ._auto_calibration import accuracy_based_auto_calibration, AutoCalibrationEvaluatorBase

ConfigParseError = _C.ConfigParseError
ConfigParseError.__doc__ = (
    "A simple config (quant.cfg) that does not parse. A ValueError; the "
    "message starts with the 'line:column : problem' position.")

__version__ = '0.1.0'
__all__ = ['create_quant_config', 'inspect_layers', 'check_config', 'quantize_preprocess',
           'quantize_model', 'save_model', 'accuracy_based_auto_calibration',
           'AutoCalibrationEvaluatorBase', 'ConfigParseError']

_configure_logging()
