"""AdaRound's optimisation (spec/calibration.md §10, quantize_model step 8).

The numeric pieces are C++ (``_C.algorithms``: the KL initial scale, which the
weight pass already recorded, α0, h(α) and the soft weight, all ATen ops so
autograd trains through them). What is here is autograd training on the
working copy of the model: the groups in graph order, the captured targets and
inputs, Adam on α, the β annealing and the NaN check.

Deliberately as the reference (K6): the whole model is in train mode while α
is optimised and in eval mode afterwards; minibatches come from the global
torch RNG (seed it with ``torch.manual_seed`` for a reproducible result); the
soft weight, not a hard-rounded one, is what the calibration model and the
modified ONNX get.

Beyond the spec, which is silent there: a DMQ layer's input is divided by its
balance factor while AdaRound runs (as the calibration model does), so the
balanced weights see balanced activations; ada_quantize on Conv1d, Conv3d and
ConvTranspose1d (which create_quant_config never writes) uses the same
per-output-channel rows as ARQ.
"""

import math

import torch
import torch.nn.functional as F

from . import _C

_ALG = _C.algorithms
_LR = 1e-3          # Adam's default learning rate, as the reference (§10)
_BATCH = 32         # samples per step, drawn with randperm
_LAYOUTS = {'Linear': 'linear', 'ConvTranspose1d': 'deconv', 'ConvTranspose2d': 'deconv'}


class _Stop(Exception):
    """Ends a capture forward once the layer of interest has run."""


def _layout(type_name):
    return _LAYOUTS.get(type_name, 'conv')


def _activation(desc):
    """The paired activation (§10) as a function of the layer's output."""
    kind = desc['kind']
    if kind == 'Relu':
        return F.relu
    if kind == 'Sigmoid':
        return torch.sigmoid
    if kind == 'Tanh':
        return torch.tanh
    if kind == 'LeakyRelu':
        alpha = desc['alpha']
        return lambda y: F.leaky_relu(y, alpha)
    if kind == 'PRelu':
        slope = torch.tensor(desc['slope'], dtype=torch.float32)
        return lambda y: F.prelu(y, slope.to(y.dtype).to(y.device))
    if kind == 'Relu6':
        return lambda y: torch.clamp(y, 0, 6)
    if kind == 'GeluErf':
        return F.gelu
    if kind == 'GeluTanh':
        return lambda y: F.gelu(y, approximate='tanh')
    return lambda y: y


class _Stage(torch.nn.Module):
    """Stands in for a layer of the working copy while AdaRound runs: divides
    a DMQ layer's input by its factor, and for an ada layer computes with the
    float weight (``soft`` False) or the soft weight of α (``soft`` True).
    ``capture`` set: records the layer's input ('input') or output ('output')
    and stops the forward."""

    def __init__(self, sub_module, factor, weight=None, scale=None, alpha=None):
        super().__init__()
        self.sub_module = sub_module
        self._factor = factor
        self.weight = weight
        self.scale = scale
        self.alpha = alpha
        self.soft = False
        self.capture = None
        self.captured = None

    def soft_weight(self, alpha=None):
        w = _ALG.ada_soft_weight(self.weight, self.scale, self.alpha if alpha is None else alpha)
        return w.to(self.weight.dtype)

    def run(self, x, alpha=None):
        """The layer on x (x before the DMQ division), soft weight of `alpha`."""
        if self._factor is not None:
            x = (x.float() / self._factor.to(x.device)).to(x.dtype)
        if self.weight is None:
            return self.sub_module(x)
        weight = self.soft_weight(alpha) if (self.soft or alpha is not None) else self.weight
        params = {'weight': weight}
        if getattr(self.sub_module, 'bias', None) is not None:
            params['bias'] = self.sub_module.bias.detach()
        return torch.nn.utils.stateless.functional_call(self.sub_module, params, (x,))

    def forward(self, x, *args, **kwargs):
        if args or kwargs:
            raise ValueError('hx is invalid input params of op %s' % type(self.sub_module))
        if self.capture == 'input':
            self.captured = x.detach()
            raise _Stop()
        y = self.run(x)
        if self.capture == 'output':
            self.captured = y.detach()
            raise _Stop()
        return y


