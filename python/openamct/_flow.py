"""quantize_preprocess, quantize_model and save_model (spec/calibration.md §2).

Python does only what must touch nn.Module objects: the deep copy, the
torch.onnx.export of the copy, swapping fused BatchNorms and wrapper modules
into the copy, and the wrappers' forwards. The config reader, the Conv+BN /
DMQ / ARQ numerics, the record file, the activation calibrators and the ONNX
passes are C++ (core/flow, core/algorithms, core/record, core/onnx)."""

import copy
import logging
import os

import torch

from . import _C
from . import _onnx_export
from ._api import _as_inputs, _split_keywords
from ._capture import run_capture
from ._adaround import run_adaround
from ._bias_correction import correct_biases
from ._hessian_rounding import round_with_hessian

_LOG = logging.getLogger('openamct')
_MODULE_TYPE = "<class 'torch.nn.modules.module.Module'>"
_MISSING = object()


# ---- argument checks (Python types) ------------------------------------------------------

def _path(func, name, value):
    """A str path (os.PathLike accepted, D3) as the bytes the file system sees."""
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str):
            if '\0' in path:
                raise ValueError('%s %r is invalid: it contains a NUL character, which no file '
                                 'name can hold.' % (name, path))
            return os.fsencode(path)
    raise TypeError("Func %s argument %s must be <class 'str'> (a str or os.PathLike path; got "
                    "%s %r)" % (func, name, type(value).__name__, value))


def _module(func, model):
    if not isinstance(model, torch.nn.Module):
        raise TypeError('Func %s argument model must be %s (got %s)'
                        % (func, _MODULE_TYPE, type(model).__name__))


def _optional(func, name, value, kind, expected):
    if value is not None and not isinstance(value, kind):
        raise TypeError('Func %s argument %s must be %s (got %s)'
                        % (func, name, expected, type(value).__name__))


def _check_export_names(input_names, output_names, dynamic_axes):
    """§2.3 step 3: what torch's exporter is given, validated first."""
    for name, names in (('input_names', input_names), ('output_names', output_names)):
        if names is not None and not all(isinstance(n, str) for n in names):
            raise RuntimeError('%s type must be list(string)' % name)
    invalid = ('dynamic_axes type is invalid,type must be dict<string, dict<python:int, string>> '
               'or dict<string, list(int)>')
    for key, axes in (dynamic_axes or {}).items():
        if not isinstance(key, str) or not isinstance(axes, (dict, list)):
            raise RuntimeError(invalid)
        if isinstance(axes, dict):
            if not all(isinstance(k, int) and isinstance(v, str) for k, v in axes.items()):
                raise RuntimeError(invalid)
            values = list(axes.keys())
        else:
            if not all(isinstance(v, int) for v in axes):
                raise RuntimeError(invalid)
            values = axes
        if any(v < 0 for v in values):
            raise RuntimeError('dynamic_axes value is invalid,The int value of axis indicators '
                               'cannot be a negative number.')


# ---- the parts that touch modules ----------------------------------------------------------

def _deep_copy(model, fallback):
    try:
        return copy.deepcopy(model)
    except Exception as exc:  # pylint: disable=broad-except
        if not fallback:
            raise
        _LOG.warning('The model cannot be deep-copied (%s); the original model is used.', exc)
        return model


def _set_module(root, name, module):
    parent_name, _, leaf = name.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, module)


