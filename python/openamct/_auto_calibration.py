"""accuracy_based_auto_calibration: roll the most quantisation-sensitive
layers back to float until the user's evaluator accepts the model.

The reference's interface (amct_pytorch): an evaluator object with
``calibration(model)``, ``evaluate(model)`` and ``metric_eval(original, new)
-> (bool, loss)``; ``strategy='BinarySearch'``, ``sensitivity='CosineSimilarity'``.
The calibration spec says nothing more about it, so what it does is ours:

1. evaluate a copy of the float model;
2. run the ordinary flow (quantize_model, ``calibration``, save_model) and
   evaluate the calibrated model with every enabled layer fake-quantised as
   the fake-quant ONNX computes it (activations and weights); accepted: done;
3. else rank the quantised layers by the cosine similarity between each
   layer's float output and its fake-quantised output on the same (float)
   input, over the calibration batches (lowest = most sensitive), and
   binary-search the smallest k such that the config with the k most sensitive
   layers disabled (``quant_enable: false``) is accepted.

``sensitivity='OutputError'`` (an OpenAMCT extension) ranks by what each
layer does to the model's output instead: for each layer, the mean squared
difference between the float model's outputs and the outputs of the fully
fake-quantised model with that one layer left float, over the calibration
batches (lowest = the roll-back that helps most). A layer's own cosine says
how much its quantisation changes it, not how much the network downstream
amplifies that; on the PP-OCRv4 recognizer the two rankings differ in their
first layer, and the output ranking's first one or two roll-backs recover
what the cosine ranking needs dozens for (bench/accuracy). It costs one
calibration pass per enabled layer.

Every trial runs in a scratch folder; the chosen trial's files are then put
in place: ``record_file``, ``<save_dir>_deploy_model.onnx``,
``<save_dir>_fake_quant_model.onnx``, ``<save_dir>_modified_model.onnx``,
``<save_dir>_quant_config.json`` (the final config), and two reports,
``<save_dir>_sensitivity.json`` and ``<save_dir>_auto_calibration_history.json``.
The user's ``config_file`` and ``model`` are never changed.
"""

import abc
import copy
import json
import logging
import math
import os
import shutil
import tempfile

import torch

from . import _C
from ._api import _as_inputs
from ._flow import (MarkedQuantizableModule, _check_export_names, _module, _optional, _path,
                    _quantize_model, _set_module, quantize_preprocess, save_model)

_LOG = logging.getLogger('openamct')
_FUNC = 'accuracy_based_auto_calibration'
_STRATEGIES = ('BinarySearch',)
# Each sensitivity and the key of a layer's value in <save_dir>_sensitivity.json.
_SENSITIVITY_KEYS = {'CosineSimilarity': 'cosine_similarity',
                     'OutputError': 'output_mse_with_layer_float'}
_SENSITIVITIES = tuple(_SENSITIVITY_KEYS)
_LAYOUTS = {'Linear': 'linear', 'ConvTranspose1d': 'deconv', 'ConvTranspose2d': 'deconv'}


class AutoCalibrationEvaluatorBase(abc.ABC):
    """What accuracy_based_auto_calibration needs from the user: subclass it
    and implement the three methods."""

    @abc.abstractmethod
    def calibration(self, model):
        """Run the calibration batches (``batch_num`` of the config) through
        ``model``, under ``torch.no_grad()``; the return value is ignored."""

    @abc.abstractmethod
    def evaluate(self, model):
        """Return the metric of ``model`` on the evaluation data (any value
        that ``metric_eval`` understands, e.g. a float accuracy)."""

    @abc.abstractmethod
    def metric_eval(self, original_metric, new_metric):
        """Return ``(accepted, loss)``: whether ``new_metric`` (the quantised
        model's) is close enough to ``original_metric`` (the float model's),
        and a number saying how much was lost (logged and reported)."""


def _check_evaluator(evaluator):
    missing = [m for m in ('calibration', 'evaluate', 'metric_eval')
               if not callable(getattr(evaluator, m, None))]
    if missing:
        raise TypeError('Func %s argument model_evaluator must have the methods calibration(model), '
                        'evaluate(model) and metric_eval(original_metric, new_metric); %s has no '
                        'callable %s. Subclass openamct.AutoCalibrationEvaluatorBase.'
                        % (_FUNC, type(evaluator).__name__, ', '.join(missing)))


