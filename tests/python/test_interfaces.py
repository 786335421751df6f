"""One core, three interfaces: for the same model,

(a) the layer table of the Python producer (forward pre-hooks on the eager
    model) equals the layer table of the TorchScript producer (C++ analysis of
    the traced or scripted module), and
(b) the Python API on the eager model, the C++ API on the TorchScript module
    (through the binding) and the `openamct` command on the saved TorchScript
    file write the same bytes.

Inputs are what the command draws: torch.manual_seed(1), one torch.randn per
--input-shape. OPENAMCT_CLI names the command (ctest sets it).
"""
import os
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

import openamct
from openamct import _C, _capture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'models'))
import make_fixtures as fixtures  # noqa: E402

BUILD = os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(ROOT, 'build'))
CLI = os.environ.get('OPENAMCT_CLI', os.path.join(BUILD, 'bin', 'openamct'))

KINDS = ('traced', 'scripted')


class ConvBnLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.bn(self.conv(x)))).mean((2, 3)))


class LstmNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 8)
        self.lstm = nn.LSTM(8, 16)
        self.gru = nn.GRU(16, 8, num_layers=2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(self.embed(x))
        z, _ = self.gru(y)
        return self.head(z[-1])


def _resnet18():
    import torchvision
    return torchvision.models.resnet18(weights=None)


# name -> (builder, input shapes)
MODELS = {
    'resnet18': (_resnet18, [(1, 3, 224, 224)]),
    'conv_bn_linear': (ConvBnLinear, [(2, 3, 16, 16)]),
    'lstm_net': (LstmNet, [(5, 2, 6)]),
}
for _name, (_cls, _shapes, _train) in fixtures.MODELS.items():
    MODELS[_name] = (_cls, _shapes)


def build(name):
    torch.manual_seed(0)
    return MODELS[name][0]().eval()


def inputs_of(name):
    return fixtures.input_data(MODELS[name][1])


def to_torchscript(name, kind):
    model = build(name)
    return fixtures.to_torchscript(model, inputs_of(name), kind)


# The defaults of openamct::ModuleRecord (include/openamct/layer_table.h): a
# producer may leave a field out when it has its default value.
RECORD_DEFAULTS = {
    'name': None, 'type_name': None, 'call_count': 0, 'input_rank': -1, 'padding_mode': '',
    'dilation': [], 'has_bias': False, 'weight_shape': [], 'groups': 1, 'weight_id': -1,
    'num_layers': 1, 'bidirectional': False, 'dropout': 0.0, 'proj_size': 0, 'hidden_size': 0,
}


def full_records(rows):
    return [{key: list(row[key]) if isinstance(row.get(key), tuple) else row.get(key, default)
             for key, default in RECORD_DEFAULTS.items()} for row in rows]


def table_difference(python_rows, torchscript_rows):
    """A readable account of how two tables differ ('' when they are equal)."""
    a, b = full_records(python_rows), full_records(torchscript_rows)
    lines = []
    if [r['name'] for r in a] != [r['name'] for r in b]:
        lines.append('names: %r != %r' % ([r['name'] for r in a], [r['name'] for r in b]))
    for x, y in zip(a, b):
        for key in RECORD_DEFAULTS:
            if x[key] != y[key]:
                lines.append('%s.%s: python %r, torchscript %r' % (x['name'], key, x[key], y[key]))
    return '\n'.join(lines)


# ---- (a) the two producers give the same table --------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('name', sorted(MODELS))
def test_python_and_torchscript_capture_give_the_same_table(name, kind):
    model, inputs = build(name), inputs_of(name)
    python_rows = _capture.capture_layer_table(model, inputs)
    scripted = to_torchscript(name, kind)
    torchscript_rows = _C.capture_torchscript(scripted._c, list(inputs))
    assert table_difference(python_rows, torchscript_rows) == ''


@pytest.mark.parametrize('kind', KINDS)
def test_tables_agree_on_the_facts_that_matter(kind):
    """Guards the comparison itself: the tables are not equal by being empty."""
    rows = {r['name']: r for r in full_records(
        _C.capture_torchscript(to_torchscript('calls', kind)._c, list(inputs_of('calls'))))}
    assert rows['twice']['call_count'] == 2
    assert rows['looped']['call_count'] == 3
    assert rows['unused']['call_count'] == 0
    assert rows['unbatched']['input_rank'] == 3
    rows = {r['name']: r for r in full_records(
        _C.capture_torchscript(to_torchscript('padding', kind)._c, list(inputs_of('padding'))))}
    assert rows['c_reflect']['padding_mode'] == 'reflect'
    assert rows['d_depth']['dilation'] == [2, 1, 1]


# ---- (b) the three interfaces write the same bytes -----------------------------------------

def run_cli(args, cwd):
    return subprocess.run([CLI] + args, cwd=str(cwd), capture_output=True, text=True)


def cli_arguments(name, options):
    args = []
    for shape in MODELS[name][1]:
        args += ['--input-shape', ','.join(str(d) for d in shape)]
    for layer in options.get('skip_layers', []):
        args += ['--skip-layer', layer]
    if 'batch_num' in options:
        args += ['--batch-num', str(options['batch_num'])]
    if 'activation_offset' in options:
        args += ['--activation-offset', 'true' if options['activation_offset'] else 'false']
    return args


CALLS = [
    ('resnet18', {}),
    ('conv_bn_linear', {'skip_layers': ['fc'], 'batch_num': 4}),
    ('lstm_net', {'activation_offset': False}),
    ('calls', {}),
    ('padding', {'skip_layers': ['c_zeros', 'deconv']}),
    ('shared', {}),
    ('recurrent', {'batch_num': 2, 'activation_offset': False}),
]


@pytest.mark.skipif(not os.path.exists(CLI), reason='the openamct command is not built: %s' % CLI)
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('name,options', CALLS, ids=[c[0] for c in CALLS])
def test_python_api_cpp_api_and_cli_write_the_same_bytes(name, options, kind, tmp_path):
    inputs = inputs_of(name)
    python_file = tmp_path / 'python.json'
    openamct.create_quant_config(str(python_file), build(name), inputs, **options)

    scripted = to_torchscript(name, kind)
    model_file = tmp_path / ('%s_%s.pt' % (name, kind))
    torch.jit.save(scripted, str(model_file))
    cpp_file = tmp_path / 'cpp.json'
    openamct.create_quant_config(str(cpp_file), torch.jit.load(str(model_file)), inputs, **options)

    result = run_cli(['create-quant-config', '--model', str(model_file), '-o', 'cli.json'] +
                     cli_arguments(name, options), tmp_path)
    assert result.returncode == 0, result.stderr

    expected = python_file.read_bytes()
    assert expected.startswith(b'{\n    "version":1,')
    assert cpp_file.read_bytes() == expected
    assert (tmp_path / 'cli.json').read_bytes() == expected


@pytest.mark.skipif(not os.path.exists(CLI), reason='the openamct command is not built: %s' % CLI)
@pytest.mark.parametrize('kind', KINDS)
def test_cli_layers_lists_the_verdicts_of_inspect_layers(kind, tmp_path):
    name = 'calls'
    model_file = tmp_path / 'calls.pt'
    torch.jit.save(to_torchscript(name, kind), str(model_file))
    result = run_cli(['layers', '--model', str(model_file)] + cli_arguments(name, {}), tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split()[:3] for line in result.stdout.splitlines()[1:]]
    reports = openamct.inspect_layers(build(name), inputs_of(name))
    assert rows == [[r['name'], r['type'], r['verdict']] for r in reports]


# ---- one source for defaults and for the log level ------------------------------------

def test_python_defaults_are_the_cores():
    import inspect
    parameters = inspect.signature(openamct.create_quant_config).parameters
    assert _C.DEFAULTS == {'batch_num': 1, 'activation_offset': True}
    for name, value in _C.DEFAULTS.items():
        assert parameters[name].default is value or parameters[name].default == value
    doc = openamct.create_quant_config.__doc__
    assert '(default 1)' in doc and '(default True)' in doc


@pytest.mark.parametrize('value', ['loud', ''])
def test_bad_log_level_fails_the_import_naming_the_levels(value):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(openamct.__file__)),
               OPENAMCT_LOG_LEVEL=value)
    result = subprocess.run([sys.executable, '-c', 'import openamct'], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith(
        'ValueError: OPENAMCT_LOG_LEVEL=%r is not a log level; use DEBUG, INFO, WARNING or '
        'ERROR' % value.upper()), result.stderr
