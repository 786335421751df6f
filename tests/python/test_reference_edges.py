"""The reference's behaviour at the edges no conformance case covers (issue 14):
unusual calls of layers, unusual input_data and arguments, models that are
themselves a layer, and models that a forward pass would change. Each test
builds to a rule of the spec, checked on both capture paths where the model
runs."""
import inspect
import json
import os
import pathlib
import re

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize, prune

import openamct as amct
from conftest import SHARED

CAPTURES = ['meta', 'real']


def verdicts(model, input_data, capture='auto'):
    return {r['name']: r['verdict'] for r in amct.inspect_layers(model, input_data,
                                                                 capture=capture)}


def config(path, model, input_data, **kwargs):
    amct.create_quant_config(str(path), model, input_data, **kwargs)
    return json.loads(pathlib.Path(path).read_text())


def layers_of(cfg):
    return sorted(k for k, v in cfg.items() if isinstance(v, dict))


# ---- 1. unbatched RNNs ------------------------------------------------------------------

class UnbatchedRnns(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8)
        self.gru = nn.GRU(8, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):  # x: (sequence, feature), no batch dimension
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        return self.fc(y)


@pytest.mark.parametrize('capture', CAPTURES)
def test_lstm_and_gru_called_on_an_unbatched_input_are_kept(tmp_path, capture):
    model = UnbatchedRnns().eval()
    x = torch.randn(5, 4)
    assert verdicts(model, x, capture) == {'lstm': 'quantize', 'gru': 'quantize', 'fc': 'quantize'}
    cfg = config(tmp_path / 'q.json', model, x, capture=capture)
    assert layers_of(cfg) == ['fc', 'gru', 'lstm']
    assert cfg['lstm']['weight_quant_params']['channel_wise'] is True


# ---- 2. a layer called through .forward() -----------------------------------------------

class CallsForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.conv.forward(x)  # bypasses module hooks
        return self.head(self.fc.forward(x.mean(dim=(2, 3))))


class CallsForwardAndCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.fc.forward(self.fc(x)))


@pytest.mark.parametrize('capture', CAPTURES)
def test_layer_called_through_its_forward_method_is_listed(tmp_path, capture):
    model = CallsForward().eval()
    x = torch.randn(1, 3, 8, 8)
    assert verdicts(model, x, capture) == {'conv': 'quantize', 'fc': 'quantize',
                                           'head': 'quantize'}
    assert layers_of(config(tmp_path / 'q.json', model, x, capture=capture)) == \
        ['conv', 'fc', 'head']
    assert 'forward' not in model.conv.__dict__ and 'forward' not in model.fc.__dict__


@pytest.mark.parametrize('capture', CAPTURES)
def test_layer_called_once_by_call_and_once_by_forward_is_reused(capture):
    assert verdicts(CallsForwardAndCall().eval(), torch.randn(1, 4), capture) == \
        {'fc': 'reused', 'head': 'quantize'}


def test_layer_called_with_keyword_arguments_is_listed_with_its_input_rank_d13():
    class KeywordCall(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x, image):
            return self.fc(input=x), self.conv(input=image)

    for capture in CAPTURES:
        rows = verdicts(KeywordCall().eval(), (torch.randn(1, 4), torch.randn(3, 8, 8)), capture)
        assert rows == {'fc': 'quantize', 'conv': 'unbatched_input'}, capture


# ---- 3. input_data ending with a dict ---------------------------------------------------

class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_x = nn.Linear(4, 2)
        self.fc_y = nn.Linear(6, 2)

    def forward(self, x, y=None, scale=1.0):
        return (self.fc_x(x) + self.fc_y(y)) * scale


@pytest.mark.parametrize('capture', ['auto'] + CAPTURES)
def test_dict_at_the_end_of_input_data_is_keyword_arguments(tmp_path, capture):
    x, y = torch.randn(1, 4), torch.randn(1, 6)
    cfg = config(tmp_path / 'q.json', TwoInputs().eval(), (x, {'y': y}), capture=capture)
    assert layers_of(cfg) == ['fc_x', 'fc_y']
    config(tmp_path / 'p.json', TwoInputs().eval(), (x, y), capture=capture)
    assert (tmp_path / 'q.json').read_bytes() == (tmp_path / 'p.json').read_bytes()


