"""quantize_model(..., hessian_rounding=True): the enabled Conv1d/Conv2d/Linear
layers' integers are chosen with their input's Hessian (GPTQ's update) on ARQ's
grid: same record, weights on the same scale_w grid, a lower output error than
nearest rounding where the layer's inputs are correlated, in the calibration
model and in every file save_model writes."""
import logging

import onnx
import onnx.numpy_helper
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import openamct as amct
from calibration_kit import read_record
from models import ConvBnReluLinear, seeded
from test_bias_correction import _flow


def _smooth(batch=8, seed=0, size=12):
    """Images whose neighbouring pixels and channels are correlated, as real
    images are (random noise would make every Hessian diagonal: nearest)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, size + 4, size + 4, generator=g)
    x = F.avg_pool2d(x, 5, stride=1)
    return x + 0.5 * x.mean(1, keepdim=True)


class ConvConvLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(y.mean((2, 3)))


def _flow_warnings(openamct_log, tmp_path, model, x):
    """The Hessian-rounded flow's calibration model and its 'hessian rounding' log lines."""
    with openamct_log(logging.WARNING) as caplog:
        cm, _, _ = _flow(tmp_path, model, x, 'hr', hessian_rounding=True)
    return cm, [r.getMessage() for r in caplog.records if 'hessian rounding' in r.getMessage()]


def _initializers(path):
    return {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy())
            for t in onnx.load(path).graph.initializer}


def _per_channel(scale, weight):
    return torch.tensor(scale).view(-1, *([1] * (weight.dim() - 1)))


def test_same_record_same_grid_lower_output_error(tmp_path):
    model, x = seeded(ConvConvLinear), _smooth()
    plain, plain_onnx, plain_rec = _flow(tmp_path, model, x, 'plain')
    rounded, onnx_path, rec = _flow(tmp_path, model, x, 'hr', hessian_rounding=True)
    assert open(rec, 'rb').read() == open(plain_rec, 'rb').read()
    scales = dict(read_record(rec))
    changed = 0
    for name in ('conv1', 'conv2', 'fc'):
        w = getattr(rounded, name).sub_module.weight.detach()
        levels = w / _per_channel(scales[name]['scale_w'], w)
        assert (levels - levels.round()).abs().max() < 1e-3, name        # on ARQ's grid
        assert levels.round().min() >= -128 and levels.round().max() <= 127, name
        changed += int((w != getattr(plain, name).sub_module.weight).sum())
    assert changed > 0
    # The first layer sees the float input in both flows: its output error
    # against the float layer is what the rounding decides.
    with torch.no_grad():
        want = model.conv1(x)
        near = ((plain.conv1.sub_module(x) - want) ** 2).mean()
        hess = ((rounded.conv1.sub_module(x) - want) ** 2).mean()
    assert hess < 0.8 * near, (hess, near)
    # The modified ONNX differs from the plain flow's in those weights only.
    a, b = _initializers(plain_onnx), _initializers(onnx_path)
    assert a.keys() == b.keys()
    for k in a:
        if k.endswith('.weight') or k.startswith('onnx::MatMul'):
            continue
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(b['conv1.sub_module.weight'], rounded.conv1.sub_module.weight)


def test_save_model_deploys_the_chosen_integers(tmp_path):
    model, x = seeded(ConvConvLinear), _smooth()
    cm, onnx_path, rec = _flow(tmp_path, model, x, 'hr', hessian_rounding=True)
    with torch.no_grad():
        cm(x)
    amct.save_model(onnx_path, rec, str(tmp_path / 'q'))
    fake = _initializers(str(tmp_path / 'q_fake_quant_model.onnx'))
    scales = dict(read_record(rec))
    w = cm.conv1.sub_module.weight.detach()
    want = (w / _per_channel(scales['conv1']['scale_w'], w)).round()
    got = [v for k, v in fake.items() if v.shape == w.shape]
    assert len(got) == 1 and torch.equal(got[0], want)


def test_fused_conv_bn_layer_gets_its_rounding_in_the_onnx(tmp_path):
    model = seeded(ConvBnReluLinear)
    with torch.no_grad():
        model.bn.running_var.uniform_(0.5, 2.0)
    x = _smooth(size=8)
    cm, onnx_path, _ = _flow(tmp_path, model, x, 'bn', hessian_rounding=True)
    init = _initializers(onnx_path)
    assert torch.equal(init['conv.sub_module.weight'], cm.conv.sub_module.weight.detach())


class WithDeconv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)

    def forward(self, x):
        return self.up(torch.relu(self.conv(x)))


def test_layers_left_to_nearest_rounding_say_why(tmp_path, openamct_log):
    model, x = seeded(WithDeconv), _smooth(size=8)
    plain, _, _ = _flow(tmp_path, model, x, 'plain')
    cm, lines = _flow_warnings(openamct_log, tmp_path, model, x)
    assert lines == ['hessian rounding: layer up (ConvTranspose2d) keeps the nearest rounding: '
                     'only Conv1d, Conv2d and Linear layers are re-rounded'], lines
    assert torch.equal(cm.up.sub_module.weight, plain.up.sub_module.weight)


def test_dmq_layer_is_rounded_on_its_balanced_grid(tmp_path):
    model, x = seeded(ConvConvLinear), _smooth()
    cfg_def = tmp_path / 'd.cfg'
    cfg_def.write_text('batch_num: 1\ncommon_config { dmq_balancer { migration_strength: 0.5 } }\n')
    cfg, rec = str(tmp_path / 'q.json'), str(tmp_path / 'r.txt')
    amct.create_quant_config(cfg, model, x, config_defination=str(cfg_def))
    amct.quantize_preprocess(cfg, rec, model, x)(x)
    cm = amct.quantize_model(cfg, str(tmp_path / 'm.onnx'), rec, model, x,
                             hessian_rounding=True)
    with torch.no_grad():
        out, ref = cm(x), model(x)
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()
    scales = dict(read_record(rec))
    w = cm.conv1.sub_module.weight.detach()
    levels = w / _per_channel(scales['conv1']['scale_w'], w)
    assert (levels - levels.round()).abs().max() < 1e-3


@pytest.mark.parametrize('value', [1, 'yes', None])
def test_hessian_rounding_must_be_bool(tmp_path, value):
    model, x = seeded(ConvConvLinear), _smooth()
    with pytest.raises(TypeError, match='hessian_rounding must be'):
        _flow(tmp_path, model, x, 'bad', hessian_rounding=value)
    assert not (tmp_path / 'bad.onnx').exists()


class TwoLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x) * 1e-20)


def test_a_layer_whose_hessian_overflows_keeps_nearest_rounding_and_says_why(tmp_path, openamct_log):
    # fc1's input is ~1e20: its Σ x·xᵀ overflows float32; fc2's is ordinary.
    model = seeded(TwoLinear)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(3)) * 1e20
    plain, _, _ = _flow(tmp_path, model, x, 'plain')
    cm, lines = _flow_warnings(openamct_log, tmp_path, model, x)
    assert lines == ['hessian rounding: layer fc1 keeps the nearest rounding: hessian rounding: '
                     "the layer input's Hessian overflows float32 (inputs too large to square)"]
    assert torch.equal(cm.fc1.sub_module.weight, plain.fc1.sub_module.weight)
