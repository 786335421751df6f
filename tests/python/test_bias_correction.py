"""quantize_model(..., bias_correction=True): each enabled layer's bias absorbs
the output-channel mean shift of its weight rounding, measured on input_data,
in the calibration model and in the modified ONNX (hence in every file
save_model writes); the record and the default flow are unchanged."""
import logging

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
from torch import nn

import openamct as amct
from models import ConvBnReluLinear, ConvLinear, images, seeded
from test_qdq import needs_ort, run_ort


def _data(seed=0, batch=8):
    return images(batch, seed=seed)


def _flow(tmp_path, model, x, tag, **kw):
    cfg = str(tmp_path / f'{tag}.json')
    onnx_path = str(tmp_path / f'{tag}.onnx')
    rec = str(tmp_path / f'{tag}_record.txt')
    amct.create_quant_config(cfg, model, x)
    cm = amct.quantize_model(cfg, onnx_path, rec, model, x, **kw)
    return cm, onnx_path, rec


def _initializers(path):
    return {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


class WideConv(nn.Module):
    """One conv with few levels per weight row: a visible rounding shift."""

    def __init__(self, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, bias=bias)

    def forward(self, x):
        return self.conv(x)


def test_first_layer_output_mean_equals_the_float_mean(tmp_path):
    # For the first layer the input is the float input, so the corrected
    # calibration layer has exactly the float layer's per-channel output mean.
    model = seeded(WideConv)
    x = _data() + 1.0         # a non-zero input mean: the shift (W_q - W) E[x] shows
    plain, _, _ = _flow(tmp_path, model, x, 'plain')
    corrected, _, _ = _flow(tmp_path, model, x, 'bc', bias_correction=True)
    with torch.no_grad():
        want = model(x).mean((0, 2, 3))
        before = plain.conv.sub_module(x).mean((0, 2, 3))
        after = corrected.conv.sub_module(x).mean((0, 2, 3))
    assert (before - want).abs().max() > 1e-5          # the rounding did shift the means
    assert torch.allclose(after, want, atol=1e-6, rtol=0)


def test_record_unchanged_and_only_biases_change_in_the_modified_onnx(tmp_path):
    model = seeded(ConvBnReluLinear)
    x = _data()
    _, onnx_plain, rec_plain = _flow(tmp_path, model, x, 'plain')
    _, onnx_bc, rec_bc = _flow(tmp_path, model, x, 'bc', bias_correction=True)
    assert open(rec_plain, 'rb').read() == open(rec_bc, 'rb').read()
    a, b = _initializers(onnx_plain), _initializers(onnx_bc)
    assert a.keys() == b.keys()
    changed = {k for k in a if not (a[k] == b[k]).all()}
    assert changed == {'conv.sub_module.bias', 'fc.sub_module.bias'}


def test_bias_less_conv_gets_a_bias(tmp_path):
    model = seeded(lambda: WideConv(bias=False))
    x = _data() + 1.0
    cm, onnx_path, _ = _flow(tmp_path, model, x, 'bc', bias_correction=True)
    inits = _initializers(onnx_path)
    assert 'conv.bias' in inits
    assert torch.equal(torch.from_numpy(inits['conv.bias'].copy()), cm.conv.sub_module.bias.detach())
    assert model.conv.bias is None                      # the user's model is untouched
    node = [n for n in onnx.load(onnx_path).graph.node if n.name == 'conv'][0]
    assert list(node.input)[2] == 'conv.bias'


class BiaslessLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4, bias=False)

    def forward(self, x):
        return self.fc(x)


def test_linear_without_bias_keeps_none_and_says_why(tmp_path, openamct_log):
    model = seeded(BiaslessLinear)
    x = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(1)) + 1.0
    with openamct_log(logging.WARNING) as caplog:
        cm, onnx_path, _ = _flow(tmp_path, model, x, 'bc', bias_correction=True)
    assert cm.fc.sub_module.bias is None
    assert not any(k.endswith('bias') for k in _initializers(onnx_path))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and 'bias correction: layer fc keeps its bias' in warned[0]


def _fake_quant_channel_mean_error(tmp_path, tag, bias_correction):
    """Largest per-channel error of the output mean of the fake-quant ONNX
    (INT8 weights and activations, run in ONNX Runtime) against the float model."""
    model = seeded(WideConv)
    x = _data(0, 16) + 1.0
    cm, onnx_path, rec = _flow(tmp_path, model, x, tag, bias_correction=bias_correction)
    with torch.no_grad():
        cm(x)
    prefix = str(tmp_path / tag)
    amct.save_model(onnx_path, rec, prefix)
    got = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / (tag + '_ort')))[0]
    with torch.no_grad():
        want = model(x).numpy()
    return np.abs((got - want).mean((0, 2, 3))).max()


@needs_ort
def test_fake_quant_model_carries_the_correction(tmp_path):
    plain = _fake_quant_channel_mean_error(tmp_path, 'plain', False)
    corrected = _fake_quant_channel_mean_error(tmp_path, 'bc', True)
    assert corrected < plain / 4, (corrected, plain)


@pytest.mark.parametrize('value', [1, 'yes', None])
def test_bias_correction_must_be_bool(tmp_path, value):
    model = seeded(ConvLinear)
    x = _data()
    cfg = str(tmp_path / 'q.json')
    amct.create_quant_config(cfg, model, x)
    with pytest.raises(TypeError, match='bias_correction must be'):
        amct.quantize_model(cfg, str(tmp_path / 'm.onnx'), str(tmp_path / 'r.txt'), model, x,
                            bias_correction=value)
    assert not (tmp_path / 'm.onnx').exists()
    assert not (tmp_path / 'r.txt').exists()