def test_dict_keys_that_name_no_later_parameter_are_ignored_as_by_the_exporter(tmp_path):
    x, y = torch.randn(1, 4), torch.randn(1, 6)
    cfg = config(tmp_path / 'q.json', TwoInputs().eval(),
                 (x, {'y': y, 'x': torch.randn(1, 9), 'unknown': 3}))
    assert layers_of(cfg) == ['fc_x', 'fc_y']


def test_dict_alone_in_the_tuple_holds_every_argument(tmp_path):
    x, y = torch.randn(1, 4), torch.randn(1, 6)
    assert layers_of(config(tmp_path / 'q.json', TwoInputs().eval(),
                            ({'x': x, 'y': y, 'scale': 2.0},))) == ['fc_x', 'fc_y']


# ---- 4. a model that is itself a layer --------------------------------------------------

@pytest.mark.parametrize('model, x', [
    (lambda: nn.Linear(4, 2), lambda: torch.randn(1, 4)),
    (lambda: nn.Linear(4, 2), lambda: torch.randn(1, 7)),  # fails before it runs
    (lambda: nn.ReLU(), lambda: torch.randn(1, 4)),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode='reflect'), lambda: torch.randn(1, 3, 8, 8)),
    (lambda: nn.BatchNorm2d(3), lambda: torch.randn(2, 3, 4, 4)),
    (lambda: nn.AvgPool2d(2), lambda: torch.randn(1, 3, 4, 4)),
    (lambda: nn.Conv1d(3, 4, 3), lambda: torch.randn(1, 3, 8)),
    (lambda: nn.LSTM(4, 4), lambda: torch.randn(3, 1, 4)),
], ids=['linear', 'linear_wrong_input', 'relu', 'conv2d_reflect', 'batchnorm2d', 'avgpool2d',
        'conv1d', 'lstm'])
def test_model_that_is_itself_a_layer_has_no_parent_module(workdir, model, x):
    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', model(), x())
    assert type(info.value) is RuntimeError
    assert str(info.value).startswith('model has no parent module.')
    assert 'torch.nn.Sequential(model)' in str(info.value)
    assert os.listdir('.') == []


@pytest.mark.parametrize('model, x', [
    (lambda: nn.Conv1d(3, 4, 3, padding_mode='circular'), lambda: torch.randn(1, 3, 8)),
    (lambda: nn.LSTM(4, 4, bidirectional=True), lambda: torch.randn(3, 1, 4)),
    (lambda: nn.Dropout(), lambda: torch.randn(1, 4)),
], ids=['conv1d_circular', 'lstm_bidirectional', 'dropout'])
def test_bare_module_the_reference_does_not_mark_has_no_layer(workdir, model, x):
    with pytest.raises(ValueError, match='^No layer support quantization in the graph.'):
        amct.create_quant_config('q.json', model(), x())


def test_the_same_layer_inside_a_container_is_configured(workdir):
    cfg = config('q.json', nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4))
    assert layers_of(cfg) == ['0']


# ---- 5. one module under two names ------------------------------------------------------

class Aliased(nn.Module):
    def __init__(self, calls):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = self.a  # one module, two names; named_modules() says 'a'
        self.head = nn.Linear(4, 2)
        self.calls = calls

    def forward(self, x):
        for name in self.calls:
            x = getattr(self, name)(x)
        return self.head(x)


