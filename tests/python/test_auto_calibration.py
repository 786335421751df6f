"""accuracy_based_auto_calibration: the sensitivity ranking and the binary
search roll back exactly the layer that quantisation breaks; an evaluator
that always accepts rolls back nothing; one that never accepts rolls back
everything and says so; a bad evaluator is a TypeError."""
import json
import logging
import os

import pytest
import torch
from torch import nn

import openamct as amct


class Net(nn.Module):
    """conv2's input carries one huge activation (1000 in channel 0 at pixel
    (0, 0)) that conv2 ignores (zero weights for channel 0): the float model
    is ordinary, but conv2's INT8 activation scale becomes ~8, so every
    ordinary input value (< 3) rounds to 0 and its quantised output is lost."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():
            self.conv2.weight[:, 0] = 0

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        outlier = torch.zeros_like(h)
        outlier[:, 0, 0, 0] = 1000.0
        y = torch.relu(self.conv2(h + outlier))
        return self.fc(y.mean((2, 3)))


def _batches(seed, n):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, 10, 10, generator=g) for _ in range(n)]


class Evaluator(amct.AutoCalibrationEvaluatorBase):
    """Metric: cosine similarity of the outputs to the float model's on
    held-out batches (1.0 for the float model). Accepts a loss <= tolerance."""

    def __init__(self, float_model, tolerance):
        self.calib = _batches(1, 2)
        self.eval = _batches(2, 3)
        with torch.no_grad():
            self.reference = torch.cat([float_model(x) for x in self.eval]).flatten()
        self.tolerance = tolerance
        self.evaluated = []

    def calibration(self, model):
        with torch.no_grad():
            for x in self.calib:
                model(x)

    def evaluate(self, model):
        with torch.no_grad():
            out = torch.cat([model(x) for x in self.eval]).flatten()
        metric = float(torch.nn.functional.cosine_similarity(out, self.reference, dim=0))
        self.evaluated.append(metric)
        return metric

    def metric_eval(self, original_metric, new_metric):
        loss = original_metric - new_metric
        return loss <= self.tolerance, loss


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    model = Net().eval()
    config = str(tmp_path / 'q.json')
    amct.create_quant_config(config, model, _batches(1, 1)[0], batch_num=2)
    return model, config, tmp_path


def _run(setup, evaluator):
    model, config, tmp = setup
    return amct.accuracy_based_auto_calibration(
        model, evaluator, config, str(tmp / 'record.txt'), str(tmp / 'out' / 'net'),
        _batches(1, 1)[0])


def test_the_sensitive_layer_and_only_it_is_rolled_back(setup):
    model, config, tmp = setup
    config_before = open(config, 'rb').read()
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    evaluator = Evaluator(model, tolerance=0.01)
    result = _run(setup, evaluator)

    assert result['original_metric'] == pytest.approx(1.0)
    assert result['sensitivity']['conv2'] < min(result['sensitivity']['conv1'],
                                                result['sensitivity']['fc'])
    # The fully quantised model was refused, conv2 alone rolled back accepted.
    first = result['history'][0]
    assert first['rolled_back'] == [] and not first['accepted'] and first['loss'] > 0.01
    assert result['accepted'] and result['rolled_back'] == ['conv2']
    assert result['final_metric'] >= 1.0 - 0.01
    assert result['history'][-1]['accepted']

    final = json.load(open(str(tmp / 'out' / 'net_quant_config.json')))
    assert final['conv2']['quant_enable'] is False
    assert final['conv1']['quant_enable'] is True and final['fc']['quant_enable'] is True
    record = open(str(tmp / 'record.txt')).read()
    assert 'key: "conv1"' in record and 'key: "fc"' in record and 'conv2' not in record
    for suffix in ('deploy_model.onnx', 'fake_quant_model.onnx', 'modified_model.onnx',
                   'sensitivity.json', 'auto_calibration_history.json'):
        assert os.path.isfile(str(tmp / 'out' / ('net_' + suffix))), suffix
    ranking = json.load(open(str(tmp / 'out' / 'net_sensitivity.json')))
    assert ranking[0]['layer'] == 'conv2'
    # Nothing of the user's changed; no scratch folder left behind.
    assert open(config, 'rb').read() == config_before
    assert all(torch.equal(state_before[k], v) for k, v in model.state_dict().items())
    assert not [n for n in os.listdir(str(tmp / 'out')) if n.startswith('.openamct')]


class Always(Evaluator):
    def metric_eval(self, original_metric, new_metric):
        return True, original_metric - new_metric


class Never(Evaluator):
    def metric_eval(self, original_metric, new_metric):
        return False, original_metric - new_metric


def test_an_evaluator_that_accepts_rolls_back_nothing(setup):
    model, _, tmp = setup
    result = _run(setup, Always(model, 0))
    assert result['accepted'] and result['rolled_back'] == []
    assert len(result['history']) == 1
    assert 'key: "conv2"' in open(str(tmp / 'record.txt')).read()


def test_an_evaluator_that_never_accepts_rolls_back_everything_and_warns(setup, openamct_log):
    model, _, tmp = setup
    with openamct_log(logging.WARNING) as caplog:
        result = _run(setup, Never(model, 0))
    assert not result['accepted']
    assert sorted(result['rolled_back']) == ['conv1', 'conv2', 'fc']
    assert result['rolled_back'][0] == 'conv2'
    assert any('every layer is rolled back' in r.getMessage() for r in caplog.records)
    final = json.load(open(str(tmp / 'out' / 'net_quant_config.json')))
    assert not any(final[n]['quant_enable'] for n in ('conv1', 'conv2', 'fc'))
    assert not os.path.exists(str(tmp / 'out' / 'net_deploy_model.onnx'))
    assert not os.path.exists(str(tmp / 'record.txt'))


class NoMetricEval:
    def calibration(self, model):
        pass

    def evaluate(self, model):
        return 0.0


def test_a_bad_evaluator_is_a_type_error_naming_the_argument(setup):
    with pytest.raises(TypeError, match=r'argument model_evaluator .* no callable metric_eval'):
        _run(setup, NoMetricEval())
    with pytest.raises(TypeError, match='model_evaluator'):
        _run(setup, object())


def test_the_evaluator_base_class_is_abstract():
    with pytest.raises(TypeError):
        amct.AutoCalibrationEvaluatorBase()


def test_unknown_strategy_or_sensitivity_is_a_value_error(setup):
    model, config, tmp = setup
    for kw in ({'strategy': 'Greedy'}, {'sensitivity': 'KL'}):
        with pytest.raises(ValueError, match=list(kw)[0]):
            amct.accuracy_based_auto_calibration(model, Always(model, 0), config,
                                                 str(tmp / 'r.txt'), str(tmp / 'o' / 'n'),
                                                 _batches(1, 1)[0], **kw)


def test_a_dmq_config_runs_quantize_preprocess_in_each_trial(tmp_path):
    torch.manual_seed(0)
    model = Net().eval()
    cfg_def = tmp_path / 'dmq.cfg'
    cfg_def.write_text('batch_num: 2\n'
                       'common_config { dmq_balancer { migration_strength: 0.5 } }\n')
    config = str(tmp_path / 'q.json')
    amct.create_quant_config(config, model, _batches(1, 1)[0], config_defination=str(cfg_def))
    result = _run((model, config, tmp_path), Evaluator(model, tolerance=0.01))
    # DMQ divides conv2's outlier channel (zero weights) down to the others'
    # range, so the fully quantised model is accepted this time.
    assert result['accepted'] and result['rolled_back'] == []
    assert result['final_metric'] > 0.999
    record = open(str(tmp_path / 'record.txt')).read()
    assert record.count('tensor_balance_factor') > 0 and 'key: "conv2"' in record


class _Wrapper:
    def __init__(self, module, factor=None):
        self.sub_module, self._factor = module, factor


def test_fake_quant_layer_computes_what_the_fake_quant_onnx_computes():
    """§12.4 per layer: q = clamp(rne(x / scale_d) + offset_d) - offset_d, the op
    on integer weights rne(W / scale_w) and integer bias rne(b / deq), times
    deq = scale_w * scale_d per output channel (axis 1 of a conv, last of a Linear)."""
    from openamct._auto_calibration import _FakeQuantLayer
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5)
    conv = nn.Conv2d(3, 2, 3)
    record = {'scale_d': 0.02, 'offset_d': -3, 'scale_w': [0.01, 0.005],
              'act_bits': 8, 'wts_bits': 8}
    layer = _FakeQuantLayer(_Wrapper(conv), None, record)
    xq = torch.clamp(torch.round(x / 0.02) - 3, -128, 127) + 3
    s_w = torch.tensor([0.01, 0.005]).reshape(2, 1, 1, 1)
    w_int = torch.clamp(torch.round(conv.weight.detach() / s_w), -128, 127)
    deq = torch.tensor([0.01, 0.005]) * torch.tensor(0.02)
    b_int = torch.round(conv.bias.detach() / deq)
    expected = (nn.functional.conv2d(xq, w_int) + b_int.reshape(1, 2, 1, 1)) * \
        deq.reshape(1, 2, 1, 1)
    assert torch.allclose(layer(x), expected, rtol=1e-6, atol=1e-6)

    linear = nn.Linear(3, 2)
    layer = _FakeQuantLayer(_Wrapper(linear), None, dict(record, scale_w=[0.01]))
    x2 = torch.randn(4, 3)
    xq2 = torch.clamp(torch.round(x2 / 0.02) - 3, -128, 127) + 3
    w_int = torch.clamp(torch.round(linear.weight.detach() / 0.01), -128, 127)
    deq = torch.tensor(0.01) * torch.tensor(0.02)
    expected = (xq2 @ w_int.t() + torch.round(linear.bias.detach() / deq)) * deq
    assert torch.allclose(layer(x2), expected, rtol=1e-6, atol=1e-6)

    # measure mode returns the float layer (float weight, raw input) and
    # accumulates the cosine similarity with the quantised output.
    layer.measure = True
    assert torch.equal(layer(x2), linear(x2).detach())
    q = expected.flatten().double()
    f = linear(x2).detach().flatten().double()
    assert layer.cosine() == pytest.approx(float(f @ q / (f.norm() * q.norm())), rel=1e-6)


class BadMetricEval(Evaluator):
    def metric_eval(self, original_metric, new_metric):
        return True  # not (bool, loss)


def test_metric_eval_must_return_a_pair(setup):
    model, _, tmp = setup
    with pytest.raises(TypeError, match=r'model_evaluator\.metric_eval must return a tuple'):
        _run(setup, BadMetricEval(model, 0))
    assert not os.path.exists(str(tmp / 'record.txt'))
    assert not [n for n in os.listdir(str(tmp / 'out')) if n.startswith('.openamct')]


def test_bad_paths_fail_before_any_work(setup):
    model, config, tmp = setup
    evaluator = Always(model, 0)
    x = _batches(1, 1)[0]
    with pytest.raises(ValueError, match=r"save_dir .* must end with a model name prefix"):
        amct.accuracy_based_auto_calibration(model, evaluator, config, str(tmp / 'r.txt'),
                                             str(tmp / 'o') + '/', x)
    with pytest.raises(OSError, match=r'does not exist'):
        amct.accuracy_based_auto_calibration(model, evaluator, str(tmp / 'missing.json'),
                                             str(tmp / 'r.txt'), str(tmp / 'o' / 'n'), x)
    with pytest.raises(TypeError, match=r'argument record_file must be'):
        amct.accuracy_based_auto_calibration(model, evaluator, config, 3, str(tmp / 'o' / 'n'), x)
    assert evaluator.evaluated == []  # not even the float model was evaluated


@pytest.mark.parametrize('option', ['bias_correction', 'hessian_rounding'])
def test_a_flow_option_runs_in_every_trial_and_is_what_quantize_model_writes(setup, option):
    """bias_correction=True / hessian_rounding=True: the files an accepting
    evaluator installs are byte for byte the plain flow's with quantize_model
    given the same option on the same data, and differ from the flow's without
    it; with bias correction the sensitivity still compares with the float
    layer (its bias before the correction)."""
    model, config, tmp = setup
    x = _batches(1, 1)[0]
    evaluator = Always(model, 0)
    result = amct.accuracy_based_auto_calibration(
        model, evaluator, config, str(tmp / 'auto.txt'), str(tmp / 'auto' / 'net'), x,
        **{option: True})
    assert result['accepted'] and result['rolled_back'] == []

    def plain(prefix, on):
        calib = amct.quantize_model(config, str(tmp / (prefix + '.onnx')),
                                    str(tmp / (prefix + '.txt')), model, x, **{option: on})
        evaluator.calibration(calib)
        amct.save_model(str(tmp / (prefix + '.onnx')), str(tmp / (prefix + '.txt')),
                        str(tmp / prefix))
        return open(str(tmp / (prefix + '_fake_quant_model.onnx')), 'rb').read()

    with_option, without = plain('on', True), plain('off', False)
    assert open(str(tmp / 'auto' / 'net_fake_quant_model.onnx'), 'rb').read() == with_option
    assert with_option != without
    assert open(str(tmp / 'auto.txt'), 'rb').read() == open(str(tmp / 'on.txt'), 'rb').read()
    if option == 'bias_correction':
        uncorrected_result = _run(setup, Always(model, 0))
        # Correction brings each quantised layer's output closer to the float layer's.
        for name in ('conv1', 'fc'):
            assert result['sensitivity'][name] >= uncorrected_result['sensitivity'][name] - 1e-6


@pytest.mark.parametrize('option, value', [('bias_correction', 1), ('hessian_rounding', 'yes')])
def test_a_flow_option_must_be_a_bool(setup, option, value):
    model, config, tmp = setup
    evaluator = Always(model, 0)
    with pytest.raises(TypeError, match=r'argument %s must be' % option):
        amct.accuracy_based_auto_calibration(model, evaluator, config, str(tmp / 'r.txt'),
                                             str(tmp / 'o' / 'n'), _batches(1, 1)[0],
                                             **{option: value})
    assert evaluator.evaluated == [] and not os.path.exists(str(tmp / 'r.txt'))


def test_output_error_sensitivity_ranks_by_the_model_output(setup):
    """sensitivity='OutputError': each layer's value is the model output's MSE
    against the float model with only that layer float; conv2 (whose INT8
    input loses everything) is the roll-back that helps most, so it comes
    first, and it alone is rolled back."""
    model, config, tmp = setup
    result = amct.accuracy_based_auto_calibration(
        model, Evaluator(model, tolerance=0.01), config, str(tmp / 'record.txt'),
        str(tmp / 'out' / 'net'), _batches(1, 1)[0], sensitivity='OutputError')
    sens = result['sensitivity']
    assert set(sens) == {'conv1', 'conv2', 'fc'} and all(v >= 0 for v in sens.values())
    assert sens['conv2'] < min(sens['conv1'], sens['fc'])
    assert result['accepted'] and result['rolled_back'] == ['conv2']
    report = json.load(open(str(tmp / 'out' / 'net_sensitivity.json')))
    assert [r['layer'] for r in report][0] == 'conv2'
    assert set(report[0]) == {'layer', 'output_mse_with_layer_float'}


class Silent(Always):
    """Calibrates once (the first trial) and then never calls the model
    again, as an evaluator that caches its calibration: no outputs to compare."""

    def __init__(self, *args):
        super().__init__(*args)
        self.calls = 0

    def calibration(self, model):
        self.calls += 1
        if self.calls == 1:
            super().calibration(model)


def test_output_error_needs_an_evaluator_that_calls_the_model(setup):
    model, config, tmp = setup
    with pytest.raises(RuntimeError, match="sensitivity 'OutputError' needs the model's outputs"):
        amct.accuracy_based_auto_calibration(
            model, Silent(model, 0), config, str(tmp / 'r.txt'), str(tmp / 'o' / 'n'),
            _batches(1, 1)[0], sensitivity='OutputError')
    assert not os.path.exists(str(tmp / 'r.txt'))
