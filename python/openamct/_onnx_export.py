"""The modified ONNX's export (spec §12.1, §12.2): the part that must touch
nn.Module objects and torch.onnx.export. A copy of the model gets its
calibration weights, every module of the marked kinds is wrapped so that its
input passes through a marker op carrying the module name, and torch 1.13's
exporter runs with its initializer de-duplication turned off (D8) and without
writing the parameters (export_params=False; the parameter tensors are kept
instead). The bytes and the tensors go to the C++ passes, which add the
initializers as the exporter would have written them
(core/onnx/exported_initializers.cpp), remove the markers, name the nodes
and write the file (core/onnx/modified_pass.cpp).

Fused BatchNorm modules stay in the exported copy on purpose: the exporter
numbers its tensors as it traces, and the reference's names (e.g. the graph
output '25' of TinyNet) are those of a trace that still runs the BatchNorm.
The C++ pass removes the BatchNorm nodes afterwards."""

import contextlib
import copy
import io
import warnings

import torch

from . import _C

# Module kinds that are wrapped (§12.1): subclasses count for the first group;
# the others match by exact class name, some only when they pass the
# type-level checks of create_quant_config (CQC §3.1).
_MARKED_SUBCLASSES = (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.ReLU, torch.nn.ReLU6,
                      torch.nn.LeakyReLU, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Softmax)
_MARKED_NAMES_ALWAYS = ('BatchNorm1d', 'Conv2d', 'Linear', 'ConvTranspose2d')
_MARKED_NAMES_CHECKED = {
    'Conv1d': lambda m: m.padding_mode == 'zeros',
    'ConvTranspose1d': lambda m: m.padding_mode == 'zeros',
    'Conv3d': lambda m: (m.padding_mode == 'zeros' and isinstance(m.dilation, (list, tuple))
                         and len(m.dilation) == 3 and m.dilation[0] == 1),
    'AvgPool2d': lambda m: True,
    'LSTM': lambda m: True,
    'GRU': lambda m: True,
}


def is_marked_kind(module):
    """True when the module kind is wrapped by a marker for the export."""
    if isinstance(module, _MARKED_SUBCLASSES):
        return True
    name = type(module).__name__
    if name in _MARKED_NAMES_ALWAYS:
        return True
    check = _MARKED_NAMES_CHECKED.get(name)
    return bool(check and check(module))


class _LayerMarker(torch.autograd.Function):
    """Identity whose ONNX node carries the module name. The clone gives the
    traced graph the same values as the reference's marker, so the exporter's
    numeric names match."""

    @staticmethod
    def forward(ctx, in_data, layer):  # pylint: disable=arguments-differ
        return in_data.clone()

    @staticmethod
    def symbolic(g, in_data, layer):
        return g.op('%s::%s' % (_C.ONNX_MARKER_DOMAIN, _C.ONNX_MARKER_OP), in_data,
                    layer_s=layer)


class _MarkedModule(torch.nn.Module):
    """Holds the original as `sub_module` (the initializer names are
    `<module>.sub_module.<param>`); the first input is named `in_data`."""

    def __init__(self, sub_module, layer):
        super().__init__()
        self.sub_module = sub_module
        self.layer = layer

    def forward(self, in_data, *args, **kwargs):
        return self.sub_module(_LayerMarker.apply(in_data, self.layer), *args, **kwargs)


def _wrap_marked_modules(model):
    targets = [(name, mod) for name, mod in model.named_modules() if name and is_marked_kind(mod)]
    for name, mod in targets:
        parent_name, _, leaf = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, leaf, _MarkedModule(mod, name))


class _NoInitializerMerge:
    """torch._C as torch.onnx.utils sees it, with the pass that merges
    initializers of equal value (and equal storage) replaced by the identity,
    which also keeps the exporter's final parameters (name -> tensor, the
    values its initializers are written from) in `params`."""

    def __init__(self):
        self.params = None

    def __getattr__(self, name):
        if name == '_jit_pass_onnx_deduplicate_initializers':
            return self._keep_params
        return getattr(torch._C, name)

    def _keep_params(self, graph, params_dict, is_train):  # pylint: disable=unused-argument
        self.params = params_dict
        return params_dict