def _export_in_place(model, inputs, input_names=None, output_names=None, dynamic_axes=None):
    """torch.onnx.export's output (_onnx_export.Exported) of `model` with the
    §12.1 markers wrapped in for the export only (the model is restored
    before returning)."""
    targets = [(n, m) for n, m in model.named_modules() if n and _onnx_export.is_marked_kind(m)]
    for name, mod in targets:
        _set_module(model, name, _onnx_export._MarkedModule(mod, name))
    args = inputs[0] if len(inputs) == 1 else tuple(inputs)
    was_training = model.training
    try:
        try:
            return _onnx_export.export_marked(model, args, input_names, output_names,
                                              dynamic_axes)
        except Exception as exc:  # pylint: disable=broad-except
            # Without its traceback: the exporter's frames hold Python
            # wrappers of its IR nodes and values, which outlive their graph
            # while the exception lives; torch 1.13 then meets a stale
            # wrapper at the address of a later export's graph ("Unable to
            # cast from non-held to held instance", or a crash).
            first = exc.with_traceback(None)
        # What torch 1.13's exporter refuses, retried with exportable
        # equivalents (the reference stops here); a model it exports as it is
        # never comes this way, so its files stay the reference's.
        try:
            with _onnx_export.exportable_stand_ins(model) as swapped:
                data = _onnx_export.export_marked(model, args, input_names, output_names,
                                                  dynamic_axes, grad_enabled=True)
        except Exception:  # pylint: disable=broad-except
            data = None
        if data is None:
            raise RuntimeError('The model cannot export to onnx, exception is: %s'
                               % first) from first
        _LOG.info('torch.onnx.export refused the model (%s); exported with grad enabled%s.',
                  str(first).split('\n')[0][:200],
                  ' and exportable equivalents of ' + ', '.join(swapped) if swapped else '')
        return data
    finally:
        for name, mod in targets:
            _set_module(model, name, mod)
        model.train(was_training)


def _read_config(config_path, model, inputs):
    modules = list(model.named_modules())
    args, kwargs = _split_keywords(model, inputs)
    return _C.flow_read_config(
        config_path, modules,
        lambda hooked: run_capture(model, args, kwargs, 'auto', modules, hooked))


_BATCHNORMS = ('BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d')


def _fuse_conv_bn(flow, model):
    """Conv+BN fusion (§5) of the pairs the C++ flow found in the graph; fused
    BatchNorms become identities in `model`."""
    for conv_name, bn_name in flow.fusion_candidates():
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        kind_ok = (type(bn).__name__ in _BATCHNORMS and bn.affine and bn.track_running_stats
                   and type(conv).__name__ in ('Conv1d', 'Conv2d', 'Conv3d')
                   and conv.padding_mode == 'zeros')
        fused = flow.fuse(conv_name, bn_name, conv.weight.detach(),
                          None if conv.bias is None else conv.bias.detach(),
                          bn.weight.detach(), bn.bias.detach(), bn.running_mean, bn.running_var,
                          float(bn.eps), bool(bn.training), bool(kind_ok))
        if fused is None:
            continue
        weight, bias = fused
        with torch.no_grad():
            conv.weight.copy_(weight)
            if conv.bias is None:
                conv.bias = torch.nn.Parameter(bias.to(conv.weight.dtype),
                                               requires_grad=conv.weight.requires_grad)
            else:
                conv.bias.copy_(bias)
        _set_module(model, bn_name, torch.nn.Identity())


def _groups(module):
    return int(getattr(module, 'groups', 1))


_RNN_TYPES = ('LSTM', 'GRU')


def _is_rnn(module):
    return type(module).__name__ in _RNN_TYPES


def _input_weight(module):
    """The weight the layer's input meets: an RNN's weight_ih_l0 (the one DMQ
    balances), every other layer's weight (None for AvgPool2d)."""
    if _is_rnn(module):
        return module.weight_ih_l0
    return getattr(module, 'weight', None)


def _factor_view(module, factor):
    """The DMQ factor shaped for the layer's input (§4.2 step 1)."""
    s = torch.tensor(factor, dtype=torch.float32)
    name = type(module).__name__
    if name in ('Linear',) + _RNN_TYPES:
        return s
    dims = {'Conv1d': 3, 'ConvTranspose1d': 3, 'Conv3d': 5}.get(name, 4)
    return s.reshape((1, -1) + (1,) * (dims - 2))


