"""AdaRound (spec/calibration.md §10): the C++ numeric pieces against an
independent plain-torch transcription of the spec, bit for bit, and
ada_quantize layers through quantize_model -> calibration -> save_model."""
import json
import math

import onnx
import onnx.numpy_helper
import pytest
import torch
from torch import nn

import openamct as amct
from openamct import _C
from calibration_kit import read_record

ALG = _C.algorithms
GAMMA, ZETA = -0.1, 1.1


# ---- the spec, transcribed with plain torch / Python floats ------------------------------

def kl_scale_spec(row):
    """§10's KL initial scale of one float32 row."""
    a = row.abs().max()
    if float(a) == 0.0:
        return 1.0
    hist = torch.histc(row, 512, -float(a), float(a)).double()
    hw = (2 * a) / 512  # float32 tensor arithmetic
    best, scale = math.inf, None

    def smooth(d):
        zeros = int((d == 0).sum())
        nonzeros = d.numel() - zeros
        eps = 0.0001 * zeros / nonzeros
        if eps < 1:
            d = torch.where(d == 0, torch.full_like(d, 0.0001), d + eps)
        return d

    for i in range(20):
        width = 512 - 2 * i
        p = hist[i:512 - i].clone()
        p[0] += hist[:i].sum()
        p[-1] += hist[512 - i:].sum()
        q = torch.zeros_like(p)
        for j in range(255):
            s, e = math.ceil(j * width / 255), math.ceil((j + 1) * width / 255)
            nz = p[s:e] != 0
            if nz.any():
                q[s:e][nz] = p[s:e].sum() / nz.sum()
        p, q = smooth(p), smooth(q)
        p, q = p / p.sum(), q / q.sum()
        kl = float((p * torch.log(p / q)).sum())
        if kl < best:
            best, scale = kl, (a - i * hw) / 128
    scale = float(scale)
    return 1.0 if scale < 2.0 ** -23 else scale


def kl_scales_spec(weight, channel_wise, deconv=False):
    w = weight.transpose(0, 1) if deconv else weight  # groups 1
    if not channel_wise:
        return [kl_scale_spec(w.reshape(-1))]
    return [kl_scale_spec(r.contiguous()) for r in w.reshape(w.shape[0], -1)]


def soft_weight_spec(w, s, alpha):
    h = torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)
    return torch.clamp(torch.floor(w / s) + h, -128, 127) * s


def alpha0_spec(w, s):
    rest = w / s - torch.floor(w / s)
    return -torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1)


# ---- numeric pieces ------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(2))
@pytest.mark.parametrize('channel_wise', [True, False])
def test_kl_scale_matches_the_spec_transcription(seed, channel_wise):
    g = torch.Generator().manual_seed(seed)
    conv = torch.randn(6, 3, 3, 3, generator=g) * (seed + 1)
    conv[2] = 0  # an all-zero output channel gets 1.0
    assert ALG.ada_kl_scale(conv, channel_wise, 'conv', 1) == kl_scales_spec(conv, channel_wise)
    linear = torch.randn(5, 40, generator=g).pow(3)  # heavy tails: clipping pays
    assert ALG.ada_kl_scale(linear, channel_wise, 'linear', 1) == \
        kl_scales_spec(linear, channel_wise)
    deconv = torch.randn(4, 3, 2, 2, generator=g)
    assert ALG.ada_kl_scale(deconv, channel_wise, 'deconv', 1) == \
        kl_scales_spec(deconv, channel_wise, deconv=True)


@pytest.mark.parametrize('seed', range(3))
def test_rounding_pieces_match_the_spec_transcription_bit_for_bit(seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(8, 4, 3, 3, generator=g)
    scales = ALG.ada_kl_scale(w, True, 'conv', 1)
    s = ALG.ada_scale_tensor(scales, w, 'conv', 1)
    assert torch.equal(s, torch.tensor(scales).reshape(8, 1, 1, 1).expand_as(w))
    a0 = ALG.ada_init_alpha(w, s)
    assert torch.equal(a0, alpha0_spec(w, s))
    alpha = torch.randn(w.shape, generator=g) * 3
    assert torch.equal(ALG.ada_rectified_sigmoid(alpha),
                       torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1))
    assert torch.equal(ALG.ada_soft_weight(w, s, alpha), soft_weight_spec(w, s, alpha))
    # At alpha0 the soft weight is the weight up to float32 rounding, clamped
    # to the INT8 grid (with the widest window A = 128 s, so +A becomes 127 s).
    soft0 = ALG.ada_soft_weight(w, s, a0)
    assert torch.allclose(soft0, torch.clamp(w / s, -128, 127) * s, atol=1e-5)


# ---- the flow ------------------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        y = self.deconv(torch.relu(self.conv(x)))
        return self.fc(y.mean((2, 3)))


ITERATIONS = 30
SIMPLE_CONFIG = '''
batch_num : 1
common_config : {
    ada_quantize : {
        num_iteration : %d
        warm_start : 0.2
        reg_param : 0.01
        beta_range_start : 20
        beta_range_end : 2
        channel_wise : true
    }
}
''' % ITERATIONS


