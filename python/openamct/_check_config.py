"""openamct.check_config: validate a (hand-edited) quantization config for a
model with the reader quantize_preprocess and quantize_model use, without
calibrating anything. Argument types are checked here; the rest is C++."""

import os

import torch

from . import _C
from ._api import (_as_inputs, _check_devices, _is_torchscript, _script_inputs,
                   _split_keywords)
from ._capture import run_capture

_FUNC = 'check_config'


def _path(config_file):
    if isinstance(config_file, (str, os.PathLike)):
        path = os.fspath(config_file)
        if isinstance(path, str):
            return os.fsencode(path)
    raise TypeError("Func %s argument config_file must be <class 'str'>; a str or os.PathLike "
                    "path (got %s %r)" % (_FUNC, type(config_file).__name__, config_file))


def check_config(config_file, model, input_data):
    """Check ``config_file`` (the JSON of create_quant_config, maybe edited)
    against ``model`` as quantize_model reads it, and raise what it would raise.

    Runs ``model`` once on ``input_data`` to find its layers (the same layer
    set create_quant_config computes) and writes nothing.

    Returns:
        dict: ``{'batch_num': int, 'layers': [...]}``, one dict per layer that
        will be calibrated, in module order, with ``name``, ``type``,
        ``act_algo``, ``act_num_bits``, ``asymmetric``, ``wts_num_bits``,
        ``wts_algo`` and ``dmq_balancer_param`` (None without DMQ).

    Raises:
        TypeError: an argument of the wrong type, or a config value of the
            wrong type.
        ValueError: a bad config: repeated keys, an unknown layer or key, a
            value out of range (the message names the layer and the key).
        RuntimeError: no layer is enabled, or input_data of the wrong type.
        OSError: config_file does not exist.
    """
    path = _path(config_file)
    if not isinstance(model, torch.nn.Module):
        raise TypeError("Func %s argument model must be <class 'torch.nn.modules.module.Module'>"
                        " (got %s)" % (_FUNC, type(model).__name__))
    inputs = _as_inputs(input_data)
    modules = list(model.named_modules())
    _check_devices(modules, inputs)
    if _is_torchscript(model):
        return _C.check_config_torchscript(path, model._c, _script_inputs(inputs))
    args, kwargs = _split_keywords(model, inputs)
    return _C.check_config(
        path, modules, lambda hooked: run_capture(model, args, kwargs, 'auto', modules, hooked))