# The wrappers' class names are in the reference's list of AMCT modules, so a
# returned model passed back to quantize_model is refused as the reference does.
class DMQBalancer(torch.nn.Module):
    """quantize_preprocess's wrapper: each call computes the layer's DMQ
    factors from its input (C++); the output is the float layer's."""

    def __init__(self, sub_module, recorder, index):
        super().__init__()
        self.sub_module = sub_module
        self._recorder = recorder
        self._index = index

    def forward(self, x, *args, **kwargs):
        with torch.no_grad():
            self._recorder.add_batch(self._index, x.detach(),
                                     _input_weight(self.sub_module).detach(),
                                     _groups(self.sub_module))
        return self.sub_module(x, *args, **kwargs)


class MarkedQuantizableModule(torch.nn.Module):
    """quantize_model's wrapper (§4): input / DMQ factor, the layer with its
    calibration weight, and calls 1..batch_num fed to the C++ calibrator."""

    def __init__(self, sub_module, recorder, index, factor):
        super().__init__()
        self.sub_module = sub_module
        self._recorder = recorder
        self._index = index
        self._factor = None if factor is None else _factor_view(sub_module, factor)
        self._measure_output = recorder.measures_output(index)
        self._rnn = _is_rnn(sub_module)

    def forward(self, x, *args, **kwargs):
        if self._rnn:
            return self._rnn_forward(x, *args, **kwargs)
        if args or kwargs:
            raise ValueError('hx is invalid input params of op %s' % type(self.sub_module))
        if not isinstance(x, torch.Tensor):
            raise TypeError('%s takes a torch.Tensor input, got %s'
                            % (type(self.sub_module).__name__, type(x).__name__))
        with torch.no_grad():
            if self._factor is not None:
                x = (x.detach().cpu().float() / self._factor).to(x.dtype).to(x.device)
            y = self.sub_module(x)
            if self._measure_output:  # qdq_full: the output feeds a residual Add
                self._recorder.add_output(self._index, y.detach())
            self._recorder.add_batch(self._index, x.detach())
        return y

    def _rnn_forward(self, x, hx=None):
        """An LSTM / GRU layer (spec §15), called as layer(x, hx): its
        fake-quantised weight_ih_l0 / weight_hh_l0; calls 1..batch_num feed x
        (after DMQ) to the layer's calibrator and the hidden states the
        recurrence read to the hidden-state one (scale_h). Without hx the
        layer starts from zeros, as torch's does (the reference requires hx)."""
        rnn = self.sub_module
        if not isinstance(x, torch.Tensor):
            raise TypeError('%s takes a torch.Tensor input (a PackedSequence cannot be '
                            'calibrated), got %s' % (type(rnn).__name__, type(x).__name__))
        if x.dim() not in (2, 3):
            raise ValueError('%s expects a 2-D (unbatched) or 3-D input, got shape %s'
                             % (type(rnn).__name__, tuple(x.shape)))
        with torch.no_grad():
            if self._factor is not None:
                x = (x.detach().cpu().float() / self._factor).to(x.dtype).to(x.device)
            if hx is None:
                batch = () if x.dim() == 2 else (x.shape[0 if rnn.batch_first else 1],)
                zeros = torch.zeros((1,) + batch + (rnn.hidden_size,), dtype=x.dtype,
                                    device=x.device)
                hx = (zeros, zeros.clone()) if type(rnn).__name__ == 'LSTM' else zeros
            y = rnn(x, hx)
            self._recorder.add_hidden(self._index, _hidden_states(rnn, x, hx, y[0]).detach())
            self._recorder.add_batch(self._index, x.detach())
        return y


def _hidden_states(rnn, x, hx, output):
    """The hidden states that entered the recurrence (spec §15): h0, then
    every output step but the last, along the sequence axis. An unbatched
    input (2-D x) has its sequence on axis 0 and h0 (1, H). (The reference
    concatenates along axis 1 whatever batch_first says, which is right only
    for batch_first inputs.)"""
    h0 = hx[0] if isinstance(hx, tuple) else hx
    if x.dim() == 3 and rnn.batch_first:
        return torch.cat((h0.transpose(0, 1), output[:, :-1]), 1)
    return torch.cat((h0, output[:-1]), 0)


