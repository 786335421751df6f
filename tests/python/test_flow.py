"""The calibration flow's behaviour beyond the kit's byte comparisons: when
the record is rewritten (§4.3, §11.3), the CLI's save-model writes what
save_model writes, and the calibration model computes float activations with
the modified ONNX's weights."""
import os
import subprocess

import pytest
import torch
from torch import nn

import openamct as amct

CLI = os.environ.get('OPENAMCT_CLI', os.path.join(
    os.environ.get('OPENAMCT_BUILD_DIR', 'build'), 'bin', 'openamct'))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.deconv = nn.ConvTranspose2d(4, 3, 2)
        self.fc = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        y = self.deconv(torch.relu(self.bn(self.conv(x))))
        return self.fc(y.mean((2, 3)))


def _data(seed):
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    model = Net().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    cfg = str(tmp_path / 'c.json')
    amct.create_quant_config(cfg, model, _data(0), batch_num=2)
    return {'model': model, 'config': cfg, 'onnx': str(tmp_path / 'm.onnx'),
            'record': str(tmp_path / 'r.txt'), 'dir': tmp_path}


def test_record_gets_activation_fields_once_at_call_batch_num(files):
    cm = amct.quantize_model(files['config'], files['onnx'], files['record'], files['model'],
                             _data(0))
    weights_only = open(files['record'], 'rb').read()
    assert b'scale_w' in weights_only and b'scale_d' not in weights_only
    cm(_data(1))
    assert open(files['record'], 'rb').read() == weights_only
    cm(_data(2))
    complete = open(files['record'], 'rb').read()
    assert complete.count(b'scale_d') == 3  # conv, deconv, fc
    cm(_data(3))  # later calls change nothing
    assert open(files['record'], 'rb').read() == complete


def test_cli_save_model_writes_the_same_files_as_python(files, tmp_path):
    cm = amct.quantize_model(files['config'], files['onnx'], files['record'], files['model'],
                             _data(0))
    cm(_data(1))
    cm(_data(2))
    amct.save_model(files['onnx'], files['record'], str(tmp_path / 'py' / 'quant'))
    run = subprocess.run([CLI, 'save-model', '--modified', files['onnx'], '--record',
                          files['record'], '-o', str(tmp_path / 'cli' / 'quant')],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for suffix in ('_deploy_model.onnx', '_fake_quant_model.onnx'):
        py = open(str(tmp_path / 'py' / 'quant') + suffix, 'rb').read()
        cli = open(str(tmp_path / 'cli' / 'quant') + suffix, 'rb').read()
        assert py == cli


def test_cli_save_model_reports_the_reference_error(files, tmp_path):
    cm = amct.quantize_model(files['config'], files['onnx'], files['record'], files['model'],
                             _data(0))
    cm(_data(1))  # too few calls: no scale_d yet
    run = subprocess.run([CLI, 'save-model', '--modified', files['onnx'], '--record',
                          files['record'], '-o', str(tmp_path / 'out' / 'q')],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert 'RuntimeError: cannot find scale_d of layer conv in record_file' in run.stderr
    assert not os.path.exists(tmp_path / 'out')


def test_calibration_model_matches_the_modified_onnx_weights(files):
    onnx = pytest.importorskip('onnx')
    from onnx import numpy_helper
    cm = amct.quantize_model(files['config'], files['onnx'], files['record'], files['model'],
                             _data(0))
    inits = {t.name: numpy_helper.to_array(t)
             for t in onnx.load(files['onnx']).graph.initializer}
    conv_w = cm.conv.sub_module.weight.detach().numpy()
    assert (inits['conv.sub_module.weight'] == conv_w).all()
    # Conv+BN fused: the BN is an identity in the copy and gone from the graph.
    assert isinstance(cm.bn, nn.Identity)
    assert not any(n.startswith('bn.') for n in inits)
    # K1: the ConvTranspose weight stays float (not on the ARQ grid).
    assert (inits['deconv.sub_module.weight'] == files['model'].deconv.weight.detach().numpy()).all()
    assert isinstance(files['model'].bn, nn.BatchNorm2d)  # the caller's model is untouched
