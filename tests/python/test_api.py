"""The Python API: argument checks, the user's model left as it was, files
written atomically, verdicts and logs."""
import logging
import os
import pathlib
import stat

import pytest
import torch
from torch import nn

import openamct as amct


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.conv_twice = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_reflect = nn.Conv2d(8, 8, 3, padding=1, padding_mode='reflect')
        self.unused = nn.Linear(4, 4)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.drop(self.bn(self.conv(x)))
        x = self.conv_twice(self.conv_twice(x))
        x = self.conv_reflect(x)
        return self.fc(x.mean(dim=(2, 3)))


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        self.fc(x)
        raise KeyError('boom in forward')


def x():
    return torch.randn(1, 3, 8, 8)


def test_writes_only_supported_layers(workdir):
    amct.create_quant_config('q.json', Net().eval(), x())
    text = open('q.json').read()
    assert '"conv":{' in text and '"fc":{' in text
    for left_out in ('conv_twice', 'conv_reflect', 'unused', '"bn"'):
        assert left_out not in text
    assert stat.S_IMODE(os.stat('q.json').st_mode) == 0o640
    assert not text.endswith('\n')


def test_returns_none(workdir):
    assert amct.create_quant_config('q.json', Net().eval(), x()) is None


def test_model_is_left_exactly_as_it_was(workdir):
    model = Net().train()
    model.bn.eval()  # a mixed state must come back mixed
    flags = {n: m.training for n, m in model.named_modules()}
    params = {n: (id(p), p.detach().clone()) for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    amct.create_quant_config('q.json', model, x())
    assert {n: m.training for n, m in model.named_modules()} == flags
    for n, p in model.named_parameters():
        assert id(p) == params[n][0] and torch.equal(p, params[n][1])
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n]), n  # BN running stats untouched (eval, no_grad)
    for m in model.modules():
        assert not m._forward_pre_hooks and not m._forward_hooks


def test_model_is_restored_when_forward_raises(workdir):
    model = Exploding().train()
    with pytest.raises(RuntimeError, match='boom in forward') as info:
        amct.create_quant_config('q.json', model, torch.randn(1, 4))
    assert isinstance(info.value.__cause__, KeyError)
    assert model.training and model.fc.training
    assert not model.fc._forward_pre_hooks
    assert not os.path.exists('q.json')


def test_existing_config_survives_a_failing_call(workdir):
    amct.create_quant_config('q.json', Net().eval(), x(), batch_num=3)
    before = pathlib.Path('q.json').read_bytes()
    with pytest.raises(ValueError, match='Layer nope does not exist in the graph.'):
        amct.create_quant_config('q.json', Net().eval(), x(), skip_layers=['nope'])
    with pytest.raises(RuntimeError):
        amct.create_quant_config('q.json', Exploding(), torch.randn(1, 4))
    with pytest.raises(ValueError, match='Except skip_layers'):
        amct.create_quant_config('q.json', Net().eval(), x(), skip_layers=['conv', 'fc'])
    assert pathlib.Path('q.json').read_bytes() == before
    assert sorted(os.listdir('.')) == ['q.json']  # no temporary file left behind


def test_replacing_a_file_sets_mode_0640(workdir):
    pathlib.Path('q.json').write_text('old')
    os.chmod('q.json', 0o600)
    amct.create_quant_config('q.json', Net().eval(), x())
    assert stat.S_IMODE(os.stat('q.json').st_mode) == 0o640
    assert pathlib.Path('q.json').read_text().startswith('{\n    "version":1,')


def test_missing_directories_are_created(workdir):
    amct.create_quant_config('a/b/q.json', Net().eval(), x())
    assert os.path.isfile('a/b/q.json')


def test_config_file_through_a_symlink_writes_the_target(workdir):
    pathlib.Path('real.json').write_text('old')
    os.symlink('real.json', 'link.json')
    amct.create_quant_config('link.json', Net().eval(), x())
    assert os.path.islink('link.json')
    assert pathlib.Path('real.json').read_text().startswith('{')


