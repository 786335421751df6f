"""The Python API: argument types are checked here (they are Python types);
everything else happens in the C++ core."""

import functools
import inspect
import os

import torch

from . import _C
from ._capture import CAPTURE_MODES, run_capture

_FUNC = 'create_quant_config'
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1
# The reference's words when its ONNX export fails, which is where it fails on
# inputs that are not where the model is: our message for those starts so.
_EXPORT_FAILED = 'The model cannot export to onnx, exception is: '


def _bound_like_the_reference(func):
    """The reference's check_params decorator binds the call to the signature
    with inspect.Signature.bind before anything else, so an unknown keyword or
    a missing argument is bind's TypeError ("got an unexpected keyword
    argument 'x'", "missing a required argument: 'input_data'"), not the
    words Python uses for a plain call. help() and inspect still show the
    function's own signature."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def bound_call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        return func(*bound.args, **bound.kwargs)
    return bound_call


def _type_error(name, expected, value, hint=''):
    return TypeError('Func %s argument %s must be %s%s (got %s %r)' % (
        _FUNC, name, expected, hint, type(value).__name__, value))


def _as_path(value, name, allow_none):
    """The path as the bytes the file system sees (os.fsencode), so that a
    name that is not UTF-8 (a str holding surrogate escapes) names the same
    file as it would for open()."""
    if value is None and allow_none:
        return None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str):
            if '\0' in path:
                raise ValueError('%s %r is invalid: it contains a NUL character, which no file '
                                 'name can hold.' % (name, path))
            return os.fsencode(path)
    expected = "(<class 'NoneType'>, <class 'str'>)" if allow_none else "<class 'str'>"
    hint = '; a str or os.PathLike path'
    if isinstance(value, (bytes, os.PathLike)) and isinstance(os.fspath(value), bytes):
        hint += ' (for a bytes path, pass os.fsdecode(path))'
    raise _type_error(name, expected, value, hint)


def _check_skip_layers(skip_layers):
    if skip_layers is None:
        return []
    if not isinstance(skip_layers, list):
        raise _type_error('skip_layers', "(<class 'list'>, <class 'NoneType'>)", skip_layers)
    bad = [s for s in skip_layers if not isinstance(s, str)]
    if bad:
        repeated = []
        for s in skip_layers:
            if skip_layers.count(s) > 1 and s not in repeated:
                repeated.append(s)
        if repeated:
            raise ValueError('Please delete repeated items in skip_layers, repeated items '
                             'are %r ' % repeated)
        raise ValueError('Layer %s does not exist in the graph. skip_layers holds module '
                         'names as str, not %s.' % (bad[0], type(bad[0]).__name__))
    return [_as_text_bytes(s) for s in skip_layers]


def _as_text_bytes(name):
    """A str for the core; one holding lone surrogates (no UTF-8 form) goes as
    bytes, so that it is reported as an unknown layer instead of failing the
    call's argument conversion."""
    try:
        name.encode('utf-8')
        return name
    except UnicodeEncodeError:
        return name.encode('utf-8', 'surrogatepass')


def _as_inputs(input_data):
    if isinstance(input_data, torch.Tensor):
        return (input_data,)
    if isinstance(input_data, tuple):
        return input_data
    raise RuntimeError('input data type must be tuple or torch.Tensor! Got input_data of type '
                       '%s; pass a Tensor, or a tuple with one entry per forward() argument.'
                       % type(input_data).__name__)


def _split_keywords(model, inputs):
    """(positional, keyword) arguments of forward, read from input_data as
    torch.onnx.export reads it, which the reference calls: a dict at the end
    of the tuple holds keyword arguments. Like the exporter, only the keys
    that name a parameter of forward after the positional ones are passed;
    any other key is ignored."""
    if not inputs or not isinstance(inputs[-1], dict):
        return inputs, {}
    args, named = inputs[:-1], inputs[-1]
    try:
        parameters = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):  # no signature to read: pass every key
        return args, dict(named)
    later = set(parameters[len(args):])
    return args, {key: value for key, value in named.items() if key in later}


def _batch_num_for_core(batch_num):
    """(int64 value, decimal digits) of batch_num. A Python int has no bound
    and the reference writes any positive one; one beyond int64 goes to the
    core as its digits (with the value clamped), so that no conversion error
    of the binding ever reaches the user."""
    if _INT64_MIN <= batch_num <= _INT64_MAX:
        return batch_num, ''
    return max(_INT64_MIN, min(batch_num, _INT64_MAX)), str(batch_num)