def _metric_eval(evaluator, original, new):
    result = evaluator.metric_eval(original, new)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError('model_evaluator.metric_eval must return a tuple (bool, loss), got %r'
                        % (result,))
    return bool(result[0]), result[1]


# ---- the fake-quantised evaluation model ----------------------------------------------------

_KEEP = object()  # _FakeQuantLayer: the float output uses the module's own bias


class _FakeQuantLayer(torch.nn.Module):
    """One enabled layer as save_model's fake-quant ONNX computes it (spec
    §12.4): input / DMQ factor, quantised to integers with the record's
    scale_d/offset_d, the op on integer weights, times scale_w·scale_d, plus
    the integer bias times the same. With ``measure`` set it returns the float
    layer's output instead (the float weight on the unquantised input) and
    adds up the cosine similarity between the two outputs. ``float_biases``
    (bias-corrected trials): {layer: its bias before correction}, so that the
    float output is the float layer's."""

    def __init__(self, wrapper, float_weight, record, float_biases=None, name=None):
        super().__init__()
        self.sub_module = wrapper.sub_module
        self._factor = wrapper._factor
        self._float_weight = float_weight
        # A layer bias correction gave a bias had none: the float output has none.
        self._float_bias = float_biases.get(name, _KEEP) if float_biases else _KEEP
        self.measure = False
        self.exact = False  # the float layer's output (OutputError's leave-one-out)
        self.dot = self.float_sq = self.quant_sq = 0.0
        module = self.sub_module
        kind = type(module).__name__
        self._kind = kind
        a_bits = int(record['act_bits'])
        self._act = (float(record['scale_d']), int(record['offset_d']),
                     -2 ** (a_bits - 1), 2 ** (a_bits - 1) - 1)
        if kind == 'AvgPool2d':
            self._int_weight = None
            return
        weight = module.weight.detach().float()
        layout = _LAYOUTS.get(kind, 'conv')
        groups = int(getattr(module, 'groups', 1))
        s_w = _C.algorithms.ada_scale_tensor(record['scale_w'], weight, layout,
                                             groups).to(weight.device)
        w_bits = int(record['wts_bits'])
        self._int_weight = torch.clamp(torch.round(weight / s_w), -2 ** (w_bits - 1),
                                       2 ** (w_bits - 1) - 1)
        # float32 scale_w·scale_d, as the dequant parameter holds it.
        self._deq = torch.tensor(record['scale_w'], dtype=torch.float32) * \
            torch.tensor(self._act[0], dtype=torch.float32)
        bias = getattr(module, 'bias', None)
        self._int_bias = None if bias is None else \
            torch.round(bias.detach().float() / self._deq.to(bias.device))

    def _per_channel(self, values, y):
        """Per-output-channel values shaped for the layer output y: channels
        are the last axis of a Linear's output and axis 1 of a conv's."""
        if values.numel() == 1:
            return values.reshape(())
        if self._kind == 'Linear':
            return values
        return values.reshape([1, -1] + [1] * (y.dim() - 2))

    def _quantised(self, x):
        scale, offset, lo, hi = self._act
        xq = torch.clamp(torch.round(x * (1.0 / scale)) + offset, lo, hi) - offset
        if self._int_weight is None:  # AvgPool2d: the average of integers, times scale_d
            return self.sub_module(xq) * scale
        params = {'weight': self._int_weight.to(x.dtype)}
        if self._int_bias is not None:  # added below, in integers, before the dequant
            params['bias'] = torch.zeros_like(self._int_bias).to(x.dtype)
        y = torch.nn.utils.stateless.functional_call(self.sub_module, params, (xq,))
        if self._int_bias is not None:
            y = y + self._per_channel(self._int_bias.to(y.device), y)
        return y * self._per_channel(self._deq.to(y.device), y)

    def forward(self, x, *args, **kwargs):
        if args or kwargs:
            raise ValueError('hx is invalid input params of op %s' % type(self.sub_module))
        with torch.no_grad():
            if self.exact:
                return self._float_output(x)
            if not self.measure:
                if self._factor is not None:
                    x = (x.float() / self._factor.to(x.device)).to(x.dtype)
                return self._quantised(x)
            y_float = self._float_output(x)
            xb = x if self._factor is None else \
                (x.float() / self._factor.to(x.device)).to(x.dtype)
            y_quant = self._quantised(xb)
            f, q = y_float.double().flatten(), y_quant.double().flatten()
            self.dot += float(f @ q)
            self.float_sq += float(f @ f)
            self.quant_sq += float(q @ q)
            return y_float

    def _float_output(self, x):
        """The float layer's output: its float weight and bias, unquantised input."""
        params = {}
        if self._float_weight is not None:
            params['weight'] = self._float_weight.to(x.dtype)
        if self._float_bias is not _KEEP and getattr(self.sub_module, 'bias', None) is not None:
            params['bias'] = (torch.zeros_like(self.sub_module.bias) if self._float_bias is None
                              else self._float_bias.to(x.dtype))
        return torch.nn.utils.stateless.functional_call(self.sub_module, params, (x,)) \
            if params else self.sub_module(x)

    def cosine(self):
        if self.float_sq == 0.0 or self.quant_sq == 0.0:
            return 1.0 if self.float_sq == self.quant_sq else 0.0
        return self.dot / math.sqrt(self.float_sq * self.quant_sq)