# ---- the three calls -----------------------------------------------------------------------

def quantize_preprocess(config_file, record_file, model, input_data):
    """DMQ statistics (spec §2.2): returns a copy of ``model`` (Conv+BN fused)
    whose DMQ layers compute their balance factors on every forward; the
    factors of the first complete forward are written to ``record_file``.
    ``model`` itself is never changed."""
    func = 'quantize_preprocess'
    config_path = _path(func, 'config_file', config_file)
    record_path = _path(func, 'record_file', record_file)
    _module(func, model)
    config_path = _C.flow_check_file_name('config_file', config_path)
    record_path = _C.flow_check_file_name('record_file', record_path)
    if not os.path.exists(config_path):
        raise OSError('file (%s) does not exist!' % config_path)
    inputs = _as_inputs(input_data)
    work = _deep_copy(model, fallback=False)
    settings = _read_config(config_path, work, inputs)
    dmq_layers = [l for l in settings.layers if l['dmq_balancer_param'] is not None]
    if not dmq_layers:
        _LOG.error('No dmq_balancer layer in quant config file.')
        raise RuntimeError('No dmq_balancer layer in quant config file, please check whether the '
                           'quant config file matches or whether a layer in graph that supports '
                           'dmq_balancer.')
    exported = _export_in_place(work, inputs)
    flow = _C.QuantizeModelFlow(settings, exported.graph, exported.params, record_path, False)
    _fuse_conv_bn(flow, work)
    recorder = _C.DmqRecorder([l['name'] for l in dmq_layers], [l['type'] for l in dmq_layers],
                              [float(l['dmq_balancer_param']) for l in dmq_layers], record_path)
    for index, layer in enumerate(dmq_layers):
        _set_module(work, layer['name'],
                    DMQBalancer(work.get_submodule(layer['name']), recorder, index))
    _onnx_export.unfuse_transformer_layers(work, [l['name'] for l in dmq_layers])
    _C.flow_write_empty_record(record_path)
    return work


def _op_data_type(module):
    weight = _input_weight(module)
    return 'float16' if weight is not None and weight.dtype == torch.float16 else 'float'