def _tensor_devices(value, out):
    if isinstance(value, torch.Tensor):
        out.add(value.device)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _tensor_devices(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensor_devices(v, out)
    return out


def _check_devices(modules, inputs):
    """input_data must be where the model is, before anything runs: a model
    that gets inputs on another device fails deep inside its forward pass (or,
    for 'meta' inputs, appears to work and fails later, at calibration). A
    model wholly on 'meta' has no data to compute with: it is only captured
    structurally, which takes inputs from any device."""
    model_devices = set()
    for _, mod in modules:  # named_modules(), walked once for the whole call
        for tensors in (mod._parameters, mod._buffers):
            for t in tensors.values():
                if t is not None:
                    model_devices.add(t.device)
    if not model_devices or all(d.type == 'meta' for d in model_devices):
        return
    stray = _tensor_devices(inputs, set()) - model_devices
    if stray:
        names = lambda devices: ', '.join(sorted(str(d) for d in devices))
        raise RuntimeError(
            _EXPORT_FAILED + 'input_data is on %s, but the model is on %s. Move input_data to '
            'the model\'s device (e.g. input_data.to(%r)) or the model to the inputs\' device.'
            % (names(stray), names(model_devices), str(min(model_devices, key=str))))


def _is_torchscript(model):
    return isinstance(model, torch.jit.ScriptModule)


def _script_inputs(inputs):
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        raise RuntimeError('input data type must be tuple or torch.Tensor! A TorchScript '
                           'model takes a Tensor or a tuple of Tensors.')
    return list(inputs)


def _check_capture(capture):
    if capture not in CAPTURE_MODES:
        raise ValueError('capture must be one of %s, got %r' % (', '.join(map(repr, CAPTURE_MODES)),
                                                              capture))


@_bound_like_the_reference
def create_quant_config(config_file, model, input_data, skip_layers=None,
                        batch_num=_C.DEFAULTS['batch_num'],
                        activation_offset=_C.DEFAULTS['activation_offset'],
                        config_defination=None, *, capture='auto'):
    """Find the quantizable layers of ``model`` and write their quantization config.

    Runs ``model`` once on ``input_data`` (a Tensor, or a tuple of Tensors for a
    forward() with several arguments, whose last entry may be a dict of
    keyword arguments, as for torch.onnx.export) without gradients and in
    eval mode, on a copy of the module tree (no weight is copied), and
    writes ``config_file`` (JSON, mode 0640, missing folders created) exactly as
    ``amct_pytorch.create_quant_config`` does.

    Args:
        config_file: path of the JSON config to write (str or os.PathLike).
        model: a ``torch.nn.Module`` (eager, or TorchScript).
        input_data: a Tensor or a tuple of inputs for ``model.forward``; a
            dict at the end of the tuple holds keyword arguments.
        skip_layers: names of layers to keep in the config with
            ``quant_enable: false``.
        batch_num: number of calibration batches, an int > 0 (default {batch_num}).
        activation_offset: asymmetric (True) or symmetric activation
            quantization (default {activation_offset}).
        config_defination: path of a simple config (quant.cfg, protobuf text).
            When given, skip_layers, batch_num and activation_offset are ignored
            and must be set in that file.
        capture: (OpenAMCT only) how the layers are found. 'auto' (default)
            runs a shadow of the model on the meta device, which costs what the
            graph costs, not what its arithmetic costs, and falls back to
            running the model on input_data when that fails; 'meta' and 'real'
            force one of the two. Both give the same config where both can
            run the model.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a bad value, a bad config, or no quantizable layer.
        openamct.ConfigParseError: a config_defination that does not parse.
        RuntimeError: input_data of the wrong type, or a forward pass that fails.
    """
    path = _as_path(config_file, 'config_file', allow_none=False)
    if not isinstance(model, torch.nn.Module):
        raise _type_error('model', "<class 'torch.nn.modules.module.Module'>", model)
    skip = _check_skip_layers(skip_layers)
    if not isinstance(batch_num, int) or isinstance(batch_num, bool):
        raise _type_error('batch_num', "<class 'int'>", batch_num)
    if not isinstance(activation_offset, bool):
        raise _type_error('activation_offset', "<class 'bool'>", activation_offset)
    cfg = _as_path(config_defination, 'config_defination', allow_none=True)
    inputs = _as_inputs(input_data)
    _check_capture(capture)
    modules = list(model.named_modules())
    _check_devices(modules, inputs)
    batch_value, batch_digits = _batch_num_for_core(batch_num)

    if _is_torchscript(model):
        _C.create_quant_config_torchscript(path, model._c, _script_inputs(inputs), skip,
                                           batch_value, batch_digits, activation_offset, cfg)
        return None
    args, kwargs = _split_keywords(model, inputs)
    _C.create_quant_config(
        path, modules, lambda hooked: run_capture(model, args, kwargs, capture, modules, hooked),
        skip, batch_value, batch_digits, activation_offset, cfg)
    return None


if create_quant_config.__doc__:  # None under python -OO
    create_quant_config.__doc__ = create_quant_config.__doc__.format(**_C.DEFAULTS)


@_bound_like_the_reference
def inspect_layers(model, input_data, *, capture='auto'):
    """Every module of a quantizable type with its verdict.

    Returns a list of dicts ``{'name', 'type', 'quantize', 'verdict', 'reason'}``
    in ``named_modules()`` order: ``quantize`` is True for the layers that
    create_quant_config lists, and ``reason`` says in one sentence why a layer
    is left out.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError('Func inspect_layers argument model must be '
                        "<class 'torch.nn.modules.module.Module'>")
    inputs = _as_inputs(input_data)
    _check_capture(capture)
    modules = list(model.named_modules())
    _check_devices(modules, inputs)
    if _is_torchscript(model):
        return _C.inspect_layers_torchscript(model._c, _script_inputs(inputs))
    args, kwargs = _split_keywords(model, inputs)
    return _C.inspect_layers(
        modules, lambda hooked: run_capture(model, args, kwargs, capture, modules, hooked))