def _data():
    return torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(11))


def _records(path):
    """{layer: {field: value or [values]}} of a record file (calibration_kit's reader)."""
    return dict(read_record(path))


def _flow(tmp_path, tag, model=None, data=None):
    torch.manual_seed(0)
    model = model or Net().eval()
    cfg_def = tmp_path / 'ada.cfg'
    cfg_def.write_text(SIMPLE_CONFIG)
    cfg = str(tmp_path / ('q%s.json' % tag))
    amct.create_quant_config(cfg, model, _data(), config_defination=str(cfg_def))
    record, modified = str(tmp_path / ('r%s.txt' % tag)), str(tmp_path / ('m%s.onnx' % tag))
    torch.manual_seed(1234)
    calib = amct.quantize_model(cfg, modified, record, model,
                                _data() if data is None else data)
    return model, cfg, record, modified, calib


def test_ada_flow_runs_and_records_the_kl_scale(tmp_path):
    model, cfg, record, modified, calib = _flow(tmp_path, 'a')
    layers = json.load(open(cfg))
    assert all(layers[n]['weight_quant_params']['wts_algo'] == 'ada_quantize'
               for n in ('conv', 'deconv', 'fc'))
    with torch.no_grad():
        calib(_data())
    amct.save_model(modified, record, str(tmp_path / 'out' / 'q'))
    rec = _records(record)
    for name, deconv, cw in (('conv', False, True), ('deconv', True, True), ('fc', False, False)):
        weight = getattr(model, name).weight.detach()
        expected = kl_scales_spec(weight, cw, deconv)
        # The record prints each float32 in its shortest form: compare as float32.
        assert torch.equal(torch.tensor(rec[name]['scale_w']), torch.tensor(expected))
        assert rec[name]['offset_w'] == [0] * len(expected)
        assert rec[name]['wts_type'] == 'INT8'
        assert 'scale_d' in rec[name]

        # The calibration model holds the soft weight: within one step of W
        # clipped to the INT8 grid (floor + h, 0 <= h <= 1), not hard-rounded.
        s = ALG.ada_scale_tensor(expected, weight, 'deconv' if deconv else 'linear'
                                 if name == 'fc' else 'conv', 1)
        soft = getattr(calib, name).sub_module.weight.detach()
        clipped = torch.clamp(weight / s, -128, 127) * s
        assert (soft - clipped).abs().le(s * 1.0001).all()
        assert not torch.equal(soft, weight)
        levels = soft / s
        assert (levels - levels.round()).abs().max() > 1e-3  # not all on the grid

    # The modified ONNX carries the soft weights; the fake-quant model integer levels.
    mod = {t.name: onnx.numpy_helper.to_array(t)
           for t in onnx.load(modified).graph.initializer}
    for name in ('conv', 'deconv', 'fc'):
        assert torch.equal(torch.from_numpy(mod[name + '.sub_module.weight'].copy()),
                           getattr(calib, name).sub_module.weight.detach()), name
    fake = onnx.load(str(tmp_path / 'out' / 'q_fake_quant_model.onnx'))
    weights = [t for t in fake.graph.initializer if t.name.endswith('.weight')]
    assert len(weights) == 3
    for t in weights:
        w = onnx.numpy_helper.to_array(t)
        assert (w == w.round()).all() and abs(w).max() <= 128, t.name


def test_ada_flow_is_deterministic_under_manual_seed(tmp_path):
    _, _, r1, m1, c1 = _flow(tmp_path, 'a')
    _, _, r2, m2, c2 = _flow(tmp_path, 'b')
    for name in ('conv', 'deconv', 'fc'):
        assert torch.equal(getattr(c1, name).sub_module.weight,
                           getattr(c2, name).sub_module.weight)
    assert open(r1, 'rb').read() == open(r2, 'rb').read()
    assert open(m1, 'rb').read() == open(m2, 'rb').read()