def quantize_model(config_file, modfied_onnx_file=_MISSING, record_file=_MISSING, model=_MISSING,
                   input_data=_MISSING, input_names=None, output_names=None, dynamic_axes=None,
                   qdq_full=False, bias_correction=False, hessian_rounding=False, **kwargs):
    """Calibration model (spec §2.3): Conv+BN fused, DMQ-balanced, ARQ
    fake-quantised weights written to ``record_file`` and ``modfied_onnx_file``;
    the returned copy's enabled layers feed their inputs of calls
    1..batch_num to IFMR/HFMG, and the record gets the activation fields once
    every layer is done. ``modified_onnx_file=`` is accepted too.

    ``ada_quantize`` layers (AdaRound, §10) get the KL scale as ``scale_w`` and
    their rounding trained here on ``input_data`` (``num_iteration`` Adam
    steps each; minibatches from torch's global generator, so seed it for a
    reproducible result); their soft weights go into the returned model and
    the modified ONNX, and save_model rounds them.

    ``qdq_full=True`` (an OpenAMCT extension, off by default) also calibrates,
    with each layer's own activation algorithm, the outputs of the layers that
    feed a residual Add, and writes them to ``<record_file>.qdq_full`` (just
    before the record, when the calibration completes); the record itself is
    unchanged. ``save_model(..., formats=('qdq_full',))`` needs that file.
    IFMR keeps those outputs' calibration data between calls too, so the
    calibration holds more memory (ResNet-50: 20 more tensors).

    ``bias_correction=True`` (an OpenAMCT extension, off by default) moves the
    output-channel mean shift that weight rounding causes into each enabled
    Conv/ConvTranspose/Linear layer's bias, measured on ``input_data`` in one
    forward (``_bias_correction.py``); the calibration model and the modified
    ONNX carry the corrected biases, the record is unchanged.

    ``hessian_rounding=True`` (an OpenAMCT extension, off by default) re-rounds
    the weights of every enabled Conv1d/Conv2d/Linear layer with ARQ weights on
    the same grid (same ``scale_w``, same record) by GPTQ's update, with the
    second moment of the layer's input measured on ``input_data`` in one
    forward (``_hessian_rounding.py``), before bias correction when both are
    on; the calibration model and the modified ONNX carry the new integers.

    LSTM/GRU layers (spec §15) are called as ``layer(x, hx)`` (``hx`` may be
    left out: zeros, as torch starts); their weights are ARQ-quantised per
    row (``scale_w``/``scale_r`` in ONNX gate order) and the hidden states
    their recurrence reads get ``scale_h``/``offset_h``."""
    func = 'quantize_model'
    if 'modified_onnx_file' in kwargs:
        if modfied_onnx_file is not _MISSING:
            raise TypeError("quantize_model() got the ONNX file twice (modfied_onnx_file and "
                            "modified_onnx_file)")
        modfied_onnx_file = kwargs.pop('modified_onnx_file')
    if kwargs:
        raise TypeError("quantize_model() got an unexpected keyword argument '%s'"
                        % next(iter(kwargs)))
    missing = [n for n, v in (('modfied_onnx_file', modfied_onnx_file),
                              ('record_file', record_file), ('model', model),
                              ('input_data', input_data)) if v is _MISSING]
    if missing:
        raise TypeError('quantize_model() missing %d required positional argument%s: %s' % (
            len(missing), 's' if len(missing) > 1 else '',
            ' and '.join("'%s'" % m for m in missing)))
    config_path = _path(func, 'config_file', config_file)
    onnx_path = _path(func, 'modfied_onnx_file', modfied_onnx_file)
    record_path = _path(func, 'record_file', record_file)
    _module(func, model)
    _optional(func, 'input_names', input_names, list, "(<class 'list'>, <class 'NoneType'>)")
    _optional(func, 'output_names', output_names, list, "(<class 'list'>, <class 'NoneType'>)")
    _optional(func, 'dynamic_axes', dynamic_axes, dict, "(<class 'dict'>, <class 'NoneType'>)")
    if not isinstance(qdq_full, bool):
        raise TypeError('Func %s argument qdq_full must be <class \'bool\'> (True to calibrate '
                        'the output scales the "qdq_full" save format needs; got %s %r)'
                        % (func, type(qdq_full).__name__, qdq_full))
    if not isinstance(bias_correction, bool):
        raise TypeError('Func %s argument bias_correction must be <class \'bool\'> (True to '
                        'correct the biases for the weight rounding; got %s %r)'
                        % (func, type(bias_correction).__name__, bias_correction))
    if not isinstance(hessian_rounding, bool):
        raise TypeError('Func %s argument hessian_rounding must be <class \'bool\'> (True to '
                        're-round the weights with the layer inputs\' Hessian; got %s %r)'
                        % (func, type(hessian_rounding).__name__, hessian_rounding))
    inputs = _as_inputs(input_data)
    work = _deep_copy(model, fallback=True)
    _check_export_names(input_names, output_names, dynamic_axes)
    return _quantize_model(config_path, onnx_path, record_path, work, inputs, input_names,
                           output_names, dynamic_axes, qdq_full=qdq_full,
                           bias_correction=bias_correction, hessian_rounding=hessian_rounding)