@pytest.mark.parametrize('capture', CAPTURES)
@pytest.mark.parametrize('calls, verdict', [
    (['a'], 'quantize'),
    (['a', 'b'], 'quantize'),   # the call through 'b' goes round the reference's marker
    (['b', 'a'], 'quantize'),
    (['b'], 'not_executed'),    # only through the second name: never seen
    (['a', 'a'], 'reused'),
], ids=['a', 'a_then_b', 'b_then_a', 'b_only', 'a_twice'])
def test_module_under_two_names_counts_only_calls_through_its_first_name(capture, calls,
                                                                         verdict):
    model = Aliased(calls).eval()
    assert verdicts(model, torch.randn(1, 4), capture) == {'a': verdict, 'head': 'quantize'}
    assert model.b is model.a and model._modules['b'] is model.a  # put back


@pytest.mark.parametrize('capture', CAPTURES)
def test_sequential_holding_one_module_twice_lists_it_under_its_first_name(tmp_path, capture):
    fc = nn.Linear(4, 4)
    model = nn.Sequential(fc, nn.ReLU(), fc, nn.Linear(4, 2)).eval()
    assert layers_of(config(tmp_path / 'q.json', model, torch.randn(1, 4), capture=capture)) == \
        ['0', '3']
    assert model[2] is fc


class BlockUnderTwoNames(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(3, 3, 1))
        self.b2 = self.b1

    def forward(self, x):
        return self.b2(x)


@pytest.mark.parametrize('capture', CAPTURES)
def test_layer_of_a_container_under_two_names_has_one_place(capture):
    # b1 and b2 are one block, so its conv has one place, named 'b1.0',
    # whichever name the block is called through
    assert verdicts(BlockUnderTwoNames().eval(), torch.randn(1, 3, 4, 4), capture) == \
        {'b1.0': 'quantize'}


# ---- 6. batch_num of any size -----------------------------------------------------------

@pytest.mark.parametrize('batch_num', [2**63 - 1, 2**63, 2**64 + 5, 10**40])
def test_batch_num_of_any_size_is_written(workdir, batch_num):
    amct.create_quant_config('q.json', nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4),
                             batch_num=batch_num)
    text = pathlib.Path('q.json').read_text()
    assert '\n    "batch_num":%d,\n' % batch_num in text
    assert json.loads(text)['batch_num'] == batch_num


@pytest.mark.parametrize('batch_num', [-2**63 - 1, -10**30])
def test_batch_num_far_below_zero_is_the_references_value_error(workdir, batch_num):
    with pytest.raises(ValueError) as info:
        amct.create_quant_config('q.json', nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4),
                                 batch_num=batch_num)
    assert str(info.value).startswith('The batch_num must be greater than zero. Got %d;'
                                      % batch_num)


def test_batch_num_beyond_int64_is_ignored_with_a_simple_config(workdir):
    pathlib.Path('quant.cfg').write_text('batch_num: 3\n')
    amct.create_quant_config('q.json', nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4),
                             batch_num=2**70, config_defination='quant.cfg')
    assert json.loads(pathlib.Path('q.json').read_text())['batch_num'] == 3


# ---- 7. argument binding ----------------------------------------------------------------

@pytest.mark.parametrize('call, message', [
    (lambda m, x: amct.create_quant_config('q.json', m, x, x=1),
     "got an unexpected keyword argument 'x'"),
    (lambda m, x: amct.create_quant_config('q.json', m),
     "missing a required argument: 'input_data'"),
    (lambda m, x: amct.create_quant_config(model=m, input_data=x),
     "missing a required argument: 'config_file'"),
    (lambda m, x: amct.create_quant_config('q.json', m, x, None, 1, True, None, 'extra'),
     'too many positional arguments'),
    (lambda m, x: amct.create_quant_config('q.json', m, x, model=m),
     "multiple values for argument 'model'"),
], ids=['unknown_keyword', 'missing_input_data', 'missing_config_file', 'too_many', 'twice'])
def test_argument_binding_errors_have_inspect_signature_bind_words(workdir, call, message):
    with pytest.raises(TypeError) as info:
        call(nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4))
    assert str(info.value) == message
    assert os.listdir('.') == []