def _capture(model, stage, what, args, kwargs):
    stage.capture, stage.captured = what, None
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except _Stop:
        pass
    finally:
        stage.capture = None
    if stage.captured is None:
        raise RuntimeError('AdaRound: layer %s was not called by the forward pass on input_data; '
                           'quantize_model needs input_data that runs it'
                           % type(stage.sub_module).__name__)
    return stage.captured


def _optimise(name, stage, act, x, y, layer):
    """Adam on α for one group (§10); returns the trained α (detached)."""
    n = int(layer['num_iteration'])
    reg = float(layer['reg_param'])
    warm = float(layer['warm_start'])
    beta_start, beta_end = (float(b) for b in layer['beta_range'])
    alpha = torch.nn.Parameter(stage.alpha.detach().clone())
    opt = torch.optim.Adam([alpha], lr=_LR)
    warm_iterations = n * warm
    for it in range(n):
        idx = torch.randperm(x.shape[0])[:_BATCH]
        out = act(stage.run(x[idx], alpha))
        err = (out - y[idx]).pow(2)
        recon = (err.sum(1) if err.dim() > 1 else err).mean()
        if it < warm_iterations:
            round_loss = 0.0
        else:
            progress = (it - warm_iterations) / (n - warm_iterations)
            beta = beta_end + 0.5 * (beta_start - beta_end) * (1 + math.cos(math.pi * progress))
            h = _ALG.ada_rectified_sigmoid(alpha)
            round_loss = reg * (1 - (2 * h - 1).abs().pow(beta)).sum()
        loss = recon + round_loss
        if not torch.isfinite(loss).all():
            raise RuntimeError("%s's activation quant loss has invalid value, inf or nan. Please "
                               "check activation value." % name)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return alpha.detach()


def run_adaround(model, flow, layers, factors, args, kwargs, set_module):
    """Optimises every ada_quantize layer of `layers` (enabled layers, config
    order) in the working copy `model`, whose weight pass has run: afterwards
    each ada layer's weight is its soft weight, which the modified ONNX gets
    too (flow.set_calibration_weight). `factors`: layer name -> DMQ factor
    view or None. The model ends in eval mode (K6)."""
    ada = [l for l in layers if l['wts_algo'] == 'ada_quantize']
    if not ada:
        return
    ada.sort(key=lambda l: flow.graph_position(l['name']))
    stages = {}
    for layer in layers:
        name = layer['name']
        module = model.get_submodule(name)
        if layer['wts_algo'] == 'ada_quantize':
            weight = module.weight.detach().clone()
            scale = _ALG.ada_scale_tensor(flow.weight_scale(name), weight,
                                          _layout(layer['type']),
                                          int(getattr(module, 'groups', 1))).to(weight.device)
            stage = _Stage(module, factors.get(name), weight, scale,
                           _ALG.ada_init_alpha(weight, scale))
        elif factors.get(name) is not None:
            stage = _Stage(module, factors[name])
        else:
            continue
        stages[name] = stage
        set_module(model, name, stage)
    ada_stages = [stages[l['name']] for l in ada]
    model.train()  # K6: the whole model, dropout and unfused BN included
    try:
        for layer, stage in zip(ada, ada_stages):
            if int(layer['num_iteration']) == 0:
                continue  # alpha stays alpha0: no data needed, skip both captures
            for s in ada_stages:
                s.soft = False
            y = _capture(model, stage, 'output', args, kwargs)
            for s in ada_stages:
                s.soft = True
            x = _capture(model, stage, 'input', args, kwargs)
            act = _activation(flow.following_activation(layer['name']))
            with torch.no_grad():
                target = act(y)
            stage.alpha = _optimise(layer['name'], stage, act, x, target, layer)
    finally:
        for name, stage in stages.items():
            set_module(model, name, stage.sub_module)
        model.eval()
    for layer, stage in zip(ada, ada_stages):
        with torch.no_grad():
            soft = stage.soft_weight()
            stage.sub_module.weight.copy_(soft)
        flow.set_calibration_weight(layer['name'], soft)