def _quantize_model(config_path, onnx_path, record_path, work, inputs, input_names=None,
                    output_names=None, dynamic_axes=None, float_weights=None, qdq_full=False,
                    bias_correction=False, float_biases=None, hessian_rounding=False):
    """quantize_model after its argument checks, on `work`, the copy of the
    model it turns into the calibration model. `float_weights`, when a dict,
    receives each enabled layer's float weight (Conv+BN fused, before DMQ and
    quantisation), for accuracy_based_auto_calibration; `float_biases`, when
    a dict, each enabled layer's bias before bias correction (None: no bias)."""
    settings = _read_config(os.path.realpath(config_path), work, inputs)
    exported = _export_in_place(work, inputs, input_names, output_names, dynamic_axes)
    flow = _C.QuantizeModelFlow(settings, exported.graph, exported.params, record_path, True)
    if qdq_full:
        flow.measure_outputs()
    _fuse_conv_bn(flow, work)
    layers = settings.layers
    if (bias_correction or hessian_rounding) and float_weights is None:
        float_weights = {}
    types = []
    for layer in layers:
        mod = work.get_submodule(layer['name'])
        if _is_rnn(mod):
            if float_weights is not None:
                float_weights[layer['name']] = {p: getattr(mod, p).detach().clone()
                                                for p in ('weight_ih_l0', 'weight_hh_l0')}
            calib_ih, calib_hh = flow.rnn_weight_pass(
                layer['name'], mod.weight_ih_l0.detach(), mod.weight_hh_l0.detach())
            with torch.no_grad():
                mod.weight_ih_l0.copy_(calib_ih)
                mod.weight_hh_l0.copy_(calib_hh)
            types.append((layer['name'], _op_data_type(mod)))
            continue
        weight = getattr(mod, 'weight', None)
        if float_weights is not None and weight is not None:
            float_weights[layer['name']] = weight.detach().clone()
        if float_biases is not None:
            bias = getattr(mod, 'bias', None)
            float_biases[layer['name']] = None if bias is None else bias.detach().clone()
        calib = flow.weight_pass(layer['name'], None if weight is None else weight.detach(),
                                 _groups(mod))
        if calib is not None:
            with torch.no_grad():
                mod.weight.copy_(calib)
        types.append((layer['name'], _op_data_type(mod)))
    # §2.3 step 8: AdaRound trains the ada_quantize layers' rounding on the
    # copy (their weight pass installed the float weight) and installs the
    # soft weights, in the copy and for the modified ONNX.
    factors = {}
    for layer in layers:
        factor = flow.balance_factor(layer['name'])
        if factor:
            factors[layer['name']] = _factor_view(work.get_submodule(layer['name']), factor)
    args, kwargs = _split_keywords(work, inputs)
    run_adaround(work, flow, layers, factors, args, kwargs, _set_module)
    if hessian_rounding:
        round_with_hessian(work, flow, layers, float_weights, factors, args, kwargs)
    if bias_correction:
        correct_biases(work, flow, layers, float_weights, factors, args, kwargs)
    flow.write(onnx_path, types)
    recorder = flow.recorder()
    for index, layer in enumerate(layers):
        factor = flow.balance_factor(layer['name'])
        _set_module(work, layer['name'],
                    MarkedQuantizableModule(work.get_submodule(layer['name']), recorder, index,
                                            factor or None))
    _onnx_export.unfuse_transformer_layers(work, [l['name'] for l in layers])
    return work


SAVE_FORMATS = ('deploy', 'fake_quant', 'qdq', 'qdq_full')
DEFAULT_SAVE_FORMATS = ('deploy', 'fake_quant')


def _formats(func, formats):
    """``formats`` as a list of str; its values are checked in C++ (one message for all callers)."""
    if isinstance(formats, str):
        return [formats]
    try:
        names = list(formats)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise TypeError("Func %s argument formats must be a tuple or list of str out of %s "
                        "(got %s %r)" % (func, SAVE_FORMATS, type(formats).__name__, formats))
    return names