@contextlib.contextmanager
def _initializers_never_merged():
    from torch.onnx import utils as onnx_utils
    saved = onnx_utils._C
    hook = _NoInitializerMerge()
    onnx_utils._C = hook
    try:
        yield hook
    finally:
        onnx_utils._C = saved


def _install_weights(model, weights):
    with torch.no_grad():
        for name, value in weights.items():
            param = model.get_parameter(name)
            if tuple(param.shape) != tuple(value.shape):
                raise RuntimeError('calibration weight %s has shape %s, the parameter %s'
                                   % (name, tuple(value.shape), tuple(param.shape)))
            param.copy_(value)


class Exported:
    """torch.onnx.export's output for the flow: `graph`, the bytes of the model
    exported without its parameters (export_params=False), and `params`, the
    [(name, tensor)] its initializers would have been written from. The C++
    passes add the initializers from the tensors
    (core/onnx/exported_initializers.cpp says why)."""

    def __init__(self, graph, params):
        self.graph = graph
        self.params = params

    def model_bytes(self):
        """The bytes torch.onnx.export writes with the parameters."""
        return _C.onnx_exported_model(self.graph, self.params)


def export_copy(model, input_data, weights=None, input_names=None, output_names=None,
                dynamic_axes=None):
    """Exported of a marker-wrapped copy of `model` holding `weights`
    ({parameter name: tensor}, names as in model.named_parameters())."""
    work = copy.deepcopy(model)
    _install_weights(work, weights or {})
    _wrap_marked_modules(work)
    args = tuple(input_data) if isinstance(input_data, (list, tuple)) else input_data
    return export_marked(work, args, input_names, output_names, dynamic_axes)


def export_marked(model, args, input_names=None, output_names=None, dynamic_axes=None,
                  grad_enabled=False):
    """Exported of `model`, whose marked modules are wrapped already, with the
    reference's settings (§12.1: opset 11, constant folding, initializers
    never merged), the marker ops' warnings silenced. The trace runs without
    grad unless `grad_enabled` (see exportable_stand_ins)."""
    buf = io.BytesIO()
    grad = contextlib.nullcontext() if grad_enabled else torch.no_grad()
    with warnings.catch_warnings(), _initializers_never_merged() as hook, grad:
        warnings.filterwarnings('ignore', message='.*%s.*' % _C.ONNX_MARKER_OP)
        warnings.filterwarnings('ignore', message='.*_graph_op.*', category=FutureWarning)
        torch.onnx.export(model, args, buf, export_params=False, opset_version=11,
                          do_constant_folding=True, keep_initializers_as_inputs=True,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, custom_opsets={_C.ONNX_MARKER_DOMAIN: 1})
    return Exported(buf.getvalue(), list((hook.params or {}).items()))


class _DivisibleAdaptiveAvgPool(torch.nn.Module):
    """An AdaptiveAvgPool2d as the average pooling it is when each input size
    is a multiple of the output size (kernel = stride = input / output). The
    opset-11 exporter needs the input sizes for adaptive pooling, and the
    untyped marker ops in front of it hide them (VGG, AlexNet)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        size = self.pool.output_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        oh, ow = size[0] or h, size[1] or w
        if h % oh or w % ow:
            return self.pool(x)
        return torch.nn.functional.avg_pool2d(x, (h // oh, w // ow), (h // oh, w // ow))


class _AvgPoolWithDivisor(torch.nn.Module):
    """AvgPool2d(divisor_override=d) as the same pooling counting the padding,
    times kh*kw/d: every window then sums kh*kw values over d (equal when
    ceil_mode is off). ONNX's AveragePool has no divisor."""

    def __init__(self, pool):
        super().__init__()
        self.pool = torch.nn.AvgPool2d(pool.kernel_size, pool.stride, pool.padding,
                                       ceil_mode=False, count_include_pad=True)
        k = pool.kernel_size
        k = (k, k) if isinstance(k, int) else tuple(k)
        self.factor = float(k[0] * k[1]) / float(pool.divisor_override)

    def forward(self, x):
        return self.pool(x) * self.factor


