"""Bad input to the calibration flow (issue 11 item 6, spec §2 and D11): each
case raises the reference's type and message prefix, leaves every file it
would have written exactly as it was (byte-identical, or still absent, with no
temporary file), and never changes the caller's model."""
import copy
import json
import os
import pathlib

import pytest
import torch
from torch import nn

import openamct as amct
from models import ConvBnReluLinear, images, seeded


Net = ConvBnReluLinear


class Other(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 5, 1)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def _data(seed=0):
    return images(2, seed)


def _net(cls=Net):
    return seeded(cls)


def _snapshot(folder):
    """{relative path: bytes} of every file under folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            with open(p, 'rb') as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [
        (n, type(m)) for n, m in model.named_modules()]


def _same_model(model, state):
    tensors, modules = state
    assert [(n, type(m)) for n, m in model.named_modules()] == modules
    for k, v in model.state_dict().items():
        assert torch.equal(v, tensors[k]), k


@pytest.fixture
def flow(tmp_path):
    """A config for Net (batch_num 2), plus the paths of the flow's files."""
    model = _net()
    config = tmp_path / 'config.json'
    amct.create_quant_config(str(config), model, _data(), batch_num=2)
    return {'model': model, 'config': str(config), 'onnx': str(tmp_path / 'modified.onnx'),
            'record': str(tmp_path / 'record.txt'), 'save': str(tmp_path / 'saved' / 'quant'),
            'dir': tmp_path}


def _calibrated(flow):
    cm = amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    with torch.no_grad():
        cm(_data(1))
        cm(_data(2))
    return cm


def _edit_config(path, edit):
    with open(path) as f:
        cfg = json.load(f)
    edit(cfg)
    with open(path, 'w') as f:
        json.dump(cfg, f)


def test_config_for_another_model_is_a_value_error_and_writes_nothing(flow):
    other = _net(Other)
    before, state = _snapshot(flow['dir']), _state(other)
    with pytest.raises(ValueError, match='^conv is an invalid layer name or parameter.'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], other, _data())
    assert _snapshot(flow['dir']) == before
    _same_model(other, state)


