"""The flow exports the graph without its parameters and adds the
initializers in C++ (core/onnx/exported_initializers.cpp): the model it
rebuilds must be, byte for byte, the one torch.onnx.export writes with its
parameters under the same settings, on models whose initializers come from
parameters, buffers, folded constants, shared weights and RNN gate slices."""

import io
import warnings

import pytest
import torch

from openamct import _C, _onnx_export


class _ConvBnLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(y.reshape(y.shape[0], -1))


class _FoldedAndShared(torch.nn.Module):
    """A weight used twice, a parameter the exporter folds (transposed and
    scaled), an int64 buffer and a bool buffer."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 6)
        self.raw = torch.nn.Parameter(torch.randn(6, 4))
        self.register_buffer('index', torch.tensor([3, 0, 1], dtype=torch.int64))
        self.register_buffer('mask', torch.tensor([True, False, True, True, False, True]))

    def forward(self, x):
        y = self.lin(self.lin(x))
        y = torch.where(self.mask, y, torch.zeros_like(y))
        y = y @ (self.raw.t() * 2.0).t()
        return torch.index_select(y, 1, self.index)


class _Recurrent(torch.nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(5, 7)
        self.fc = torch.nn.Linear(7, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)


MODELS = {
    'conv_bn_linear': lambda: (_ConvBnLinear().eval(), torch.randn(1, 3, 8, 8)),
    'folded_and_shared': lambda: (_FoldedAndShared().eval(), torch.randn(2, 6)),
    'lstm': lambda: (_Recurrent('LSTM').eval(), torch.randn(4, 1, 5)),
    'gru': lambda: (_Recurrent('GRU').eval(), torch.randn(4, 1, 5)),
    'empty_and_scalar': lambda: (_EmptyAndScalar().eval(), torch.randn(3)),
}


class _EmptyAndScalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.5))
        self.register_buffer('nothing', torch.zeros(0))

    def forward(self, x):
        return torch.cat((x * self.scale, self.nothing))


def _torch_writes_the_parameters(model, x):
    """torch.onnx.export's own bytes with the parameters, the flow's settings."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), _onnx_export._initializers_never_merged(), torch.no_grad():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, x, buf, opset_version=11, do_constant_folding=True,
                          keep_initializers_as_inputs=True,
                          custom_opsets={_C.ONNX_MARKER_DOMAIN: 1})
    return buf.getvalue()


@pytest.mark.parametrize('name', sorted(MODELS))
def test_rebuilt_model_is_the_exporters_byte_for_byte(name):
    model, x = MODELS[name]()
    _onnx_export._wrap_marked_modules(model)
    exported = _onnx_export.export_marked(model, x)
    assert exported.params, 'the model has parameters'
    assert b'raw_data' not in exported.graph
    assert exported.model_bytes() == _torch_writes_the_parameters(model, x)


def test_a_parameter_for_no_graph_input_is_a_runtime_error():
    model, x = MODELS['conv_bn_linear']()
    exported = _onnx_export.export_marked(model, x)
    with pytest.raises(RuntimeError, match="no graph input named 'stray'"):
        _C.onnx_exported_model(exported.graph, exported.params + [('stray', torch.ones(2))])


def test_a_parameter_of_a_dtype_onnx_cannot_hold_is_a_runtime_error():
    model, x = MODELS['conv_bn_linear']()
    exported = _onnx_export.export_marked(model, x)
    name = exported.params[0][0]
    params = [(name, torch.ones(2, dtype=torch.complex64))] + exported.params[1:]
    with pytest.raises(RuntimeError, match="parameter '%s' has dtype ComplexFloat" % name):
        _C.onnx_exported_model(exported.graph, params)