def test_functions_still_show_their_own_signatures():
    assert list(inspect.signature(amct.create_quant_config).parameters) == [
        'config_file', 'model', 'input_data', 'skip_layers', 'batch_num', 'activation_offset',
        'config_defination', 'capture']
    assert list(inspect.signature(amct.inspect_layers).parameters) == [
        'model', 'input_data', 'capture']
    assert amct.create_quant_config.__doc__.startswith('Find the quantizable layers')


# ---- 8. enum names in simple-config errors ----------------------------------------------

@pytest.mark.parametrize('block, enum', [('ifmr_quantize', 'FMRQuantize'),
                                         ('hfmg_quantize', 'HFMGQuantize')])
def test_unknown_dst_type_names_the_enum_nested_in_its_message(workdir, block, enum):
    pathlib.Path('quant.cfg').write_text(
        'common_config {\n  %s {\n    dst_type: INT4\n  }\n}\n' % block)
    with pytest.raises(amct.ConfigParseError) as info:
        amct.create_quant_config('q.json', nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4),
                                 config_defination='quant.cfg')
    assert str(info.value) == ("3:15 : '    dst_type: INT4': Enum type "
                               '"AMCTPytorchProto.%s.CalibrationDataType" has no value named '
                               'INT4.' % enum)


# ---- 9. inputs on another device --------------------------------------------------------

def test_meta_inputs_for_a_cpu_model_keep_the_references_prefix(workdir):
    with pytest.raises(RuntimeError) as info:
        amct.create_quant_config('q.json', nn.Sequential(nn.Linear(4, 2)),
                                 torch.randn(1, 4, device='meta'))
    assert str(info.value).startswith('The model cannot export to onnx, exception is: '
                                      'input_data is on meta, but the model is on cpu. ')
    assert "input_data.to('cpu')" in str(info.value)


# ---- 10. the caller's model never changes -----------------------------------------------

def lazy_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.LazyConv2d(8, 3), nn.Flatten(), nn.LazyLinear(4),
                         nn.Linear(4, 2))


def parametrized_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 4), nn.Linear(4, 2))
    parametrize.register_parametrization(model[2], 'weight', _Scale())
    parametrize.register_parametrization(model[3], 'weight', _Scale())
    return model


class _Scale(nn.Module):
    def forward(self, w):
        return w * 2


def pruned_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 4), nn.Linear(4, 2))
    prune.l1_unstructured(model[0], 'weight', 0.5)
    prune.random_unstructured(model[2], 'weight', 0.3)
    return model


def aliased_model():
    return Aliased(['a', 'b'])


MODELS = {'lazy': (lazy_model, (1, 3, 8, 8)), 'parametrized': (parametrized_model, (1, 3, 8, 8)),
          'pruned': (pruned_model, (1, 3, 8, 8)), 'aliased': (aliased_model, (1, 4))}


def snapshot(model):
    lazy = torch.nn.parameter.UninitializedTensorMixin
    return {
        'state': {k: (type(t), id(t), t.requires_grad,
                      None if isinstance(t, lazy) else t.detach().clone())
                  for k, t in model.state_dict(keep_vars=True).items()},
        'classes': {n: type(m) for n, m in model.named_modules()},
        'objects': {n: id(m) for n, m in model.named_modules(remove_duplicate=False)},
        'flags': {n: m.training for n, m in model.named_modules()},
        'attributes': {n: sorted(m.__dict__) for n, m in model.named_modules()},
        'tensor_attributes': {(n, k): (id(v), v.requires_grad, v.grad_fn is None)
                              for n, m in model.named_modules() for k, v in m.__dict__.items()
                              if isinstance(v, torch.Tensor)},
        'hooks': {n: (len(m._forward_pre_hooks), len(m._forward_hooks))
                  for n, m in model.named_modules()},
    }


def assert_same(before, after):
    assert after.keys() == before.keys()
    for key in ('classes', 'objects', 'flags', 'attributes', 'tensor_attributes', 'hooks'):
        assert after[key] == before[key], key
    assert after['state'].keys() == before['state'].keys()
    for name, (kind, ident, grad, value) in before['state'].items():
        now = after['state'][name]
        assert now[:3] == (kind, ident, grad), name
        assert (value is None and now[3] is None) or torch.equal(value, now[3]), name