def save_model(modfied_onnx_file=_MISSING, record_file=_MISSING, save_path=_MISSING,
               formats=DEFAULT_SAVE_FORMATS, activation_dtype='int8', **kwargs):
    """Writes ``<save_path>_deploy_model.onnx`` and
    ``<save_path>_fake_quant_model.onnx`` (spec §2.4) from the modified ONNX
    and the record alone. ``modified_onnx_file=`` is accepted too.

    ``formats`` (an OpenAMCT extension) chooses the files, out of
    ``'deploy'`` (AscendQuant/AscendDequant, for Ascend's compiler),
    ``'fake_quant'`` (float ops that simulate INT8) and ``'qdq'``:
    ``<save_path>_qdq_model.onnx``, standard ONNX at opset 13 with the same
    integers as the deploy model -- activations through QuantizeLinear /
    DequantizeLinear (``scale_d``, int8 zero point ``offset_d``), int8 weights
    with a per-output-channel DequantizeLinear, int32 biases with scale
    ``scale_w * scale_d`` -- which ONNX Runtime runs with integer kernels
    where it fuses the pattern; and ``'qdq_full'``: ``<save_path>_qdq_full_model.onnx``,
    the QDQ model plus QuantizeLinear after each layer that feeds a residual
    Add and DequantizeLinear inputs for those Adds, so that ONNX Runtime runs
    the Adds and all convolutions in int8 -- faster, but it no longer computes
    what the fake-quant model computes (the Adds' inputs are rounded too). It
    needs the output scales ``quantize_model(..., qdq_full=True)`` wrote beside
    ``record_file`` for this very record (else FileNotFoundError or
    RuntimeError). The default is the reference's two files.
    ``activation_dtype`` (``'int8'`` or ``'uint8'``) is how the QDQ and
    qdq_full models store activations: int8 with zero point ``offset_d``, or
    uint8 with ``offset_d + 128`` -- the same integers, so the same results,
    in the type ONNX Runtime's x86 kernels take (it converts int8 Q/DQ pairs
    itself only where a QuantizeLinear has one reader, which the qdq_full
    model's shared block inputs do not).
    An unknown, repeated or empty list is a ``ValueError`` naming ``formats``;
    nothing is written unless every requested model was built.
    LSTM/GRU layers (spec §15): the fake-quant and QDQ models quantise their
    input, W and R (per row) and B (split at scale_w·scale_d and
    scale_r·scale_h) and keep the hidden state float (an ONNX LSTM/GRU node
    holds its whole recurrence); ``'deploy'`` is a RuntimeError naming the
    layer (Ascend's RNN replacement is not implemented)."""
    func = 'save_model'
    if 'modified_onnx_file' in kwargs:
        if modfied_onnx_file is not _MISSING:
            raise TypeError('save_model() got the ONNX file twice (modfied_onnx_file and '
                            'modified_onnx_file)')
        modfied_onnx_file = kwargs.pop('modified_onnx_file')
    if kwargs:
        raise TypeError("save_model() got an unexpected keyword argument '%s'" % next(iter(kwargs)))
    missing = [n for n, v in (('modfied_onnx_file', modfied_onnx_file),
                              ('record_file', record_file), ('save_path', save_path))
               if v is _MISSING]
    if missing:
        raise TypeError('save_model() missing %d required positional argument%s: %s' % (
            len(missing), 's' if len(missing) > 1 else '',
            ' and '.join("'%s'" % m for m in missing)))
    if not isinstance(activation_dtype, str):
        raise TypeError("Func %s argument activation_dtype must be <class 'str'> ('int8' or "
                        "'uint8'; got %s %r)" % (func, type(activation_dtype).__name__,
                                                 activation_dtype))
    _C.save_model(_path(func, 'modfied_onnx_file', modfied_onnx_file),
                  _path(func, 'record_file', record_file), _path(func, 'save_path', save_path),
                  _formats(func, formats), activation_dtype)