# Torch gate block j of an RNN weight is ONNX block _TORCH_GATES[kind][j]
# (the record's rows are in ONNX order: LSTM i,o,f,g; GRU z,r,n).
_TORCH_GATES = {'LSTM': (0, 2, 3, 1), 'GRU': (1, 0, 2)}


def _rows_in_torch_order(values, kind):
    v = torch.tensor(values, dtype=torch.float32)
    h = v.numel() // len(_TORCH_GATES[kind])
    return torch.cat([v[k * h:(k + 1) * h] for k in _TORCH_GATES[kind]])


def _with_parameters(module, params):
    """A copy of `module` whose named parameters are `params` (cast to theirs)."""
    out = copy.deepcopy(module)
    with torch.no_grad():
        for name, value in params.items():
            target = getattr(out, name)
            target.copy_(value.to(target.dtype).to(target.device))
    return out


class _FakeQuantRnn(_FakeQuantLayer):
    """An LSTM / GRU layer as save_model's fake-quant ONNX computes it
    (core/onnx/rnn_weights_pass.h): the integer input, W as its integers
    times scale_w·scale_d, R as its integers times scale_r, the biases as
    their integers times scale_w·scale_d and scale_r·scale_h; the hidden
    state float. ``float_weights``: {param: float weight} of the layer."""

    def __init__(self, wrapper, float_weights, record):  # pylint: disable=super-init-not-called
        torch.nn.Module.__init__(self)
        rnn = wrapper.sub_module
        self.sub_module = rnn
        self._factor = wrapper._factor
        self.measure = False
        self.exact = False
        self.dot = self.float_sq = self.quant_sq = 0.0
        kind = type(rnn).__name__
        self._kind = kind
        a_bits, w_bits = int(record['act_bits']), int(record['wts_bits'])
        scale_d = float(record['scale_d'])
        self._act = (scale_d, int(record['offset_d']), -2 ** (a_bits - 1), 2 ** (a_bits - 1) - 1)
        s_w = _rows_in_torch_order(record['scale_w'], kind)
        s_r = _rows_in_torch_order(record['scale_r'], kind)
        deq_w = s_w * torch.tensor(scale_d, dtype=torch.float32)
        deq_r = s_r * torch.tensor(float(record['scale_h']), dtype=torch.float32)
        lo, hi = -2 ** (w_bits - 1), 2 ** (w_bits - 1) - 1

        def ints(weight, scale):
            return torch.clamp(torch.round(weight.detach().float() / scale[:, None]), lo, hi)
        params = {
            'weight_ih_l0': ints(rnn.weight_ih_l0, s_w) * deq_w[:, None],
            'weight_hh_l0': ints(rnn.weight_hh_l0, s_r) * s_r[:, None]}
        if rnn.bias:
            for name, deq in (('bias_ih_l0', deq_w), ('bias_hh_l0', deq_r)):
                b = getattr(rnn, name).detach().float()
                params[name] = torch.round(b / deq) * deq
        # Copies holding the weights: an RNN computes from its cached flat
        # weight list, which functional_call's parameter swap does not reach.
        self._quant_rnn = _with_parameters(rnn, params)
        self._float_rnn = _with_parameters(rnn, float_weights or {})

    def _quantised(self, x, hx=None):
        scale, offset, lo, hi = self._act
        xq = torch.clamp(torch.round(x * (1.0 / scale)) + offset, lo, hi) - offset
        return self._quant_rnn(xq, hx)

    def _float_output(self, x, hx=None):
        return self._float_rnn(x, hx)

    def forward(self, x, hx=None):  # pylint: disable=arguments-differ
        with torch.no_grad():
            if self.exact:
                return self._float_output(x, hx)
            xb = x if self._factor is None else \
                (x.float() / self._factor.to(x.device)).to(x.dtype)
            if not self.measure:
                return self._quantised(xb, hx)
            y_float = self._float_output(x, hx)
            y_quant = self._quantised(xb, hx)
            f, q = y_float[0].double().flatten(), y_quant[0].double().flatten()
            self.dot += float(f @ q)
            self.float_sq += float(f @ f)
            self.quant_sq += float(q @ q)
            return y_float


