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


class _WideNet(nn.Module):
    """A conv and a Linear whose weight (12 KB) is the largest initializer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _flow_with_threshold(work, threshold):
    """The whole flow on _WideNet with the 2 GB limit lowered to `threshold`
    bytes (-1: the real limit); returns {initializer: array} of the saved models."""
    onnx = pytest.importorskip('onnx')
    from onnx import numpy_helper
    from openamct import _C
    torch.manual_seed(0)
    model, x = _WideNet().eval(), _data(3)
    os.makedirs(work)
    cfg, onnx_path, rec = (os.path.join(work, f) for f in ('c.json', 'm.onnx', 'r.txt'))
    amct.create_quant_config(cfg, model, x)
    _C.onnx_set_external_data_threshold_for_testing(threshold)
    try:
        cm = amct.quantize_model(cfg, onnx_path, rec, model, x)
        with torch.no_grad():
            cm(x)
        amct.save_model(onnx_path, rec, os.path.join(work, 'q'))
    finally:
        _C.onnx_set_external_data_threshold_for_testing(-1)
    out = {}
    for kind in ('deploy', 'fake_quant'):
        m = onnx.load(os.path.join(work, 'q_%s_model.onnx' % kind))
        out[kind] = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return out


def test_a_modified_onnx_over_the_limit_is_written_and_read_with_side_files(tmp_path):
    # The modified ONNX (~13 KB) goes over a 10 KB limit: fc's weight moves to a
    # side file, which save_model reads back; the saved models are the same.
    split = _flow_with_threshold(str(tmp_path / 'split'), 10000)
    assert 'fc.sub_module.weight_modified.external' in os.listdir(tmp_path / 'split')
    whole = _flow_with_threshold(str(tmp_path / 'whole'), -1)
    assert not [f for f in os.listdir(tmp_path / 'whole') if f.endswith('.external')]
    for kind in ('deploy', 'fake_quant'):
        assert split[kind].keys() == whole[kind].keys()
        for name, value in whole[kind].items():
            assert split[kind][name].dtype == value.dtype
            assert split[kind][name].tobytes() == value.tobytes(), name


def test_save_model_names_a_missing_side_file(tmp_path):
    work = str(tmp_path / 'split')
    _flow_with_threshold(work, 10000)
    os.remove(os.path.join(work, 'fc.sub_module.weight_modified.external'))
    with pytest.raises(RuntimeError, match="initializer 'fc.sub_module.weight' of .* has its "
                       "data in .*fc.sub_module.weight_modified.external', which cannot be read"):
        amct.save_model(os.path.join(work, 'm.onnx'), os.path.join(work, 'r.txt'),
                        os.path.join(work, 'again'))
    assert not os.path.exists(os.path.join(work, 'again_deploy_model.onnx'))
