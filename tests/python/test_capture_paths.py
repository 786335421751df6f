"""The two capture paths: the meta shadow (default) and the real run.

Both must give the same bytes; the meta path must fall back when it cannot
run, and neither may change the user's model.
"""
import copy
import importlib.util
import json
import logging
import os

import pytest
import torch
from torch import nn

import openamct as amct
from openamct import _capture
from conftest import SHARED

CASES_PY = os.path.join(SHARED, 'conformance', 'cases.py')


def _load_cases():
    spec = importlib.util.spec_from_file_location('_conformance_cases', CASES_PY)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    return cases


if os.path.exists(CASES_PY):
    CASES = _load_cases()
    CONFORMANCE_MODELS = sorted({c['model'] for c in CASES.CASES if c['model'] != CASES.NOT_MODULE})
else:
    CASES, CONFORMANCE_MODELS = None, []


def _config_or_error(path, model, input_data, capture):
    """The config's bytes, or the error the call raised."""
    try:
        amct.create_quant_config(str(path), model, input_data, capture=capture)
    except (ValueError, RuntimeError) as exc:
        return '%s: %s' % (type(exc).__name__, exc)
    return path.read_bytes()


@pytest.fixture
def fallback_log(openamct_log):
    """Records of the 'openamct' logger, which does not propagate by default."""
    with openamct_log(logging.INFO) as caplog:
        yield caplog


def _fallback_lines(caplog):
    return [r for r in caplog.records
            if r.levelno == logging.INFO and 'meta device failed' in r.getMessage()]


# ---------------------------------------------------------------------------
# Same bytes on every conformance model
# ---------------------------------------------------------------------------
def _expected_outcome(name):
    """What the conformance kit expects of a call with default arguments on
    model `name`: ('file', bytes) or ('error', 'Type: message prefix'); None
    when the kit has no such case for that model."""
    expected = {}
    with open(os.path.join(SHARED, 'conformance', 'expected.jsonl')) as f:
        for line in f:
            row = json.loads(line)
            expected[row['id']] = row
    for case in CASES.CASES:
        if (case['model'] == name and not case['kwargs'] and case['config_file'] is None
                and case['input_override'] is None):
            row = expected[case['id']]
            if row['expect'] == 'file':
                with open(os.path.join(SHARED, 'conformance', row['file']), 'rb') as f:
                    return 'file', f.read()
            return 'error', '%s: %s' % (row['error']['type'], row['error']['text'])
    return None


@pytest.mark.skipif(CASES is None, reason='../shared/conformance is absent: the meta and real '
                                          'paths are NOT compared on the conformance models')
@pytest.mark.parametrize('name', CONFORMANCE_MODELS or ['<none>'])
def test_meta_and_real_paths_give_the_same_bytes_on_conformance_model(tmp_path, name):
    model = CASES.build_model(name)
    torch.manual_seed(1)
    tensors = tuple(torch.randn(*shape) for shape in CASES.model_inputs(name))
    input_data = tensors[0] if len(tensors) == 1 else tensors
    via_meta = _config_or_error(tmp_path / 'meta.json', model, input_data, 'meta')
    via_real = _config_or_error(tmp_path / 'real.json', model, input_data, 'real')
    assert via_meta == via_real
    # Agreeing is not enough: both paths could fail the same way. Each path
    # must give what the kit expects of this model, or a config.
    expected = _expected_outcome(name)
    if expected is None:
        assert isinstance(via_meta, bytes), via_meta
    elif expected[0] == 'file':
        assert via_meta == expected[1]
    else:
        assert isinstance(via_meta, str) and via_meta.startswith(expected[1]), via_meta