def test_user_model_is_unchanged(tmp_path):
    torch.manual_seed(0)
    model = Net().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _flow(tmp_path, 'a', model=model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training


def test_nan_activation_is_the_reference_runtime_error(tmp_path):
    data = _data()
    data[0, 0, 0, 0] = float('nan')
    with pytest.raises(RuntimeError, match=r"^conv's activation quant loss has invalid value, "
                                           r"inf or nan\. Please check activation value\.$"):
        _flow(tmp_path, 'a', data=data)


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.a1 = nn.Conv2d(3, 4, 3), nn.GELU()
        self.c2, self.a2 = nn.Conv2d(4, 4, 3), nn.ReLU6()
        self.c3, self.a3 = nn.Conv2d(4, 4, 1), nn.PReLU(4, init=0.3)
        self.c4, self.a4 = nn.Conv2d(4, 4, 1), nn.GELU(approximate='tanh')
        self.c5, self.a5 = nn.Conv2d(4, 4, 1), nn.RReLU(0.1, 0.3)
        self.l1, self.l2, self.l3 = nn.Linear(4, 4), nn.Linear(4, 4, bias=False), nn.Linear(4, 3)
        self.l4 = nn.Linear(3, 2)

    def forward(self, x):
        y = self.a2(self.c2(self.a1(self.c1(x))))
        y = self.a5(self.c5(self.a4(self.c4(self.a3(self.c3(y))))))
        y = torch.sigmoid(self.l1(y.mean((2, 3))))
        y = nn.functional.leaky_relu(self.l2(y), 0.2)
        y = torch.tanh(self.l3(y))
        y = self.l4(y)
        return y + y.abs()  # two consumers: no pairing


def test_activation_pairing_from_the_graph(tmp_path):
    """§10's pairing, read from the exported graph (RReLU exports as LeakyRelu
    with the mean slope, GELU as its erf / tanh subgraph)."""
    from openamct import _flow
    model, x = Activations().eval(), torch.randn(2, 3, 9, 9)
    cfg = str(tmp_path / 'q.json')
    amct.create_quant_config(cfg, model, x)
    inputs = _flow._as_inputs(x)
    work = _flow._deep_copy(model, False)
    settings = _flow._read_config(cfg.encode(), work, inputs)
    exported = _flow._export_in_place(work, inputs)
    flow = _C.QuantizeModelFlow(settings, exported.graph, exported.params,
                                str(tmp_path / 'r.txt'), True)
    kinds = {l['name']: flow.following_activation(l['name']) for l in settings.layers}
    assert {n: k['kind'] for n, k in kinds.items()} == {
        'c1': 'GeluErf', 'c2': 'Relu6', 'c3': 'PRelu', 'c4': 'GeluTanh', 'c5': 'LeakyRelu',
        'l1': 'Sigmoid', 'l2': 'LeakyRelu', 'l3': 'Tanh', 'l4': ''}
    assert kinds['c3']['slope'] == pytest.approx([0.3] * 4)
    assert kinds['c5']['alpha'] == pytest.approx(0.2)
    assert kinds['l2']['alpha'] == pytest.approx(0.2)
    positions = [flow.graph_position(l['name']) for l in settings.layers]
    assert positions == sorted(positions) and positions[0] >= 0


class ConvBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_ada_with_conv_bn_fusion_and_dmq(tmp_path):
    """The KL scale is taken on the fused, DMQ-multiplied weight, and the
    calibration model (input / s, soft weight of W·s) still computes the float
    model's function up to the weight rounding."""
    torch.manual_seed(0)
    model = ConvBn().eval()
    with torch.no_grad():
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.running_mean.uniform_(-0.5, 0.5)
    cfg_def = tmp_path / 'a.cfg'
    cfg_def.write_text('batch_num: 1\ncommon_config { ada_quantize { num_iteration: 10 } '
                       'dmq_balancer { migration_strength: 0.5 } }\n')
    cfg, record = str(tmp_path / 'q.json'), str(tmp_path / 'r.txt')
    x = _data()
    amct.create_quant_config(cfg, model, x, config_defination=str(cfg_def))
    amct.quantize_preprocess(cfg, record, model, x)(x)
    torch.manual_seed(0)
    calib = amct.quantize_model(cfg, str(tmp_path / 'm.onnx'), record, model, x)
    with torch.no_grad():
        out, ref = calib(x), model(x)
    assert (out - ref).abs().max() < 0.02 * ref.abs().max()
    rec = _records(record)
    assert 'tensor_balance_factor' in rec['conv'] and len(rec['conv']['scale_w']) == 8
    # The fused layer's soft weight, not its fused float weight, reaches the
    # modified ONNX (the flow keeps both; the weight pass's is the one written).
    mod = {t.name: onnx.numpy_helper.to_array(t)
           for t in onnx.load(str(tmp_path / 'm.onnx')).graph.initializer}
    assert torch.equal(torch.from_numpy(mod['conv.sub_module.weight'].copy()),
                       calib.conv.sub_module.weight.detach())
    amct.save_model(str(tmp_path / 'm.onnx'), record, str(tmp_path / 'q'))


def test_missing_ada_keys_get_the_core_defaults(tmp_path):
    """A hand-edited layer with only wts_algo: ada_quantize gets
    include/openamct/defaults.h's values (through _C.ADA_DEFAULTS)."""
    from openamct import _flow
    torch.manual_seed(0)
    model, x = Net().eval(), _data()
    cfg = str(tmp_path / 'q.json')
    amct.create_quant_config(cfg, model, x)
    edited = json.load(open(cfg))
    edited['fc']['weight_quant_params'] = {'wts_algo': 'ada_quantize'}
    json.dump(edited, open(cfg, 'w'))
    settings = _flow._read_config(cfg.encode(), _flow._deep_copy(model, False),
                                  _flow._as_inputs(x))
    fc = [l for l in settings.layers if l['name'] == 'fc'][0]
    assert {k: fc[k] for k in _C.ADA_DEFAULTS} == _C.ADA_DEFAULTS
    assert _C.ADA_DEFAULTS == {'num_iteration': 10000, 'reg_param': 0.01, 'warm_start': 0.2,
                               'beta_range': (20.0, 2.0)}
