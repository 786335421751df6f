"""openamct.check_config: every config of the calibration kit passes against
its model; hand-edited broken variants fail with the reference's type and
message (spec §3); the C++ API (TorchScript) and the `openamct check-config`
command agree with the Python API."""
import copy
import importlib.util
import json
import os
import subprocess

import pytest
import torch

import openamct
from conftest import BUILD, SHARED

KIT = os.path.join(SHARED, 'calibration')
CLI = os.environ.get('OPENAMCT_CLI', os.path.join(BUILD, 'bin', 'openamct'))


def _kit_cases():
    path = os.path.join(KIT, 'e2e_cases.jsonl')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _models():
    spec = importlib.util.spec_from_file_location('_kit_models', os.path.join(KIT, 'models.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _enabled_in_module_order(config, model):
    return [n for n, _ in model.named_modules()
            if isinstance(config.get(n), dict) and config[n].get('quant_enable')]


def _kit_params():
    cases = _kit_cases()
    if not cases:  # one skipped case that says why, not a collection error
        return [pytest.param(None, id='no-kit', marks=pytest.mark.skip(
            reason='the calibration kit is not next to the source tree'))]
    return [pytest.param(c, id=c['id']) for c in cases]


@pytest.mark.parametrize('case', _kit_params())
def test_every_kit_config_passes_against_its_model(case):
    model = _models().build_model(case['model'])
    path = os.path.join(KIT, 'e2e', case['id'], 'config.json')
    with open(path) as f:
        config = json.load(f)
    summary = openamct.check_config(path, model, torch.randn(*case['input_shape']))
    assert summary['batch_num'] == config['batch_num']
    assert [l['name'] for l in summary['layers']] == _enabled_in_module_order(config, model)
    for layer in summary['layers']:
        act = config[layer['name']]['activation_quant_params']
        assert layer['act_algo'] == act.get('act_algo', 'ifmr')
        assert layer['asymmetric'] == act.get('asymmetric', config['activation_offset'])
        assert layer['dmq_balancer_param'] == config[layer['name']].get('dmq_balancer_param')


# ---- hand-edited configs of TinyNet -----------------------------------------------------

@pytest.fixture(scope='module')
def tinynet():
    if not _kit_cases():
        pytest.skip('the calibration kit is not next to the source tree')
    return _models().build_model('tinynet')


@pytest.fixture(scope='module')
def tiny_config():
    with open(os.path.join(KIT, 'e2e', 'tinynet_default', 'config.json')) as f:
        return json.load(f)


def _write(tmp_path, config, name='q.json'):
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else json.dumps(config, indent=4))
    return str(path)


def _edited(config, edit):
    c = copy.deepcopy(config)
    edit(c)
    return c


BROKEN = [
    # (id, edit, exception type, message)
    ('layer_without_activation_params',
     lambda c: c['conv1'].pop('activation_quant_params'), ValueError,
     'activation_quant_params is missing in layer conv1'),
    ('unknown_layer', lambda c: c.__setitem__('conv9', c['conv1']), ValueError,
     'conv9 is an invalid layer name or parameter.'),
    ('module_that_cannot_be_quantized', lambda c: c.__setitem__('bn1', c['conv1']), ValueError,
     'layer bn1 does not support quant.'),
    ('unknown_layer_key', lambda c: c['conv1'].__setitem__('batch_num', 2), ValueError,
     'Unknown parameter batch_num in layer conv1'),
    ('percentile_out_of_range',
     lambda c: c['conv1']['activation_quant_params'].__setitem__('max_percentile', 0.4),
     ValueError,
     'The max_percentile must be greater than 0.5 and less than or equal to 1.0 in layer conv1'),
    ('quant_enable_not_bool', lambda c: c['fc'].__setitem__('quant_enable', 1), TypeError,
     "Type of quant_enable should be <class 'bool'>, but is <class 'int'> in layer fc"),
    ('int16_on_pool',
     lambda c: c['pool']['activation_quant_params'].__setitem__('num_bits', 16), ValueError,
     'current layer pool does not support int16 quant.'),
    ('batch_num_zero', lambda c: c.__setitem__('batch_num', 0), ValueError,
     'The batch_num must be greater than zero.'),
    ('nothing_enabled',
     lambda c: [c[k].__setitem__('quant_enable', False) for k in c if isinstance(c[k], dict)],
     RuntimeError,
     'No quant enable layer in quant config file, please check the quant config file.'),
]


@pytest.mark.parametrize('name,edit,error,message', BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_fails_with_the_references_type_and_message(
        tmp_path, tinynet, tiny_config, name, edit, error, message):
    path = _write(tmp_path, _edited(tiny_config, edit))
    before = open(path, 'rb').read()
    with pytest.raises(error) as info:
        openamct.check_config(path, tinynet, torch.randn(2, 3, 8, 8))
    assert str(info.value).startswith(message), str(info.value)
    assert type(info.value) is error
    assert open(path, 'rb').read() == before  # nothing written


def test_repeated_key_names_the_resolved_path(tmp_path, tinynet):
    text = '{"batch_num":1,"batch_num":2}'
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        openamct.check_config(os.path.join(str(tmp_path), '.', 'q.json'), tinynet,
                              torch.randn(2, 3, 8, 8))
    assert str(info.value) == ("Please delete repeated items in %s, repeated items are "
                               "['batch_num'] " % path)


def test_json_syntax_error_is_a_value_error_with_pythons_text(tmp_path, tinynet):
    path = _write(tmp_path, '{"version": 1,}')
    with pytest.raises(ValueError) as info:
        openamct.check_config(path, tinynet, torch.randn(2, 3, 8, 8))
    try:
        json.loads('{"version": 1,}')
    except json.JSONDecodeError as e:
        assert str(info.value) == str(e)


def test_missing_config_is_the_references_oserror(tmp_path, tinynet):
    missing = tmp_path / 'missing.json'
    with pytest.raises(OSError) as info:
        openamct.check_config(missing, tinynet, torch.randn(2, 3, 8, 8))  # os.PathLike too
    assert str(info.value) == 'file (%s) does not exist!' % missing


@pytest.mark.parametrize('value,message', [
    ('', 'empty string is an invalid value for config_file'),
    ('dir/', "config_file{dir/} should be a file's name but a path."),
])
def test_config_file_name_checks(value, message, tinynet):
    with pytest.raises(ValueError) as info:
        openamct.check_config(value, tinynet, torch.randn(2, 3, 8, 8))
    assert str(info.value) == message


def test_argument_types(tinynet, tiny_config, tmp_path):
    with pytest.raises(TypeError, match="Func check_config argument config_file must be "
                                        "<class 'str'>"):
        openamct.check_config(3, tinynet, torch.randn(2, 3, 8, 8))
    with pytest.raises(TypeError, match="Func check_config argument model must be"):
        openamct.check_config(_write(tmp_path, tiny_config), 'model', torch.randn(2, 3, 8, 8))
    with pytest.raises(RuntimeError, match='input data type must be tuple or torch.Tensor!'):
        openamct.check_config(_write(tmp_path, tiny_config), tinynet, [1])


# ---- the same through the C++ API (TorchScript) and the command -------------------------

@pytest.fixture(scope='module')
def tinynet_file(tmp_path_factory, tinynet):
    path = tmp_path_factory.mktemp('ts') / 'tinynet.pt'
    torch.jit.save(torch.jit.trace(tinynet, torch.randn(2, 3, 8, 8)), str(path))
    return str(path)


def test_torchscript_model_gives_the_same_summary(tinynet, tinynet_file):
    path = os.path.join(KIT, 'e2e', 'tinynet_hfmg', 'config.json')
    eager = openamct.check_config(path, tinynet, torch.randn(2, 3, 8, 8))
    scripted = openamct.check_config(path, torch.jit.load(tinynet_file), torch.randn(2, 3, 8, 8))
    assert scripted == eager
    assert [l['act_algo'] for l in eager['layers']] == ['hfmg'] * len(eager['layers'])


def _cli(*args):
    return subprocess.run([CLI, 'check-config', *args], capture_output=True, text=True)


@pytest.mark.skipif(not os.path.exists(CLI), reason='the openamct command is not built')
def test_cli_accepts_a_kit_config(tinynet_file):
    done = _cli('--model', tinynet_file, '--input-shape', '2,3,8,8', '--config',
                os.path.join(KIT, 'e2e', 'tinynet_dmq', 'config.json'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('config is valid: batch_num 2, 4 layers to calibrate\n')
    assert 'dmq_balancer_param 0.5' in done.stdout


@pytest.mark.skipif(not os.path.exists(CLI), reason='the openamct command is not built')
def test_cli_rejects_a_broken_config_with_exit_status_1(tmp_path, tinynet_file, tiny_config):
    path = _write(tmp_path, _edited(tiny_config, lambda c: c.__setitem__('conv9', {})))
    done = _cli('--model', tinynet_file, '--input-shape', '2,3,8,8', '--config', path)
    assert done.returncode == 1
    assert done.stderr == 'error: ValueError: conv9 is an invalid layer name or parameter.\n'
    assert _cli('--model', tinynet_file).returncode == 2
