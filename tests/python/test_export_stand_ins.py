"""Models torch 1.13's opset-11 exporter refuses as they are, which
create_quant_config accepts: quantize_model exports them again with
exportable equivalents (and grad enabled) instead of failing as the
reference does -- adaptive average pooling behind the untyped marker ops
(VGG, AlexNet), AvgPool2d with divisor_override, nn.MultiheadAttention's
fused inference path. The saved models compute what the float model does,
up to quantisation."""
import logging

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import openamct as amct
from test_qdq import needs_ort, run_ort


class AdaptiveHead(nn.Module):
    """VGG's tail: conv, ReLU (a marked module), AdaptiveAvgPool2d, Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.relu(self.conv(x))), 1))


class DivisorPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AvgPool2d(2, padding=1, divisor_override=3)

    def forward(self, x):
        return self.pool(self.conv(x))


class Attention(nn.Module):
    """Self-attention as torchvision's ViT blocks call it."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 16)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        y = self.embed(x)
        y, _ = self.attention(y, y, y, need_weights=False)
        return self.head(y)


def _run(tmp_path, model, x):
    cfg, onnx_path, rec = (str(tmp_path / n) for n in ('c.json', 'm.onnx', 'r.txt'))
    amct.create_quant_config(cfg, model, x)
    cal = amct.quantize_model(cfg, onnx_path, rec, model, x)
    with torch.no_grad():
        cal(x)
    prefix = str(tmp_path / 'q')
    amct.save_model(onnx_path, rec, prefix)
    return cal, onnx_path, prefix


def _refused(caplog):
    return 'torch.onnx.export refused the model' in caplog.text


@pytest.fixture
def logs(openamct_log):
    with openamct_log(logging.INFO) as caplog:
        yield caplog


@needs_ort
def test_adaptive_pooling_behind_a_marker_exports_as_average_pooling(tmp_path, logs):
    torch.manual_seed(0)
    model = AdaptiveHead().eval()
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(Exception, match='adaptive_avg_pool2d'):
        torch.onnx.export(_marked_copy(model), x, str(tmp_path / 'plain.onnx'), opset_version=11,
                          custom_opsets={amct._C.ONNX_MARKER_DOMAIN: 1})
    cal, onnx_path, prefix = _run(tmp_path, model, x)
    assert _refused(logs) and 'avgpool' in logs.text
    ops = [n.op_type for n in onnx.load(onnx_path).graph.node]
    assert 'AveragePool' in ops
    fake = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / 'o'))[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(fake - want).max() < 0.05 * np.abs(want).max()
    # The user's model keeps its own module.
    assert type(model.avgpool) is nn.AdaptiveAvgPool2d


@needs_ort
def test_avg_pool_with_a_divisor_exports_as_pooling_times_a_factor(tmp_path, logs):
    torch.manual_seed(0)
    model = DivisorPool().eval()
    x = torch.randn(2, 3, 9, 9)
    cal, onnx_path, prefix = _run(tmp_path, model, x)
    assert _refused(logs)
    graph = onnx.load(onnx_path).graph
    assert [n.op_type for n in graph.node if n.name == 'pool'] == ['AveragePool']
    fake = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / 'o'))[0]
    with torch.no_grad():
        want = model(x).numpy()
        calibrated = cal(x).numpy()
    assert np.abs(calibrated - want).max() < 0.05 * np.abs(want).max()
    assert np.abs(fake - want).max() < 0.05 * np.abs(want).max()


def test_multi_head_attention_exports_off_its_fused_path(tmp_path, logs):
    torch.manual_seed(0)
    model = Attention().eval()
    x = torch.randn(2, 5, 6)
    cal, onnx_path, prefix = _run(tmp_path, model, x)
    assert _refused(logs) and '_native_multi_head_attention' in logs.text
    with torch.no_grad():
        assert torch.allclose(cal(x), model(x), atol=0.1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)))


@needs_ort
def test_transformer_encoder_layers_are_calibrated_off_their_fused_path(tmp_path, logs):
    # In inference the layer reads linear1.weight itself and runs one fused
    # kernel; the markers and the calibration wrappers have no weight, and a
    # fused kernel would never call them.
    torch.manual_seed(0)
    model = Encoder().eval()
    x = torch.randn(2, 5, 6)
    cal, onnx_path, prefix = _run(tmp_path, model, x)
    assert _refused(logs) and 'encoder' in logs.text
    record = open(str(tmp_path / 'r.txt')).read()
    for layer in ('embed', 'encoder.linear1', 'encoder.linear2', 'head'):
        entry = record[record.index('key: "%s"' % layer):]
        assert entry.index('scale_d') < entry.index('}')   # calibrated: its input was seen
    fake = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / 'o'))[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(fake - want).max() < 0.05 * np.abs(want).max()
    assert model.encoder.activation_relu_or_gelu == 1   # the user's model keeps its fast path


def test_a_model_the_exporter_takes_never_uses_the_stand_ins(tmp_path, logs):
    torch.manual_seed(0)
    model = DivisorPool().eval()
    model.pool = nn.AvgPool2d(2)
    _run(tmp_path, model, torch.randn(2, 3, 9, 9))
    assert not _refused(logs)


def _marked_copy(model):
    """The model with the markers the flow exports it with."""
    import copy
    from openamct import _onnx_export
    work = copy.deepcopy(model)
    _onnx_export._wrap_marked_modules(work)
    return work
