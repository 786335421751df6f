"""Hessian-guided weight rounding: quantize_model(..., hessian_rounding=True),
an OpenAMCT extension (off by default, so the drop-in flow's files stay the
reference's).

Why: ARQ rounds every weight to its nearest grid point, which minimises each
weight's own error but not the layer's output error; on the PP-OCRv4
recognizer the weights alone cost more than a point of exact match
(bench/accuracy). The C++ rounding (``core/algorithms/hessian_rounding.cpp``,
GPTQ's update) picks the integers with the second moment of the layer's real
input; the grid (scale_w, the record) is ARQ's.

What is here is what touches the nn.Module: one forward of quantize_model's
input_data through the calibration copy, a forward pre-hook on each enabled
Conv1d/Conv2d/Linear with ARQ weights that hands the layer's actual input
(behind the already re-rounded layers, divided by its DMQ factor) to C++ for
the Hessian, re-rounds the layer and installs the new calibration weight
before the layer runs. Layers it cannot handle keep ARQ's rounding, each with
a log line saying why."""

import logging

import torch

from . import _C
from ._layer_pass import forward_with_pre_hooks

_LOG = logging.getLogger('openamct')
_ALG = _C.algorithms
_ROUNDED_TYPES = ('Conv1d', 'Conv2d', 'Linear')


def _geometry(module):
    """(in_channels, kernel, stride, padding, dilation, groups) for the C++
    Hessian, or a reason the layer is left to ARQ."""
    name = type(module).__name__
    if name == 'Linear':
        return (module.in_features, [], [], [], [], 1), None
    if module.padding_mode != 'zeros':
        return None, "padding_mode '%s' (only 'zeros')" % module.padding_mode
    if isinstance(module.padding, str):
        return None, "padding '%s' (only explicit padding)" % module.padding
    pair = (lambda v: [1, v[0]]) if name == 'Conv1d' else list
    pad = (lambda v: [0, v[0]]) if name == 'Conv1d' else list
    return (module.in_channels, pair(module.kernel_size), pair(module.stride),
            pad(module.padding), pair(module.dilation), module.groups), None


def round_with_hessian(work, flow, layers, float_weights, factors, args, kwargs):
    """Re-rounds the enabled ARQ Conv1d/Conv2d/Linear layers of `work` (and of
    `flow`'s modified ONNX) in graph order during one forward. `float_weights`:
    each layer's fused float weight before DMQ and quantisation; `factors`:
    the DMQ factor views."""
    pending = {}
    for layer in layers:
        name = layer['name']
        module = work.get_submodule(name)
        kind = type(module).__name__
        if kind not in _ROUNDED_TYPES:
            if kind not in ('AvgPool2d',):
                _LOG.warning('hessian rounding: layer %s (%s) keeps the nearest rounding: only '
                             'Conv1d, Conv2d and Linear layers are re-rounded', name, kind)
            continue
        if layer.get('wts_algo') == 'ada_quantize':
            _LOG.warning('hessian rounding: layer %s keeps its AdaRound weights', name)
            continue
        geometry, reason = _geometry(module)
        if geometry is None:
            _LOG.warning('hessian rounding: layer %s keeps the nearest rounding: %s', name, reason)
            continue
        pending[name] = (module, geometry)

    def make_hook(name):
        def hook(module, inputs):
            if name not in pending or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            _, geometry = pending.pop(name)
            with torch.no_grad():
                x = inputs[0].detach().float().cpu()
                if name in factors:
                    x = x / factors[name].float().cpu()
                if type(module).__name__ == 'Conv1d':
                    x = x.unsqueeze(2)
                try:
                    hessian = _ALG.layer_input_hessian(x, *geometry)
                    new = flow.round_with_hessian(name, float_weights[name].cpu(), hessian,
                                                  geometry[5])
                except RuntimeError as e:   # data float32 cannot carry through the update
                    _LOG.warning('hessian rounding: layer %s keeps the nearest rounding: %s',
                                 name, e)
                    return
                module.weight.copy_(new.to(module.weight.device))
        return hook

    forward_with_pre_hooks(
        work, [(module, make_hook(name)) for name, (module, _) in pending.items()], args, kwargs)
    for name in pending:
        _LOG.warning('hessian rounding: layer %s keeps the nearest rounding: the forward of '
                     'input_data did not call it', name)