def _fake_quant_model(calib, float_weights, record_path, float_biases=None):
    """Turns a calibrated model into the fake-quantised evaluation model (in
    place; the calibration model is ours). Returns {layer: _FakeQuantLayer}.
    `float_biases` (bias-corrected trials): the biases the float outputs of
    the sensitivity measurement use."""
    records = _C.read_record(record_path)
    layers = {}
    for name, module in list(calib.named_modules()):
        if isinstance(module, MarkedQuantizableModule):
            if module._rnn:
                layers[name] = _FakeQuantRnn(module, float_weights.get(name), records[name])
            else:
                layers[name] = _FakeQuantLayer(module, float_weights.get(name), records[name],
                                               float_biases, name)
    for name, layer in layers.items():
        _set_module(calib, name, layer)
    calib.eval()
    return layers


# ---- the search -----------------------------------------------------------------------------

class _Trials:
    """Runs the flow for a set of rolled-back layers in a scratch folder, once."""

    def __init__(self, model, evaluator, config, input_data, names, scratch,
                 bias_correction=False, hessian_rounding=False):
        self.model, self.evaluator, self.config = model, evaluator, config
        self.bias_correction = bias_correction
        self.hessian_rounding = hessian_rounding
        self.input_data, self.inputs = input_data, _as_inputs(input_data)
        self.names, self.scratch = names, scratch
        self.results = {}
        self.warned_deploy = False

    def run(self, rolled_back):
        key = tuple(rolled_back)
        if key in self.results:
            return self.results[key]
        folder = os.path.join(self.scratch, 'trial%d' % len(self.results))
        os.makedirs(folder)
        config = copy.deepcopy(self.config)
        for name in rolled_back:
            config[name]['quant_enable'] = False
        paths = {'config': os.path.join(folder, 'quant_config.json'),
                 'record': os.path.join(folder, 'record.txt'),
                 'modified': os.path.join(folder, 'modified_model.onnx'),
                 'prefix': os.path.join(folder, 'model')}
        with open(paths['config'], 'w') as f:
            json.dump(config, f, indent=4, separators=(',', ':'))
        if any(isinstance(v, dict) and v.get('quant_enable') and 'dmq_balancer_param' in v
               for v in config.values()):
            # The DMQ flow: balance factors from quantize_preprocess and the
            # evaluator's calibration forwards (the first complete one counts).
            preprocessed = quantize_preprocess(paths['config'], paths['record'], self.model,
                                               self.input_data)
            self.evaluator.calibration(preprocessed)
        float_weights, float_biases = {}, {}
        calib = _quantize_model(os.fsencode(paths['config']), os.fsencode(paths['modified']),
                                os.fsencode(paths['record']), copy.deepcopy(self.model),
                                self.inputs, *self.names, float_weights=float_weights,
                                bias_correction=self.bias_correction, float_biases=float_biases,
                                hessian_rounding=self.hessian_rounding)
        self.evaluator.calibration(calib)
        rnns = [n for n, m in calib.named_modules()
                if isinstance(m, MarkedQuantizableModule) and m._rnn]
        if rnns and not self.warned_deploy:
            _LOG.warning('%s: no deploy model while LSTM/GRU layers are quantised (%s): '
                         'save_model cannot write their Ascend RNN replacement; the '
                         'fake-quant model is written', _FUNC, ', '.join(rnns))
            self.warned_deploy = True
        paths['formats'] = ('fake_quant',) if rnns else ('deploy', 'fake_quant')
        save_model(paths['modified'], paths['record'], paths['prefix'], formats=paths['formats'])
        layers = _fake_quant_model(calib, float_weights, paths['record'],
                                   float_biases if self.bias_correction else None)
        metric = self.evaluator.evaluate(calib)
        # Only the fully quantised trial's model is needed again (the ranking);
        # the others are dropped to keep one model copy in memory, not log2(n).
        full = not rolled_back
        result = {'rolled_back': list(rolled_back), 'paths': paths, 'metric': metric,
                  'model': calib if full else None, 'layers': layers if full else None}
        self.results[key] = result
        return result