def test_edited_config_with_an_unknown_layer_names_it(flow):
    _edit_config(flow['config'], lambda c: c.update({'no_such_layer': {'quant_enable': True}}))
    before = _snapshot(flow['dir'])
    with pytest.raises(ValueError, match='^no_such_layer is an invalid layer name or parameter.'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    assert _snapshot(flow['dir']) == before


def test_edited_config_with_a_bad_value_names_layer_and_key(flow):
    _edit_config(flow['config'],
                 lambda c: c['conv']['activation_quant_params'].update({'num_bits': 5}))
    before = _snapshot(flow['dir'])
    with pytest.raises(ValueError, match=r'^activation num_bits is not in \[4, 8, 16\].* in layer '
                                         r'conv'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    assert _snapshot(flow['dir']) == before


def test_existing_record_and_onnx_survive_a_failed_quantize_model(flow):
    for p in (flow['record'], flow['onnx']):
        with open(p, 'wb') as f:
            f.write(b'previous content, kept byte for byte')
    _edit_config(flow['config'], lambda c: c.update({'batch_num': 0}))
    before = _snapshot(flow['dir'])
    with pytest.raises(ValueError, match='^The batch_num must be greater than zero.'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    assert _snapshot(flow['dir']) == before


def test_record_from_another_model_is_refused_by_save_model(flow, tmp_path):
    _calibrated(flow)
    other_dir = tmp_path / 'other'
    other_dir.mkdir()
    other = _net(Other)
    amct.create_quant_config(str(other_dir / 'c.json'), other, _data(), batch_num=1)
    cm = amct.quantize_model(str(other_dir / 'c.json'), str(other_dir / 'm.onnx'),
                             str(other_dir / 'r.txt'), other, _data())
    cm(_data())
    before = _snapshot(flow['dir'])
    with pytest.raises(RuntimeError, match='^find features failure in'):
        amct.save_model(flow['onnx'], str(other_dir / 'r.txt'), flow['save'])
    assert _snapshot(flow['dir']) == before


def test_save_model_before_batch_num_batches_names_the_first_layer(flow):
    cm = amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    cm(_data(1))  # one of batch_num=2
    before = _snapshot(flow['dir'])
    with pytest.raises(RuntimeError, match='^cannot find scale_d of layer conv in record_file'):
        amct.save_model(flow['onnx'], flow['record'], flow['save'])
    assert _snapshot(flow['dir']) == before


def test_calibration_model_called_with_the_wrong_input_changes_nothing(flow):
    cm = amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    record = open(flow['record'], 'rb').read()
    with pytest.raises(RuntimeError):
        cm(torch.randn(2, 4, 8, 8))  # 4 channels for a 3-channel conv
    with pytest.raises(TypeError):
        cm('not a tensor')
    assert open(flow['record'], 'rb').read() == record
    cm(_data(1))
    cm(_data(2))  # the two good calls still complete the calibration
    assert b'scale_d' in open(flow['record'], 'rb').read()


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_nan_or_inf_activations_are_a_runtime_error(flow, bad):
    cm = amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    record = open(flow['record'], 'rb').read()
    x = _data(1)
    x[0, 0, 0, 0] = bad
    with pytest.raises(RuntimeError,
                       match='^The activation to be quantized has invalid value inf or nan!'):
        cm(x)
    assert open(flow['record'], 'rb').read() == record


def test_unwritable_output_folders_are_os_errors_and_leave_files(flow):
    blocker = flow['dir'] / 'a_file'
    blocker.write_bytes(b'x')
    with pytest.raises(OSError):
        amct.quantize_model(flow['config'], str(blocker / 'm.onnx'), flow['record'],
                            flow['model'], _data())
    assert not os.path.exists(flow['record'])
    _calibrated(flow)
    before = _snapshot(flow['dir'])
    with pytest.raises(OSError):
        amct.save_model(flow['onnx'], flow['record'], str(blocker / 'sub' / 'quant'))
    assert _snapshot(flow['dir']) == before


def test_paths_accept_os_pathlike_and_reject_what_the_reference_rejects(flow):
    p = pathlib.Path
    cm = amct.quantize_model(p(flow['config']), modfied_onnx_file=p(flow['onnx']),
                             record_file=p(flow['record']), model=flow['model'],
                             input_data=_data())
    cm(_data(1))
    cm(_data(2))
    amct.save_model(modified_onnx_file=p(flow['onnx']), record_file=p(flow['record']),
                    save_path=p(flow['save']))
    assert os.path.exists(flow['save'] + '_deploy_model.onnx')
    assert os.path.exists(flow['save'] + '_fake_quant_model.onnx')
    with pytest.raises(ValueError, match='^empty string is an invalid value for record_file'):
        amct.save_model(flow['onnx'], '', flow['save'])
    with pytest.raises(ValueError, match=r'^modfied_onnx_file\{.*/\} should be a file\'s name'):
        amct.save_model(flow['onnx'] + '/', flow['record'], flow['save'])
    with pytest.raises(ValueError, match='^The input onnx pb file is not exist.'):
        amct.save_model(flow['onnx'] + '.missing', flow['record'], flow['save'])
    with pytest.raises(TypeError, match="^Func quantize_model argument config_file must be "
                                        "<class 'str'>"):
        amct.quantize_model(1, flow['onnx'], flow['record'], flow['model'], _data())
    with pytest.raises(TypeError, match="^Func save_model argument record_file must be "
                                        "<class 'str'>"):
        amct.save_model(flow['onnx'], b'r.txt', flow['save'])
    with pytest.raises(ValueError, match='^empty string is an invalid value for config_file'):
        amct.quantize_preprocess('', flow['record'], flow['model'], _data())


def test_input_data_of_the_wrong_type_is_a_runtime_error(flow):
    with pytest.raises(RuntimeError, match='^input data type must be tuple or torch.Tensor!'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], [1])
    assert not os.path.exists(flow['record'])


def test_a_calibration_model_is_refused_as_input(flow):
    cm = amct.quantize_model(flow['config'], flow['onnx'], flow['record'], flow['model'], _data())
    with pytest.raises(RuntimeError, match='^The model cannot be quantized for following quant '
                                           'layers are in the model'):
        amct.quantize_model(flow['config'], flow['onnx'], flow['record'], cm, _data())


def test_the_callers_model_is_never_changed(flow):
    state = _state(flow['model'])
    _calibrated(flow)
    amct.save_model(flow['onnx'], flow['record'], flow['save'])
    _same_model(flow['model'], state)


def test_preprocess_without_dmq_layers_is_a_runtime_error(flow):
    with open(flow['record'], 'wb') as f:
        f.write(b'kept')
    before = _snapshot(flow['dir'])
    with pytest.raises(RuntimeError, match='^No dmq_balancer layer in quant config file'):
        amct.quantize_preprocess(flow['config'], flow['record'], flow['model'], _data())
    assert _snapshot(flow['dir']) == before