@pytest.mark.parametrize('capture', ['auto'] + CAPTURES)
@pytest.mark.parametrize('kind', sorted(MODELS))
def test_every_capture_path_leaves_the_callers_model_identical(tmp_path, kind, capture):
    build, shape = MODELS[kind]
    torch.manual_seed(0)
    model = build().train()
    last = model[-1] if isinstance(model, nn.Sequential) else model.head
    last.eval()  # a mixed state must stay mixed
    before = snapshot(model)
    x = torch.randn(*shape)
    try:
        amct.create_quant_config(str(tmp_path / 'first.json'), model, x, capture=capture)
    except RuntimeError as exc:  # capture='meta' may not run this model; it must not touch it
        assert capture == 'meta', exc
        assert_same(before, snapshot(model))
        return
    assert_same(before, snapshot(model))
    amct.create_quant_config(str(tmp_path / 'second.json'), model, x, capture=capture)
    assert (tmp_path / 'first.json').read_bytes() == (tmp_path / 'second.json').read_bytes()
    assert_same(before, snapshot(model))


def test_lazy_modules_are_not_layers_and_stay_uninitialized(tmp_path):
    model = lazy_model()
    cfg = config(tmp_path / 'q.json', model, torch.randn(1, 3, 8, 8))
    assert layers_of(cfg) == ['0', '4']  # LazyConv2d / LazyLinear are not quantizable classes
    assert type(model[1]) is nn.LazyConv2d and type(model[3]) is nn.LazyLinear
    assert isinstance(model[1].weight, torch.nn.parameter.UninitializedParameter)


# ---- 11. capture='real' gives the default's file ----------------------------------------

def encoder_layer(frozen):
    model = nn.Sequential(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)).eval()
    for p in model.parameters():
        p.requires_grad_(not frozen)
    return model


@pytest.mark.parametrize('frozen', [False, True], ids=['trainable', 'frozen'])
def test_real_capture_of_an_encoder_layer_in_eval_mode_gives_the_default_file(tmp_path, frozen):
    # Under no_grad, PyTorch's fused fast path would compute linear1/linear2
    # itself and never call them.
    model, x = encoder_layer(frozen), torch.randn(2, 5, 16)
    cfg = config(tmp_path / 'auto.json', model, x)
    assert layers_of(cfg) == ['0.linear1', '0.linear2']
    config(tmp_path / 'real.json', model, x, capture='real')
    assert (tmp_path / 'real.json').read_bytes() == (tmp_path / 'auto.json').read_bytes()


def test_real_capture_of_a_transformer_encoder_with_a_padding_mask_gives_the_default_file(
        tmp_path):
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True),
                                  num_layers=2).eval()
    x, mask = torch.randn(2, 5, 16), torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 3:] = True
    config(tmp_path / 'auto.json', model, (x, {'src_key_padding_mask': mask}))
    config(tmp_path / 'real.json', model, (x, {'src_key_padding_mask': mask}), capture='real')
    assert (tmp_path / 'real.json').read_bytes() == (tmp_path / 'auto.json').read_bytes()
    assert 'layers.1.linear2' in json.loads((tmp_path / 'auto.json').read_text())


# ---- 12. the deliberate differences are documented --------------------------------------

SPEC = os.path.join(SHARED, 'spec', 'reference-behaviour.md')
README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'README.md')


@pytest.mark.skipif(not os.path.exists(SPEC), reason='../shared/spec is absent')
def test_readme_lists_every_create_quant_config_deviation_of_the_spec():
    spec = pathlib.Path(SPEC).read_text()
    section = spec[spec.index('## 0b.'):spec.index('## 1. ')]
    deviations = re.findall(r'^\* \*\*(D\d+) —', section, flags=re.M)
    assert {'D13', 'D14'} <= set(deviations)
    readme = pathlib.Path(README).read_text()
    for d in deviations:
        assert '\n| %s |' % d in readme, d