# ---------------------------------------------------------------------------
# Falling back
# ---------------------------------------------------------------------------
class DataDependent(nn.Module):
    """Which layer runs depends on the values of the input."""

    def __init__(self):
        super().__init__()
        self.fc_pos = nn.Linear(8, 4)
        self.fc_neg = nn.Linear(8, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc_pos(x)
        return self.fc_neg(x)


class PlainTensorAttribute(nn.Module):
    """Reads a tensor that is neither a parameter nor a buffer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = torch.full((8,), 2.0)  # not registered: stays on the CPU
        self.fc_out = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc_out(self.fc(x) * self.scale)


def test_meta_capture_of_data_dependent_control_flow_is_a_runtime_error(tmp_path):
    with pytest.raises(RuntimeError, match="capture='meta' failed") as info:
        amct.create_quant_config(str(tmp_path / 'q.json'), DataDependent().eval(),
                                 torch.ones(1, 8), capture='meta')
    assert "capture='auto' or 'real'" in str(info.value)
    assert not (tmp_path / 'q.json').exists()


def test_auto_capture_falls_back_with_one_info_line_saying_why(tmp_path, fallback_log):
    model = DataDependent().eval()
    amct.create_quant_config(str(tmp_path / 'auto.json'), model, torch.ones(1, 8))
    lines = _fallback_lines(fallback_log)
    assert len(lines) == 1, [r.getMessage() for r in fallback_log.records]
    message = lines[0].getMessage()
    assert 'running the model on input_data instead' in message
    assert '_local_scalar_dense' in message  # the reason: a value read on meta
    assert '\n' not in message
    text = (tmp_path / 'auto.json').read_text()
    assert '"fc_pos":{' in text and '"fc_neg"' not in text  # the real run's branch
    amct.create_quant_config(str(tmp_path / 'real.json'), model, torch.ones(1, 8),
                             capture='real')
    assert (tmp_path / 'auto.json').read_bytes() == (tmp_path / 'real.json').read_bytes()


def _auto_config_after_one_fallback(tmp_path, fallback_log, model, input_data):
    """The default call's config, checked to come from one fallback to the
    real run and to be the bytes capture='real' writes."""
    amct.create_quant_config(str(tmp_path / 'auto.json'), model, input_data)
    assert len(_fallback_lines(fallback_log)) == 1
    amct.create_quant_config(str(tmp_path / 'real.json'), model, input_data, capture='real')
    assert (tmp_path / 'auto.json').read_bytes() == (tmp_path / 'real.json').read_bytes()
    return (tmp_path / 'auto.json').read_text()


def test_plain_tensor_attribute_falls_back_and_gives_the_real_config(tmp_path, fallback_log):
    model = PlainTensorAttribute().eval()
    text = _auto_config_after_one_fallback(tmp_path, fallback_log, model, torch.randn(2, 8))
    assert '"fc":{' in text
    assert model.scale.device.type == 'cpu' and torch.equal(model.scale, torch.full((8,), 2.0))


class GradientInForward(nn.Module):
    """Needs autograd inside forward, which the shadow's inference_mode lacks."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.fc_out = nn.Linear(8, 4)

    def forward(self, x):
        with torch.enable_grad():
            probe = x.detach().requires_grad_()
            grad, = torch.autograd.grad(self.fc(probe).sum(), probe)
        return self.fc_out(x + grad)


def test_forward_that_needs_autograd_falls_back_and_gives_the_real_config(tmp_path, fallback_log):
    model = GradientInForward().eval()
    text = _auto_config_after_one_fallback(tmp_path, fallback_log, model, torch.randn(2, 8))
    assert '"fc":{' in text
    with pytest.raises(RuntimeError, match="capture='meta' failed"):
        amct.create_quant_config(str(tmp_path / 'meta.json'), model, torch.randn(2, 8),
                                 capture='meta')


def test_meta_capture_does_not_log_a_fallback(tmp_path, fallback_log):
    amct.create_quant_config(str(tmp_path / 'q.json'), nn.Sequential(PlainTensorAttribute().fc),
                             torch.randn(1, 8))
    assert _fallback_lines(fallback_log) == []


# ---------------------------------------------------------------------------
# Models on meta, shared weights, custom copy protocols
# ---------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.conv_twice = nn.Conv2d(8, 8, 3, padding=1)
        self.fc_a = nn.Linear(8, 8)
        self.fc_b = nn.Linear(8, 8)
        self.fc_b.weight = self.fc_a.weight  # one Parameter, two modules
        self.fc = nn.Linear(8, 4)
        self.widths = [8, 8]  # a mutable plain attribute

    def forward(self, x):
        x = self.drop(self.bn(self.conv(x)))
        x = self.conv_twice(self.conv_twice(x))
        x = self.fc_b(self.fc_a(x.mean(dim=(2, 3))))
        return self.fc(x)


def _x():
    return torch.randn(1, 3, 8, 8)


def test_model_already_on_meta_gives_the_config_of_the_same_model_on_cpu(tmp_path, fallback_log):
    torch.manual_seed(0)
    model = Net().eval()
    amct.create_quant_config(str(tmp_path / 'cpu.json'), model, _x(), capture='real')
    meta_model = model.to('meta')
    meta_model.fc_b.weight = meta_model.fc_a.weight  # to('meta') unties the shared weight
    amct.create_quant_config(str(tmp_path / 'meta.json'), meta_model, _x(), capture='meta')
    amct.create_quant_config(str(tmp_path / 'auto.json'), meta_model,
                             torch.empty(1, 3, 8, 8, device='meta'))
    assert _fallback_lines(fallback_log) == []
    assert (tmp_path / 'meta.json').read_bytes() == (tmp_path / 'cpu.json').read_bytes()
    assert (tmp_path / 'auto.json').read_bytes() == (tmp_path / 'cpu.json').read_bytes()


def test_shadow_keeps_shared_weights_shared_and_copies_no_weight():
    model = Net()
    shadow = _capture.meta_shadow(model)
    assert shadow.fc_b.weight is shadow.fc_a.weight
    assert shadow.fc_a.bias is not shadow.fc_b.bias
    originals = {id(t) for t in list(model.parameters()) + list(model.buffers())}
    for t in list(shadow.parameters()) + list(shadow.buffers()):
        assert t.is_meta and id(t) not in originals
    assert isinstance(shadow.fc_a.weight, nn.Parameter)
    assert [n for n, _ in shadow.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert [n for n, _ in shadow.named_buffers()] == [n for n, _ in model.named_buffers()]
    assert [n for n, _ in shadow.named_modules()] == [n for n, _ in model.named_modules()]


def test_shadow_twins_have_the_shape_strides_dtype_and_grad_flag_of_their_tensors():
    model = Net()
    model.conv.weight = nn.Parameter(model.conv.weight.to(memory_format=torch.channels_last))
    model.fc.weight = nn.Parameter(model.fc.weight.t().contiguous().t())  # transposed strides
    model.fc.bias.requires_grad_(False)
    model.bn.register_buffer('view16', torch.zeros(2, 3, dtype=torch.float16)[:, :2])  # a view
    shadow = _capture.meta_shadow(model)
    originals = dict(model.named_parameters())
    originals.update(model.named_buffers())
    twins = dict(shadow.named_parameters())
    twins.update(shadow.named_buffers())
    assert twins.keys() == originals.keys()
    for name, t in originals.items():
        twin = twins[name]
        assert twin.is_meta and type(twin) is type(t), name
        assert (twin.shape, twin.dtype, twin.requires_grad) == \
            (t.shape, t.dtype, t.requires_grad), name
        # the strides empty_like gives: the tensor's own where it is dense
        # (channels_last, transposed), contiguous for the strided view
        assert twin.stride() == torch.empty_like(t, device='meta').stride(), name
    assert shadow.conv.weight.stride() == model.conv.weight.stride() != (81, 27, 9, 1)
    assert shadow.fc.weight.stride() == model.fc.weight.stride() == (1, 4)
    assert shadow.bn.view16.stride() == (2, 1)


def test_shadow_shares_no_mutable_state_with_the_model():
    model = Net()
    shadow = _capture.meta_shadow(model)
    for mod, twin in zip(model.modules(), shadow.modules()):
        assert twin is not mod and type(twin) is type(mod)
        for key in ('_parameters', '_buffers', '_modules', '_forward_pre_hooks',
                    '_forward_hooks', '_non_persistent_buffers_set'):
            assert getattr(twin, key) is not getattr(mod, key), key
    assert shadow.widths == model.widths and shadow.widths is not model.widths
    assert shadow.conv.kernel_size == (3, 3) and shadow.conv.padding_mode == 'zeros'


class OwnSetstate(nn.Linear):
    calls = []  # on the class: the shadow's call lands here too

    def __setstate__(self, state):
        OwnSetstate.calls.append(sorted(state))
        super().__setstate__(state)


def test_shadow_applies_each_class_setstate_as_deepcopy_does():
    model = nn.Sequential(OwnSetstate(4, 4), nn.Linear(4, 4))
    del model[1]._state_dict_hooks  # as in a module pickled by an older torch
    OwnSetstate.calls.clear()
    shadow = _capture.meta_shadow(model)
    assert len(OwnSetstate.calls) == 1 and '_parameters' in OwnSetstate.calls[0]
    assert shadow[0].weight.is_meta and not shadow[0].training
    # nn.Module.__setstate__ adds what an old state lacks, on the shadow only
    assert shadow[1]._state_dict_hooks == {} and '_state_dict_hooks' not in model[1].__dict__


class OwnDeepcopy(nn.Module):
    """A class with its own __deepcopy__, which keeps its submodules out of the
    memo it is given (it copies them with a copy of that memo)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def __deepcopy__(self, memo):
        twin = self.__class__.__new__(self.__class__)
        memo[id(self)] = twin
        twin.__dict__ = copy.deepcopy(self.__dict__, dict(memo))
        return twin

    def forward(self, x):
        return self.fc(x)


def test_module_with_its_own_deepcopy_is_captured_on_meta(tmp_path, fallback_log):
    model = nn.Sequential(nn.Linear(8, 8), OwnDeepcopy(), nn.Linear(8, 4)).eval()
    shadow = _capture.meta_shadow(model)
    assert all(p.is_meta for p in shadow.parameters())
    amct.create_quant_config(str(tmp_path / 'meta.json'), model, torch.randn(1, 8),
                             capture='meta')
    amct.create_quant_config(str(tmp_path / 'real.json'), model, torch.randn(1, 8),
                             capture='real')
    assert (tmp_path / 'meta.json').read_bytes() == (tmp_path / 'real.json').read_bytes()
    assert '"1.fc":{' in (tmp_path / 'meta.json').read_text()


# ---------------------------------------------------------------------------
# The user's model is left as it was
# ---------------------------------------------------------------------------
def _snapshot(model):
    return {
        'flags': {n: m.training for n, m in model.named_modules()},
        'params': {n: (p, p.detach().clone()) for n, p in model.named_parameters()},
        'buffers': {n: (b, b.detach().clone()) for n, b in model.named_buffers()},
        'modules': {n: m for n, m in model.named_modules()},
    }


def _assert_unchanged(model, before):
    assert {n: m.training for n, m in model.named_modules()} == before['flags']
    assert {n: m for n, m in model.named_modules()} == before['modules']
    params = dict(model.named_parameters())
    assert params.keys() == before['params'].keys()
    for n, (obj, value) in before['params'].items():
        assert params[n] is obj and not obj.is_meta and torch.equal(obj, value), n
    buffers = dict(model.named_buffers())
    for n, (obj, value) in before['buffers'].items():
        assert buffers[n] is obj and torch.equal(obj, value), n
    for m in model.modules():
        assert not m._forward_pre_hooks and not m._forward_hooks


@pytest.mark.parametrize('capture', ['auto', 'meta', 'real'])
def test_user_model_is_unchanged(tmp_path, capture):
    model = Net().train()
    model.bn.eval()  # a mixed state must come back mixed
    before = _snapshot(model)
    amct.create_quant_config(str(tmp_path / 'q.json'), model, _x(), capture=capture)
    _assert_unchanged(model, before)
    assert model.widths == [8, 8]


def test_user_model_is_unchanged_after_a_fallback(tmp_path):
    model = PlainTensorAttribute().train()
    before = _snapshot(model)
    amct.create_quant_config(str(tmp_path / 'q.json'), model, torch.randn(2, 8))
    _assert_unchanged(model, before)


def test_user_model_is_unchanged_after_a_failed_meta_capture(tmp_path):
    model = DataDependent().train()
    before = _snapshot(model)
    with pytest.raises(RuntimeError):
        amct.create_quant_config(str(tmp_path / 'q.json'), model, torch.ones(1, 8),
                                 capture='meta')
    _assert_unchanged(model, before)
