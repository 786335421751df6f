"""Bias correction: quantize_model(..., bias_correction=True), an OpenAMCT
extension (off by default, so the drop-in flow's files stay the reference's).

Why: rounding a layer's weights to the grid moves the mean of each output
channel, (W_q - W) . E[x] != 0, and the shifts add up layer after layer. On
the PP-OCRv4 recognizer the weights alone cost 1-4 points of exact match
(bench/accuracy); the shift is what hurts, not the noise around it.

What: one forward of quantize_model's input_data through the calibration copy
(float activations, the weights as the calibration model has them). A forward
pre-hook on each enabled Conv/ConvTranspose/Linear measures, on the layer's
actual input, mean(op(x / s, W_q) - op(x, W)) per output channel (s: the DMQ
factor), and subtracts it from the layer's bias before the layer runs, so
every later layer is measured behind the corrected ones. The corrected bias
goes into the copy and into the modified ONNX, hence into every model
save_model writes (int32 at scale_w * scale_d, as any bias); the record is not
touched. A layer the graph gives no bias to (a Linear without bias exports as
a bare MatMul), or that the forward never calls, keeps its bias, with a log
line saying why."""

import logging

import torch
import torch.nn.functional as F

from ._layer_pass import forward_with_pre_hooks

_LOG = logging.getLogger('openamct')

_CORRECTED_TYPES = ('Conv1d', 'Conv2d', 'Conv3d', 'ConvTranspose1d', 'ConvTranspose2d', 'Linear')


def _linear_part(module, x, weight):
    """The layer's output without its bias, for a given weight."""
    name = type(module).__name__
    if name == 'Linear':
        return F.linear(x, weight)
    if name.startswith('ConvTranspose'):
        op = F.conv_transpose1d if name == 'ConvTranspose1d' else F.conv_transpose2d
        return op(x, weight, None, module.stride, module.padding, module.output_padding,
                  module.groups, module.dilation)
    return module._conv_forward(x, weight, None)


def _channel_mean(y, module):
    """Mean over every dimension but the output channel's."""
    channel = y.dim() - 1 if type(module).__name__ == 'Linear' else 1
    dims = [d for d in range(y.dim()) if d != channel]
    return y.mean(dim=dims) if dims else y


def correct_biases(work, flow, layers, float_weights, factors, args, kwargs):
    """Corrects the biases of `layers` (the config's enabled layers) in `work`
    and in `flow`'s modified ONNX. `float_weights`: each layer's fused float
    weight before DMQ and quantisation; `factors`: the DMQ factor views."""
    pending = {}
    for layer in layers:
        name = layer['name']
        module = work.get_submodule(name)
        if type(module).__name__ in _CORRECTED_TYPES and name in float_weights:
            pending[name] = module

    def make_hook(name):
        def hook(module, inputs):
            if name not in pending or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            del pending[name]
            with torch.no_grad():
                x = inputs[0].float()
                quantized = flow.deconv_fake_quant_weight(name)
                if quantized is None:
                    quantized = module.weight
                quantized = quantized.to(x.device).float()
                x_q = x / factors[name].to(x.device) if name in factors else x
                shift = _channel_mean(
                    _linear_part(module, x_q, quantized)
                    - _linear_part(module, x, float_weights[name].to(x.device).float()), module)
                old = module.bias
                dtype = module.weight.dtype
                new = (-shift if old is None else old.float() - shift).to(dtype)
                if not flow.set_bias(name, new.detach().cpu()):
                    _LOG.warning('bias correction: layer %s keeps its bias: the exported graph '
                              'has no bias for it (a Linear without bias exports as MatMul)',
                              name)
                    return
                if old is None:
                    module.bias = torch.nn.Parameter(new, requires_grad=False)
                else:
                    old.copy_(new)
        return hook

    forward_with_pre_hooks(work, [(module, make_hook(name)) for name, module in pending.items()],
                           args, kwargs)
    for name in pending:
        _LOG.warning('bias correction: layer %s keeps its bias: the forward of input_data did not '
                  'call it', name)