@pytest.mark.parametrize('bad', ['', 'somedir/', '.'])
def test_config_file_that_is_not_a_file_is_a_value_error_d3(workdir, bad):
    with pytest.raises(ValueError, match='config_file'):
        amct.create_quant_config(bad, Net().eval(), x())
    assert sorted(os.listdir('.')) == []


def test_config_file_symlink_to_a_directory_is_a_value_error(workdir):
    os.mkdir('d')
    os.symlink('d', 'link')
    with pytest.raises(ValueError, match='config_file'):
        amct.create_quant_config('link', Net().eval(), x())


def test_pathlike_paths_are_accepted_d3(workdir):
    amct.create_quant_config(pathlib.Path('q.json'), Net().eval(), x())
    assert os.path.isfile('q.json')


@pytest.mark.parametrize('kwargs, text', [
    (dict(batch_num=True), "argument batch_num must be <class 'int'>"),
    (dict(batch_num=1.5), "argument batch_num must be <class 'int'>"),
    (dict(activation_offset=1), "argument activation_offset must be <class 'bool'>"),
    (dict(skip_layers=('fc',)), "argument skip_layers must be (<class 'list'>, <class 'NoneType'>)"),
    (dict(config_defination=3), "argument config_defination must be (<class 'NoneType'>, <class 'str'>)"),
])
def test_argument_types_are_type_errors(workdir, kwargs, text):
    with pytest.raises(TypeError) as info:
        amct.create_quant_config('q.json', Net().eval(), x(), **kwargs)
    assert str(info.value).startswith('Func create_quant_config ' + text)
    assert not os.path.exists('q.json')


def test_model_that_is_not_a_module_is_a_type_error(workdir):
    with pytest.raises(TypeError, match="argument model must be <class 'torch.nn.modules.module.Module'>"):
        amct.create_quant_config('q.json', lambda t: t, x())


@pytest.mark.parametrize('bad', [[torch.randn(1, 3, 8, 8)], {'x': torch.randn(1, 3, 8, 8)}, None])
def test_input_data_that_is_not_a_tensor_or_tuple_is_a_runtime_error(workdir, bad):
    with pytest.raises(RuntimeError, match='input data type must be tuple or torch.Tensor!'):
        amct.create_quant_config('q.json', Net().eval(), bad)


def test_batch_num_zero_is_rejected_before_the_model_runs(workdir):
    model = Exploding()  # would raise RuntimeError if it ran
    with pytest.raises(ValueError, match='The batch_num must be greater than zero.'):
        amct.create_quant_config('q.json', model, torch.randn(1, 4), batch_num=0)


def test_skip_layers_with_a_non_str_item(workdir):
    with pytest.raises(ValueError, match='^Layer 1 does not exist in the graph.'):
        amct.create_quant_config('q.json', Net().eval(), x(), skip_layers=[1])


def test_model_holding_an_amct_quantization_module_is_rejected(workdir):
    class IFMR(nn.Module):
        def forward(self, t):
            return t

    model = nn.Sequential(nn.Linear(4, 4), IFMR())
    with pytest.raises(RuntimeError, match='following quant layers are in the model'):
        amct.create_quant_config('q.json', model, torch.randn(1, 4))


def test_inspect_layers_gives_every_verdict_with_a_reason():
    rows = {r['name']: r for r in amct.inspect_layers(Net().eval(), x())}
    assert set(rows) == {'conv', 'conv_twice', 'conv_reflect', 'unused', 'fc'}
    assert rows['conv']['quantize'] and rows['fc']['quantize']
    assert rows['conv_twice']['verdict'] == 'reused'
    assert 'called 2 times' in rows['conv_twice']['reason']
    assert rows['conv_reflect']['verdict'] == 'unsupported_padding'
    assert rows['unused']['verdict'] == 'not_executed'
    assert rows['conv']['type'] == 'Conv2d'