def _fused_transformer_layers(model):
    """The nn.TransformerEncoderLayer modules (subclasses included): in
    inference they read their Linear children's weights and run one fused
    kernel instead of calling them. Their fast-path switch is the instance
    attribute activation_relu_or_gelu (0: never fused; the slow path calls
    self.activation as always)."""
    return [m for m in model.modules()
            if isinstance(m, torch.nn.TransformerEncoderLayer)
            and getattr(m, 'activation_relu_or_gelu', 0)]


def unfuse_transformer_layers(model, wrapped):
    """Turns the fused path off for each TransformerEncoderLayer of `model`
    that holds a module named in `wrapped` (a calibration or DMQ wrapper must
    be called, and the wrapper has no weight for the fused kernel to read).
    Returns their names."""
    names = []
    fused = {id(m) for m in _fused_transformer_layers(model)}
    for name, m in model.named_modules():
        if id(m) in fused and any(w.startswith(name + '.') for w in wrapped):
            m.activation_relu_or_gelu = 0
            names.append(name)
    return names


@contextlib.contextmanager
def exportable_stand_ins(model):
    """Swaps exportable equivalents into `model` for what torch 1.13's
    opset-11 exporter refuses (restored on exit), and yields their names:
    divisible AdaptiveAvgPool2d, AvgPool2d with divisor_override (no
    ceil_mode), TransformerEncoderLayer off its fused path (which reads the
    weights of the marker-wrapped Linear children). The caller also traces
    with grad enabled, which keeps
    nn.MultiheadAttention off its fused inference path
    (aten::_native_multi_head_attention has no ONNX export)."""
    swaps = []
    for name, mod in list(model.named_modules()):
        if not name:
            continue
        if type(mod) is torch.nn.AdaptiveAvgPool2d:
            swaps.append((name, mod, _DivisibleAdaptiveAvgPool(mod)))
        elif (type(mod) is torch.nn.AvgPool2d and mod.divisor_override and not mod.ceil_mode):
            swaps.append((name, mod, _AvgPoolWithDivisor(mod)))

    fused = [(m, m.activation_relu_or_gelu) for m in _fused_transformer_layers(model)]
    fused_names = [n for n, m in model.named_modules() if any(m is f for f, _ in fused)]

    def put(name, module):
        parent_name, _, leaf = name.rpartition('.')
        setattr(model.get_submodule(parent_name) if parent_name else model, leaf, module)
    try:
        for name, _, stand_in in swaps:
            put(name, stand_in)
        for m, _ in fused:
            m.activation_relu_or_gelu = 0
        yield [name for name, _, _ in swaps] + fused_names
    finally:
        for name, original, _ in swaps:
            put(name, original)
        for m, value in fused:
            m.activation_relu_or_gelu = value


def write_modified_onnx(path, model, input_data, weights=None, fused_batchnorms=(),
                        new_conv_biases=None, op_data_types=None, input_names=None,
                        output_names=None, dynamic_axes=None):
    """Exports and writes the modified ONNX (§12.2) to `path` (atomically, mode 0640).

    weights: {parameter name: calibration weight or fused bias} installed before export;
    fused_batchnorms: BatchNorm module names fused into their conv (§5);
    new_conv_biases: {conv module name: fused bias} for convs that had no bias;
    op_data_types: {enabled layer: 'float' or 'float16'}."""
    exported = export_copy(model, input_data, weights, input_names, output_names, dynamic_axes)
    biases = [(name, [float(v) for v in torch.as_tensor(b).reshape(-1).tolist()])
              for name, b in (new_conv_biases or {}).items()]
    _C.onnx_write_modified(exported.graph, exported.params, list(fused_batchnorms), biases,
                           list((op_data_types or {}).items()), path)


def save_quant_models(modified_path, layers, save_path):
    """Writes the deploy and fake-quant models (§12.3, §12.4); `layers` is one dict
    per record entry, in record order (keys of core/onnx/quant_params.h)."""
    return _C.onnx_save_quant_models(modified_path, list(layers), save_path)
