"""The qdq_full model (quantize_model(..., qdq_full=True), then
save_model(..., formats=('qdq_full',))): the QDQ model plus a QuantizeLinear
after each layer that feeds a residual Add (scale and offset calibrated on
that output, stored in `<record_file>.qdq_full`) and DequantizeLinear inputs
for the Adds, so that ONNX Runtime runs every convolution as QLinearConv and
every residual Add as QLinearAdd.

Unlike the QDQ model it does not compute what the fake-quant model computes:
each Add's inputs are rounded to int8 too (the residual branch with its own
scale, the block input with the next layer's scale_d). Each rounding moves a
value by at most half a step of its scale, so the bound asserted here is in
steps of the output layer: the output is within OUTPUT_STEPS steps
(scale_d * max |W| of fc, as in test_qdq.py) of the fake-quant model's
(measured: 1.4 steps on this model and input; the QDQ model stays within 1)."""
import json
import os
import subprocess

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import openamct as amct
from test_qdq import CLI, RUNNER, needs_ort, output_step

OUTPUT_STEPS = 4


class Residual(nn.Module):
    """A ResNet in miniature: stem, a basic block with identity shortcut, one with a
    1x1 downsample conv, global pooling and fc."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a1 = nn.Conv2d(8, 8, 3, padding=1)
        self.a2 = nn.Conv2d(8, 8, 3, padding=1)
        self.b1 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2 = nn.Conv2d(16, 16, 3, padding=1)
        self.down = nn.Conv2d(8, 16, 1, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.a2(torch.relu(self.a1(x))) + x)
        x = torch.relu(self.b2(torch.relu(self.b1(x))) + self.down(x))
        return self.fc(x.mean((2, 3)))


CONVS = ('stem', 'a1', 'a2', 'b1', 'b2', 'down')
SHAPE = (2, 3, 16, 16)


def _data(seed):
    return torch.randn(*SHAPE, generator=torch.Generator().manual_seed(seed))


def calibrate(tmp_path, qdq_full=True, forwards=2):
    torch.manual_seed(0)
    model = Residual().eval()
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg, rec, mod = (str(tmp_path / n) for n in ('c.json', 'r.txt', 'm.onnx'))
    amct.create_quant_config(cfg, model, _data(0), batch_num=2)
    cm = amct.quantize_model(cfg, mod, rec, model, _data(0), qdq_full=qdq_full)
    with torch.no_grad():
        for i in range(forwards):
            cm(_data(1 + i))
    return mod, rec


def test_qdq_full_calibration_writes_the_output_scales_beside_an_unchanged_record(tmp_path):
    mod, rec = calibrate(tmp_path / 'full')
    plain_mod, plain_rec = calibrate(tmp_path / 'plain', qdq_full=False)
    assert not os.path.exists(plain_rec + '.qdq_full')
    # The record, the modified ONNX and the three default-mode models are the same bytes.
    assert open(rec, 'rb').read() == open(plain_rec, 'rb').read()
    assert open(mod, 'rb').read() == open(plain_mod, 'rb').read()
    formats = ('deploy', 'fake_quant', 'qdq')
    amct.save_model(mod, rec, str(tmp_path / 'full' / 'q'), formats=formats)
    amct.save_model(plain_mod, plain_rec, str(tmp_path / 'plain' / 'q'), formats=formats)
    for suffix in ('_deploy_model.onnx', '_fake_quant_model.onnx', '_qdq_model.onnx'):
        assert open(str(tmp_path / 'full' / 'q') + suffix, 'rb').read() == \
            open(str(tmp_path / 'plain' / 'q') + suffix, 'rb').read()
    # The output scales: the two layers whose outputs feed a residual Add, in
    # record text after one comment line.
    text = open(rec + '.qdq_full').read()
    header, body = text.split('\n', 1)
    assert header.startswith('# OpenAMCT qdq_full output scales')
    keys = [line.split('"')[1] for line in body.splitlines() if line.strip().startswith('key:')]
    assert keys == ['a2', 'b2', 'down']
    assert body.count('scale_d:') == 3 and body.count('offset_d:') == 3


def test_incomplete_calibration_writes_no_output_scales(tmp_path):
    _, rec = calibrate(tmp_path, forwards=1)
    assert not os.path.exists(rec + '.qdq_full')


def _ops(path):
    return [n.op_type for n in onnx.load(path).graph.node]


@needs_ort
def test_every_conv_and_residual_add_runs_in_int8_close_to_fake_quant(tmp_path):
    mod, rec = calibrate(tmp_path)
    prefix = str(tmp_path / 'out' / 'q')
    amct.save_model(mod, rec, prefix, formats=('fake_quant', 'qdq', 'qdq_full'))
    u8 = str(tmp_path / 'u8' / 'q')
    amct.save_model(mod, rec, u8, formats=('qdq', 'qdq_full'), activation_dtype='uint8')
    m = onnx.load(prefix + '_qdq_full_model.onnx')
    onnx.checker.check_model(m)
    onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    nodes = {n.name: n for n in m.graph.node}
    for layer in ('a2', 'b2', 'down'):
        assert nodes[layer + '.output_quant'].op_type == 'QuantizeLinear'
    x = _data(9).numpy()[:1]
    x = np.concatenate([x, _data(10).numpy()[:1]])
    runs = {'fake_quant': prefix + '_fake_quant_model.onnx',
            'qdq_full': prefix + '_qdq_full_model.onnx',
            'qdq_u8': u8 + '_qdq_model.onnx', 'qdq_full_u8': u8 + '_qdq_full_model.onnx'}
    optimized, outputs = {}, {}
    for tag, path in runs.items():
        optimized[tag] = str(tmp_path / ('%s_ort.onnx' % tag))
        outputs[tag] = run_ort_optimized(path, x, str(tmp_path / tag), optimized[tag])
    # uint8 (zero point offset_d + 128) holds the same integers: executed as
    # written (no ORT fusion, which computes unfused int8 convs in float), the
    # same outputs.
    literal = [run_ort_optimized(runs[t], x, str(tmp_path / (t + '_literal')), None)
               for t in ('qdq_full', 'qdq_full_u8')]
    np.testing.assert_array_equal(literal[0], literal[1])
    # ONNX Runtime runs every conv as QLinearConv and the Add that a quantized
    # layer reads as QLinearAdd; the last Add (then Relu, ReduceMean) stays float,
    # as no quantizer follows it.
    ops = _ops(optimized['qdq_full_u8'])
    assert ops.count('QLinearConv') == len(CONVS), ops
    assert ops.count('QLinearAdd') == 1 and ops.count('Add') == 1, ops
    assert not {'Conv', 'FusedConv'} & set(ops), ops
    assert _ops(optimized['qdq_u8']).count('QLinearConv') < len(CONVS)  # the QDQ model: fewer
    # int8 too, because each reader of a quantised tensor has its own
    # QuantizeLinear (ORT turns such int8 pairs into uint8): every conv but the
    # stem as QLinearConv. The stem's ReLU output now feeds two QuantizeLinears
    # (a1's and the Add's), and ORT drops a ReLU into the conv only before a
    # single one.
    ops8 = _ops(optimized['qdq_full'])
    assert ops8.count('QLinearConv') == len(CONVS) - 1, ops8
    float_convs = [n.name for n in onnx.load(optimized['qdq_full']).graph.node
                   if n.op_type in ('Conv', 'FusedConv')]
    assert float_convs == ['stem'], float_convs
    step = output_step(m)
    diff = np.abs(outputs['qdq_full'].astype(np.float64) - outputs['fake_quant'])
    assert (diff / step).max() <= OUTPUT_STEPS, (diff / step).max()
    assert diff.max() > 0  # it is not the fake-quant model's arithmetic


def run_ort_optimized(path, x, out_dir, optimized):
    """The first output of `path` in ONNX Runtime on `x`; ORT's optimised graph goes to
    `optimized`; with None, ORT runs the graph as written (no optimisation)."""
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, 'in.npy'), x.astype(np.float32))
    flags = ['--save-optimized', optimized] if optimized else ['--no-optimize']
    run = subprocess.run(['node', RUNNER, path, out_dir, os.path.join(out_dir, 'in.npy')] + flags,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)['outputs']
    return np.load(os.path.join(out_dir, '0.npy'))


def test_qdq_full_without_output_scales_is_a_file_not_found_error_that_writes_nothing(tmp_path):
    mod, rec = calibrate(tmp_path, qdq_full=False)
    with pytest.raises(FileNotFoundError) as e:
        amct.save_model(mod, rec, str(tmp_path / 'bad' / 'q'), formats=('qdq', 'qdq_full'))
    msg = str(e.value)
    assert "'%s.qdq_full'" % os.path.realpath(rec) in msg or rec + '.qdq_full' in msg
    assert 'qdq_full=True' in msg
    assert not os.path.exists(tmp_path / 'bad')


def test_output_scales_of_another_record_are_refused(tmp_path):
    mod, rec = calibrate(tmp_path)
    text = open(rec).read()
    with open(rec, 'w') as f:  # another calibration: one scale_d differs
        i = text.index('scale_d: ') + len('scale_d: ')
        f.write(text[:i] + '0.5' + text[text.index('\n', i):])
    with pytest.raises(RuntimeError, match='belongs to another calibration'):
        amct.save_model(mod, rec, str(tmp_path / 'bad' / 'q'), formats=('deploy', 'qdq_full'))
    assert not os.path.exists(tmp_path / 'bad')


def test_output_scales_without_a_needed_layer_are_refused(tmp_path):
    mod, rec = calibrate(tmp_path)
    path = rec + '.qdq_full'
    text = open(path).read()
    start = text.index('record {\n  key: "down"')
    with open(path, 'w') as f:
        f.write(text[:start] + text[text.index('\n}\n', start) + 3:])
    with pytest.raises(RuntimeError, match="layer 'down' feeds a residual Add, but the output "
                                           "scales have no entry for it"):
        amct.save_model(mod, rec, str(tmp_path / 'bad' / 'q'), formats=('qdq_full',))
    assert not os.path.exists(tmp_path / 'bad')


@pytest.mark.parametrize('value', ['yes', 1, None])
def test_qdq_full_must_be_a_bool(tmp_path, value):
    torch.manual_seed(0)
    with pytest.raises(TypeError, match='argument qdq_full must be'):
        amct.quantize_model(str(tmp_path / 'c.json'), str(tmp_path / 'm.onnx'),
                            str(tmp_path / 'r.txt'), Residual().eval(), _data(0), qdq_full=value)


def test_cli_format_qdq_full_writes_what_python_writes(tmp_path):
    mod, rec = calibrate(tmp_path)
    amct.save_model(mod, rec, str(tmp_path / 'py' / 'q'), formats=('qdq_full',))
    run = subprocess.run([CLI, 'save-model', '--modified', mod, '--record', rec,
                          '-o', str(tmp_path / 'cli' / 'q'), '--format', 'qdq_full'],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert os.listdir(tmp_path / 'cli') == ['q_qdq_full_model.onnx']
    assert open(str(tmp_path / 'cli' / 'q_qdq_full_model.onnx'), 'rb').read() == \
        open(str(tmp_path / 'py' / 'q_qdq_full_model.onnx'), 'rb').read()


@pytest.mark.parametrize('dtype, formats, error, words', [
    ('int16', ('qdq',), ValueError, "activation_dtype 'int16' is invalid; allowed values: "
                                    "'int8'"),
    ('uint8', ('deploy', 'fake_quant'), ValueError, "activation_dtype 'uint8' applies to the "
                                                   '"qdq" and "qdq_full" models'),
    (8, ('qdq',), TypeError, 'argument activation_dtype must be'),
])
def test_bad_activation_dtype_is_refused_and_writes_nothing(tmp_path, dtype, formats, error,
                                                           words):
    mod, rec = calibrate(tmp_path)
    with pytest.raises(error) as e:
        amct.save_model(mod, rec, str(tmp_path / 'bad' / 'q'), formats=formats,
                        activation_dtype=dtype)
    assert words in str(e.value)
    assert not os.path.exists(tmp_path / 'bad')


def test_uint8_activations_shift_every_activation_zero_point_by_128(tmp_path):
    mod, rec = calibrate(tmp_path)
    amct.save_model(mod, rec, str(tmp_path / 's8' / 'q'), formats=('qdq_full',))
    amct.save_model(mod, rec, str(tmp_path / 'u8' / 'q'), formats=('qdq_full',),
                    activation_dtype='uint8')
    s8, u8 = (onnx.load(str(tmp_path / d / 'q_qdq_full_model.onnx')) for d in ('s8', 'u8'))
    inits = [{t.name: t for t in m.graph.initializer} for m in (s8, u8)]
    zps = {n.input[2] for n in s8.graph.node if n.op_type == 'QuantizeLinear'}
    assert zps
    for name, t in inits[0].items():
        if '.reader' in name:  # int8 only: a reader's own copy of a Q's scale and zero point
            assert name.split('.reader')[0] in inits[0]
            continue
        want = onnx.numpy_helper.to_array(t)
        got = onnx.numpy_helper.to_array(inits[1][name])
        if name in zps:
            assert got.dtype == np.uint8 and (got.astype(int) == want.astype(int) + 128).all()
        else:  # weights int8, biases int32, scales: unchanged
            assert got.dtype == want.dtype and (got == want).all()


def test_cli_activation_dtype_writes_what_python_writes(tmp_path):
    mod, rec = calibrate(tmp_path)
    amct.save_model(mod, rec, str(tmp_path / 'py' / 'q'), formats=('qdq', 'qdq_full'),
                    activation_dtype='uint8')
    run = subprocess.run([CLI, 'save-model', '--modified', mod, '--record', rec,
                          '-o', str(tmp_path / 'cli' / 'q'), '--format', 'qdq,qdq_full',
                          '--activation-dtype', 'uint8'], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for f in ('q_qdq_model.onnx', 'q_qdq_full_model.onnx'):
        assert open(str(tmp_path / 'cli' / f), 'rb').read() == \
            open(str(tmp_path / 'py' / f), 'rb').read()
    bad = subprocess.run([CLI, 'save-model', '--modified', mod, '--record', rec,
                          '-o', str(tmp_path / 'bad' / 'q'), '--activation-dtype', 'int4'],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "invalid --activation-dtype 'int4': expected int8 or uint8" in bad.stderr