def test_one_warning_per_excluded_layer_and_one_summary(workdir, openamct_log):
    with openamct_log(logging.INFO) as caplog:
        amct.create_quant_config('q.json', Net().eval(), x())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    for name in ('conv_twice', 'conv_reflect', 'unused'):
        assert sum(name in w for w in warnings) == 1
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    summary = [m for m in infos if m.startswith('Layers of a quantizable type')]
    assert summary == ['Layers of a quantizable type: 5; quantized: 2, skipped by the user: 0, '
                       'excluded: 3.']


def test_module_read_but_not_called_is_left_out_d6(workdir):
    class ReadsWeight(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, t):
            t = torch.nn.functional.linear(t, self.proj.weight, self.proj.bias)
            return self.fc(t)

    rows = {r['name']: r for r in amct.inspect_layers(ReadsWeight().eval(), torch.randn(1, 4))}
    assert rows['proj']['verdict'] == 'not_executed'
    assert rows['fc']['quantize']


def test_equal_but_distinct_weights_are_not_shared_d7(workdir):
    import copy
    proto = nn.Linear(4, 4)
    model = nn.Sequential(copy.deepcopy(proto), copy.deepcopy(proto)).eval()
    assert torch.equal(model[0].weight, model[1].weight)
    rows = amct.inspect_layers(model, torch.randn(1, 4))
    assert [r['quantize'] for r in rows] == [True, True]


def test_tied_weights_are_shared(workdir):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)).eval()
    model[1].weight = model[0].weight
    rows = amct.inspect_layers(model, torch.randn(1, 4))
    assert [r['verdict'] for r in rows] == ['shared_weight', 'shared_weight']


class Linear(nn.Module):
    """Named like nn.Linear (so of a quantizable type), with a weight that a
    property computes anew on every access, as a parametrization does."""

    def __init__(self):
        super().__init__()
        self.raw = nn.Parameter(torch.randn(4, 4))
        self.bias = None

    @property
    def weight(self):
        return self.raw * 1.0

    def forward(self, t):
        return t @ self.weight.t()


def test_weights_computed_on_access_are_not_taken_for_one_shared_weight(workdir):
    # Two temporaries may get the same address once the first is freed; the
    # capture keeps every weight it numbers alive until it is done.
    rows = amct.inspect_layers(nn.Sequential(Linear(), Linear(), Linear()), torch.randn(1, 4))
    assert [r['verdict'] for r in rows] == ['quantize'] * 3


class TrainOnlyBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.train_only = nn.Linear(4, 4)

    def forward(self, t):
        t = self.fc(t)
        return self.train_only(t) if self.training else t


class OwnTrain(TrainOnlyBranch):
    def train(self, mode=True):  # a class with its own train(): eval() must still reach it
        self.mode_calls = getattr(self, 'mode_calls', 0) + 1
        return super().train(mode)


@pytest.mark.parametrize('cls', [TrainOnlyBranch, OwnTrain])
@pytest.mark.parametrize('capture', ['meta', 'real'])
def test_forward_runs_in_eval_mode_on_every_path(cls, capture):
    model = cls().train()
    rows = {r['name']: r['verdict'] for r in
            amct.inspect_layers(model, torch.randn(1, 4), capture=capture)}
    assert rows == {'fc': 'quantize', 'train_only': 'not_executed'}
    assert model.training and model.train_only.training


class RecordsGradMode(nn.Module):
    modes = []  # on the class: the shadow's forward appends here too

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, t):
        self.modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.fc(t)


@pytest.mark.parametrize('capture, inference', [('meta', True), ('real', False)])
def test_forward_runs_without_autograd_and_the_real_run_outside_inference_mode(capture, inference):
    # The user's model runs under no_grad, so no tensor it keeps becomes an
    # inference tensor; the meta shadow, thrown away, runs under inference_mode.
    RecordsGradMode.modes.clear()
    amct.inspect_layers(RecordsGradMode(), torch.randn(1, 4), capture=capture)
    assert RecordsGradMode.modes == [(False, inference)]
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