def _install(src, dst):
    """Copies src over dst atomically (temporary file next to dst, rename)."""
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.openamct-')
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o640)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_json(path, value):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.openamct-')
    with os.fdopen(fd, 'w') as f:
        json.dump(value, f, indent=2, default=repr)
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)


def accuracy_based_auto_calibration(model, model_evaluator, config_file, record_file, save_dir,
                                    input_data, input_names=None, output_names=None,
                                    dynamic_axes=None, strategy='BinarySearch',
                                    sensitivity='CosineSimilarity', bias_correction=False,
                                    hessian_rounding=False):
    """Calibrates ``model`` with ``config_file`` and, when ``model_evaluator``
    does not accept the result, rolls the most quantisation-sensitive layers
    back to float, as few as possible, until it does.

    ``model_evaluator``: an object with ``calibration(model)`` (runs the
    calibration batches through ``model``), ``evaluate(model) -> metric`` and
    ``metric_eval(original_metric, new_metric) -> (accepted, loss)``; see
    :class:`AutoCalibrationEvaluatorBase`. Steps: the float model is
    evaluated (on a copy); the ordinary flow runs and the calibrated model,
    every enabled layer fake-quantised as in the fake-quant ONNX (activations
    and weights), is evaluated; if ``metric_eval`` refuses it, the enabled
    layers are ranked by the cosine similarity between each layer's float
    output and its fake-quantised output (same input, calibration batches;
    lowest = most sensitive) and a binary search finds the smallest number k
    of most sensitive layers whose roll-back (``quant_enable: false``) is
    accepted. Rolling back more layers is assumed never to hurt the metric.

    Writes ``record_file``, ``<save_dir>_deploy_model.onnx``,
    ``<save_dir>_fake_quant_model.onnx``, ``<save_dir>_modified_model.onnx``,
    ``<save_dir>_quant_config.json`` (the final config),
    ``<save_dir>_sensitivity.json`` and
    ``<save_dir>_auto_calibration_history.json``. ``save_dir`` is a path
    with the model name's prefix, as for save_model (``'out/resnet'``).
    When even one quantised layer is too many, only the config (every layer
    disabled) and the two reports are written and a WARNING says so.

    Returns a dict: ``accepted`` (bool), ``original_metric``,
    ``final_metric``, ``rolled_back`` (layer names, most sensitive first),
    ``sensitivity`` ({layer: cosine similarity}) and ``history`` (one entry per
    evaluated configuration: ``rolled_back``, ``metric``, ``accepted``,
    ``loss``). ``model`` and ``config_file`` are not changed.

    ``bias_correction=True`` (an OpenAMCT extension, off by default) runs
    every trial's quantize_model with ``bias_correction=True``: the evaluated
    models and the files written carry the corrected biases, and each
    layer's sensitivity compares its quantised output with the float layer's
    (its weight and bias before quantisation and correction).
    ``hessian_rounding=True`` (an OpenAMCT extension, off by default) runs
    every trial's quantize_model with ``hessian_rounding=True``.

    ``sensitivity='OutputError'`` (an OpenAMCT extension) ranks the layers by
    the model's output instead of each layer's own: for each enabled layer,
    the mean squared difference between the float model's outputs and those
    of the fully quantised model with only that layer float, over
    ``model_evaluator.calibration`` (which must call the model on the same
    inputs each time); the smallest first. ``sensitivity`` in the result and
    the report then holds those errors. One calibration pass per layer.
    """
    _module(_FUNC, model)
    _check_evaluator(model_evaluator)
    config_path = _path(_FUNC, 'config_file', config_file)
    record_path = _path(_FUNC, 'record_file', record_file)
    save_path = _path(_FUNC, 'save_dir', save_dir)
    _optional(_FUNC, 'input_names', input_names, list, "(<class 'list'>, <class 'NoneType'>)")
    _optional(_FUNC, 'output_names', output_names, list, "(<class 'list'>, <class 'NoneType'>)")
    _optional(_FUNC, 'dynamic_axes', dynamic_axes, dict, "(<class 'dict'>, <class 'NoneType'>)")
    if strategy not in _STRATEGIES:
        raise ValueError("Func %s argument strategy %r is not supported; use one of %s"
                         % (_FUNC, strategy, list(_STRATEGIES)))
    if sensitivity not in _SENSITIVITIES:
        raise ValueError("Func %s argument sensitivity %r is not supported; use one of %s"
                         % (_FUNC, sensitivity, list(_SENSITIVITIES)))
    if not isinstance(bias_correction, bool):
        raise TypeError("Func %s argument bias_correction must be <class 'bool'> (True to "
                        "correct the biases for the weight rounding in every trial; got %s %r)"
                        % (_FUNC, type(bias_correction).__name__, bias_correction))
    if not isinstance(hessian_rounding, bool):
        raise TypeError("Func %s argument hessian_rounding must be <class 'bool'> (True to "
                        "re-round the weights with the layer inputs' Hessian in every trial; got "
                        "%s %r)" % (_FUNC, type(hessian_rounding).__name__, hessian_rounding))
    _check_export_names(input_names, output_names, dynamic_axes)
    config_path = os.fsdecode(config_path)
    if not os.path.isfile(config_path):
        raise OSError('file (%s) does not exist!' % os.path.realpath(config_path))
    save_path = os.fsdecode(save_path)
    if not os.path.basename(save_path):
        raise ValueError("Func %s argument save_dir %r must end with a model name prefix "
                         "(e.g. 'out/model'), not a folder" % (_FUNC, save_path))
    with open(config_path) as f:
        config = json.load(f)
    _as_inputs(input_data)  # its RuntimeError before any work

    original = model_evaluator.evaluate(copy.deepcopy(model))
    _LOG.info('auto calibration: float model metric %r', original)
    out_dir = os.path.dirname(os.path.abspath(save_path))
    os.makedirs(out_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=out_dir, prefix='.openamct-auto-calibration-')
    try:
        trials = _Trials(model, model_evaluator, config, input_data,
                         (input_names, output_names, dynamic_axes), scratch, bias_correction,
                         hessian_rounding)
        history = []

        def judge(result):
            accepted, loss = _metric_eval(model_evaluator, original, result['metric'])
            history.append({'rolled_back': result['rolled_back'], 'metric': result['metric'],
                            'accepted': accepted, 'loss': loss})
            _LOG.info('auto calibration: %d layer(s) rolled back %s: metric %r, loss %r, %s',
                      len(result['rolled_back']), result['rolled_back'], result['metric'], loss,
                      'accepted' if accepted else 'refused')
            return accepted

        full = trials.run([])
        ranking, sens = (_rank_by_output_error if sensitivity == 'OutputError' else _rank)(
            full, model_evaluator)
        full['model'] = full['layers'] = None  # ranked: not needed any more
        chosen = full if judge(full) else None
        if chosen is None:
            lo, hi = 1, len(ranking)  # rolling back every layer: the float model
            while lo < hi:
                mid = (lo + hi) // 2
                if judge(trials.run(ranking[:mid])):
                    hi = mid
                else:
                    lo = mid + 1
            if lo < len(ranking):
                chosen = trials.run(ranking[:lo])
        final_config = copy.deepcopy(config)
        if chosen is not None:
            rolled_back = chosen['rolled_back']
            _install(chosen['paths']['record'], os.fsdecode(record_path))
            for fmt in chosen['paths']['formats']:
                suffix = fmt + '_model.onnx'
                _install(chosen['paths']['prefix'] + '_' + suffix, save_path + '_' + suffix)
            _install(chosen['paths']['modified'], save_path + '_modified_model.onnx')
            final_metric = chosen['metric']
        else:
            rolled_back = list(ranking)
            final_metric = original
            _LOG.warning('auto calibration: no configuration with a quantised layer satisfies '
                         'model_evaluator.metric_eval; every layer is rolled back to float (%s). '
                         'No model or record is written; %s_quant_config.json has every layer '
                         'disabled.', ', '.join(ranking), save_path)
        for name in rolled_back:
            final_config[name]['quant_enable'] = False
        _write_json(save_path + '_quant_config.json', final_config)
        _write_json(save_path + '_sensitivity.json',
                    [{'layer': n, _SENSITIVITY_KEYS[sensitivity]: sens[n]} for n in ranking])
        _write_json(save_path + '_auto_calibration_history.json',
                    {'original_metric': original, 'steps': history})
        if chosen is not None and rolled_back:
            _LOG.info('auto calibration: rolled back %d layer(s) to float: %s',
                      len(rolled_back), ', '.join(rolled_back))
        return {'accepted': chosen is not None, 'original_metric': original,
                'final_metric': final_metric, 'rolled_back': rolled_back,
                'sensitivity': sens, 'history': history}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _OutputRecorder(torch.nn.Module):
    """Stands in for the model in the evaluator's calibration(): keeps every
    output tensor of every call (float64, CPU), returns the outputs as they are."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.outputs = []

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        stack = [out]
        while stack:
            item = stack.pop()
            if isinstance(item, torch.Tensor):
                self.outputs.append(item.detach().double().cpu())
            elif isinstance(item, (list, tuple)):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                stack.extend(item[k] for k in sorted(item, key=str, reverse=True))
        return out


def _calibration_outputs(model, evaluator):
    recorder = _OutputRecorder(model)
    evaluator.calibration(recorder)
    return recorder.outputs


def _rank_by_output_error(full, evaluator):
    """Layers of the fully quantised trial, the one whose float roll-back
    brings the model's outputs closest to the float model's first, and those
    mean squared errors: one calibration pass with every layer float (the
    reference outputs), then one per layer with only that layer float."""
    layers = full['layers']
    for layer in layers.values():
        layer.exact = True
    try:
        reference = _calibration_outputs(full['model'], evaluator)
        for layer in layers.values():
            layer.exact = False
        if not reference:
            raise RuntimeError("Func %s: sensitivity 'OutputError' needs the model's outputs, but "
                               "model_evaluator.calibration(model) did not call the model (or it "
                               "returned no tensor)" % _FUNC)
        total = sum(r.numel() for r in reference)
        errors = {}
        for name, layer in layers.items():
            layer.exact = True
            try:
                outputs = _calibration_outputs(full['model'], evaluator)
            finally:
                layer.exact = False
            if len(outputs) != len(reference) or any(
                    o.shape != r.shape for o, r in zip(outputs, reference)):
                raise RuntimeError("Func %s: sensitivity 'OutputError' needs "
                                   "model_evaluator.calibration(model) to run the same inputs "
                                   "each time; the outputs changed in number or shape" % _FUNC)
            errors[name] = sum(float(((o - r) ** 2).sum()) for o, r in
                               zip(outputs, reference)) / max(total, 1)
    finally:
        for layer in layers.values():
            layer.exact = False
    order = list(layers)
    ranking = sorted(order, key=lambda n: (errors[n], order.index(n)))
    return ranking, errors


def _rank(full, evaluator):
    """Layers of the fully quantised trial, most sensitive first, and their
    cosine similarities: one calibration pass of the model in measure mode."""
    layers = full['layers']
    for layer in layers.values():
        layer.measure = True
        layer.dot = layer.float_sq = layer.quant_sq = 0.0
    try:
        evaluator.calibration(full['model'])
    finally:
        for layer in layers.values():
            layer.measure = False
    sens = {name: layer.cosine() for name, layer in layers.items()}
    order = list(layers)
    ranking = sorted(order, key=lambda n: (sens[n], order.index(n)))
    return ranking, sens
