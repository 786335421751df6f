"""LSTM and GRU layers through the whole flow (spec §15): quantize_model
calibrates their weights per row (factors in ONNX gate order: LSTM i,o,f,g;
GRU z,r,n), the input with IFMR/HFMG and the hidden state with its own
calibrator (scale_h); the modified ONNX holds the calibration weights in its
W and R; save_model writes the fake-quant and QDQ models (the deploy model's
RNN replacement is Ascend's and is refused by name)."""
import copy
import json
import os

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
from torch import nn

import openamct as amct
from openamct import _onnx_export, algorithms
from test_qdq import needs_ort, run_ort

GATES = {'LSTM': [0, 3, 1, 2], 'GRU': [1, 0, 2]}  # ONNX block k = torch block GATES[k]
HIDDEN = 16


class Tagger(nn.Module):
    """Linear -> RNN -> Linear, the RNN called without an initial state
    (with_state None), or with h0 = with_state (c0 = -2 * with_state)."""

    def __init__(self, kind, batch_first=True, with_state=None, bias=True):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.rnn = getattr(nn, kind)(8, HIDDEN, batch_first=batch_first, bias=bias)
        self.head = nn.Linear(HIDDEN, 3)
        self.kind = kind
        self.batch_first = batch_first  # the rnn attribute is wrapped during the flow
        self.with_state = with_state

    def forward(self, x):
        y = self.fc(x)
        if self.with_state is not None:
            batch = y.shape[0 if self.batch_first else 1]
            h0 = torch.full((1, batch, HIDDEN), self.with_state)
            state = (h0, -2 * h0) if self.kind == 'LSTM' else h0
            out, _ = self.rnn(y, state)
        else:
            out, _ = self.rnn(y)
        return self.head(out)


def _model(kind, **kw):
    torch.manual_seed(0)
    return Tagger(kind, **kw).eval()


def _data(batch_first=True, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 5, 6) if batch_first else (5, 2, 6)
    return torch.randn(shape, generator=g)


def _record(path):
    """{key: {field: [values]}} of a record file."""
    out, key = {}, None
    for line in open(path).read().splitlines():
        line = line.strip()
        if line.startswith('key:'):
            key = json.loads(line[4:].strip())
            out[key] = {}
        elif ':' in line and key is not None:
            name, value = line.split(':', 1)
            value = value.strip()
            out[key].setdefault(name, []).append(json.loads(value))
    return out


def _gates_to_onnx(rows, kind):
    h = rows.shape[0] // len(GATES[kind])
    return np.concatenate([rows[k * h:(k + 1) * h] for k in GATES[kind]])


def _flow(tmp_path, model, x, cfg_edit=None, **kw):
    cfg, onnx_path, rec = (str(tmp_path / n) for n in ('c.json', 'm.onnx', 'r.txt'))
    amct.create_quant_config(cfg, model, x)
    if cfg_edit:
        config = json.load(open(cfg))
        cfg_edit(config)
        json.dump(config, open(cfg, 'w'), indent=4)
    cal = amct.quantize_model(cfg, onnx_path, rec, model, x, **kw)
    return cal, onnx_path, rec


def _calibrated(tmp_path, kind, **model_kw):
    """The model, its data, and the flow after one calibration forward."""
    model = _model(kind, **model_kw)
    x = _data(model_kw.get('batch_first', True))
    cal, onnx_path, rec = _flow(tmp_path, model, x)
    with torch.no_grad():
        cal(x)
    return model, x, cal, onnx_path, rec


def _rnn_io(cal, x):
    """The RNN's input and (input, hx, output) as the calibration model runs it."""
    seen = {}

    def hook(module, inputs, output):
        seen['x'], seen['hx'], seen['out'] = inputs[0], inputs[1], output[0]
    handle = cal.rnn.sub_module.register_forward_hook(hook)
    with torch.no_grad():
        cal(x)
    handle.remove()
    return seen


@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
@pytest.mark.parametrize('batch_first', [True, False])
def test_record_holds_per_row_factors_in_onnx_gate_order_and_a_hidden_scale(
        tmp_path, kind, batch_first):
    model = _model(kind, batch_first=batch_first, with_state=0.25)
    x = _data(batch_first)
    cal, _, rec = _flow(tmp_path, model, x)
    io = _rnn_io(cal, x)
    entry = _record(rec)['rnn']
    for weight, scale, offset in (('weight_ih_l0', 'scale_w', 'offset_w'),
                                  ('weight_hh_l0', 'scale_r', 'offset_r')):
        w = getattr(model.rnn, weight).detach()
        want = algorithms.arq(w, layout='linear', channel_wise=True)
        assert np.array_equal(np.float32(entry[scale]),
                              _gates_to_onnx(np.float32(want['scale']), kind))
        assert entry[offset] == [0] * w.shape[0]
        # The calibration model computes with the fake-quantised weights.
        assert torch.equal(getattr(cal.rnn.sub_module, weight), want['fake_quant_weight'])
    assert entry['wts_type'] == ['INT8'] and entry['act_type'] == ['INT8']
    act = algorithms.ifmr([io['x']])
    assert np.float32(entry['scale_d'][0]) == np.float32(act['scale'])
    assert entry['offset_d'] == [act['offset']]
    # The hidden states the recurrence read: h0, then every output step but
    # the last, along the sequence axis (time-major without batch_first).
    h0 = io['hx'][0] if kind == 'LSTM' else io['hx']
    out = io['out']
    states = torch.cat((h0.transpose(0, 1), out[:, :-1]), 1) if batch_first else \
        torch.cat((h0, out[:-1]), 0)
    hidden = algorithms.ifmr([states])
    assert np.float32(entry['scale_h'][0]) == np.float32(hidden['scale'])
    assert entry['offset_h'] == [hidden['offset']]
    # Field-number order of the text format: ..., act_type (11), wts_type (12),
    # scale_h (21), offset_h (22), scale_r (23), offset_r (24).
    text = open(rec).read()
    assert text.index('wts_type') < text.index('scale_h') < text.index('offset_h') < \
        text.index('scale_r') < text.index('offset_r')


@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
def test_modified_onnx_holds_the_calibration_weights_in_the_exporters_gate_order(tmp_path, kind):
    model = _model(kind)
    x = _data()
    cal, onnx_path, _ = _flow(tmp_path, model, x)
    graph = onnx.load(onnx_path).graph
    node = next(n for n in graph.node if n.op_type == kind)
    assert node.name == 'rnn'   # the first RNN node after the marker (§12.1)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    # The exporter's own gate order, read from an export of the float model.
    float_graph = onnx.load_from_string(_onnx_export.export_copy(model, x).model_bytes()).graph
    float_node = next(n for n in float_graph.node if n.op_type == kind)
    float_inits = {t.name: onnx.numpy_helper.to_array(t) for t in float_graph.initializer}
    for index, weight in ((1, 'weight_ih_l0'), (2, 'weight_hh_l0')):
        exported = float_inits[float_node.input[index]][0]
        assert np.array_equal(exported, _gates_to_onnx(getattr(model.rnn, weight).detach().numpy(),
                                                       kind))
        calibrated = getattr(cal.rnn.sub_module, weight).detach().numpy()
        assert np.array_equal(inits[node.input[index]][0], _gates_to_onnx(calibrated, kind))
    assert any(a.name == 'op_data_type' and a.s == b'float' for a in node.attribute)


@needs_ort
@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
@pytest.mark.parametrize('batch_first', [True, False])
def test_fake_quant_and_qdq_models_run_in_onnx_runtime_and_agree(tmp_path, kind, batch_first):
    model, x, cal, onnx_path, rec = _calibrated(tmp_path, kind, batch_first=batch_first)
    prefix = str(tmp_path / 'out' / 'q')
    amct.save_model(onnx_path, rec, prefix, formats=('fake_quant', 'qdq'))
    fake = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / 'o1'))[0]
    qdq = run_ort(prefix + '_qdq_model.onnx', [x.numpy()], str(tmp_path / 'o2'))[0]
    with torch.no_grad():
        want = model(x).numpy()
        calibrated = cal(x).numpy()
    # Same integers in both files: only float rounding differs.
    assert np.abs(fake - qdq).max() <= 1e-5
    # Activations quantised on top of the calibration model's fake-quantised
    # weights: close to the float model, and not equal to it.
    err = np.abs(fake - want).max()
    assert 0 < err < 0.05 * np.abs(want).max()
    assert np.abs(calibrated - want).max() < 0.05 * np.abs(want).max()
    qdq_model = onnx.load(prefix + '_qdq_model.onnx')
    node = next(n for n in qdq_model.graph.node if n.op_type == kind)
    producers = {o: n for n in qdq_model.graph.node for o in n.output}
    kinds = [producers[node.input[i]].op_type for i in (0, 1, 2, 3)]
    assert kinds == ['DequantizeLinear'] * 4
    inits = {t.name: t for t in qdq_model.graph.initializer}
    w = producers[node.input[1]]
    assert inits[w.input[0]].data_type == onnx.TensorProto.INT8
    b = producers[node.input[3]]
    assert inits[b.input[0]].data_type == onnx.TensorProto.INT32
    assert len(onnx.numpy_helper.to_array(inits[b.input[1]])) == 2 * len(GATES[kind]) * HIDDEN


def test_the_fake_quant_rnn_holds_integers_times_their_dequant_scales(tmp_path):
    kind = 'LSTM'
    model, x, cal, onnx_path, rec = _calibrated(tmp_path, kind)
    prefix = str(tmp_path / 'q')
    amct.save_model(onnx_path, rec, prefix, formats=('fake_quant',))
    graph = onnx.load(prefix + '_fake_quant_model.onnx').graph
    node = next(n for n in graph.node if n.op_type == kind)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    entry = _record(rec)['rnn']
    scale_d, scale_h = np.float32(entry['scale_d'][0]), np.float32(entry['scale_h'][0])
    scale_w, scale_r = np.float32(entry['scale_w']), np.float32(entry['scale_r'])
    w_deq = (scale_w * scale_d).astype(np.float32)[:, None]
    ints = inits[node.input[1]][0] / w_deq
    assert np.abs(ints - np.round(ints)).max() < 1e-3
    assert np.round(ints).min() >= -128 and np.round(ints).max() <= 127
    r_ints = inits[node.input[2]][0] / scale_r[:, None]
    assert np.abs(r_ints - np.round(r_ints)).max() < 1e-3
    b = inits[node.input[3]][0]
    rows = len(scale_w)
    for half, deq in ((b[:rows], scale_w * scale_d), (b[rows:], scale_r * scale_h)):
        q = half.astype(np.float64) / deq.astype(np.float32)   # float32 products: relative error
        assert (np.abs(q - np.round(q)) <= 1e-3 + 1e-6 * np.abs(q)).all()
    # The node reads the integer input of the fake-quant chain.
    producers = {o: n for n in graph.node for o in n.output}
    assert producers[node.input[0]].op_type == 'Sub'


def test_deploy_is_refused_by_name_and_nothing_is_written(tmp_path):
    model, x, cal, onnx_path, rec = _calibrated(tmp_path, 'GRU')
    out = tmp_path / 'out'
    out.mkdir()
    with pytest.raises(RuntimeError, match=r"layer 'rnn' is an LSTM/GRU layer.*formats="):
        amct.save_model(onnx_path, rec, str(out / 'q'))
    assert os.listdir(out) == []


def test_without_hx_the_layer_starts_from_zeros(tmp_path):
    x = _data()
    (tmp_path / 'none').mkdir()
    (tmp_path / 'zeros').mkdir()
    cal_none, _, rec_none = _flow(tmp_path / 'none', _model('LSTM'), x)
    cal_zeros, _, rec_zeros = _flow(tmp_path / 'zeros', _model('LSTM', with_state=0.0), x)
    with torch.no_grad():
        assert torch.equal(cal_none(x), cal_zeros(x))
    assert open(rec_none).read() == open(rec_zeros).read()


def test_per_tensor_rnn_weights_are_a_runtime_error_that_writes_nothing(tmp_path):
    model = _model('LSTM')
    x = _data()

    def per_tensor(config):
        config['rnn']['weight_quant_params']['channel_wise'] = False
    with pytest.raises(RuntimeError, match='channel_wise'):
        _flow(tmp_path, model, x, cfg_edit=per_tensor)
    assert not (tmp_path / 'm.onnx').exists() and not (tmp_path / 'r.txt').exists()


def test_dmq_balances_the_input_weight_of_an_rnn(tmp_path):
    model = _model('GRU')
    x = _data()
    cfg, onnx_path, rec = (str(tmp_path / n) for n in ('c.json', 'm.onnx', 'r.txt'))
    amct.create_quant_config(cfg, model, x)
    config = json.load(open(cfg))
    config['rnn'] = dict([('quant_enable', True), ('dmq_balancer_param', 0.5)] +
                         [(k, v) for k, v in config['rnn'].items() if k != 'quant_enable'])
    json.dump(config, open(cfg, 'w'), indent=4)
    pre = amct.quantize_preprocess(cfg, rec, model, x)
    with torch.no_grad():
        pre(x)
        rnn_input = model.fc(x)
    entry = _record(rec)['rnn']
    factor = algorithms.dmq_layer('Linear', rnn_input, model.rnn.weight_ih_l0.detach())
    assert np.array_equal(np.float32(entry['tensor_balance_factor']),
                          factor['factor'].numpy() if hasattr(factor['factor'], 'numpy')
                          else np.float32(factor['factor']))
    cal = amct.quantize_model(cfg, onnx_path, rec, model, x)
    s = torch.tensor(entry['tensor_balance_factor'], dtype=torch.float32)
    balanced = model.rnn.weight_ih_l0.detach() * s
    want = algorithms.arq(balanced, layout='linear')['fake_quant_weight']
    assert torch.equal(cal.rnn.sub_module.weight_ih_l0, want)
    with torch.no_grad():
        y = cal(x)
        assert torch.allclose(y, model(x), atol=0.05)
    prefix = str(tmp_path / 'q')
    amct.save_model(onnx_path, rec, prefix, formats=('fake_quant', 'qdq'))
    graph = onnx.load(prefix + '_qdq_model.onnx').graph
    assert any(n.name == 'rnn.mul' and n.op_type == 'Mul' for n in graph.node)


def test_a_record_without_the_hidden_scale_is_refused(tmp_path):
    model, x, cal, onnx_path, rec = _calibrated(tmp_path, 'LSTM')
    text = open(rec).read()
    lines = [l for l in text.splitlines(True) if 'scale_h' not in l]
    open(rec, 'w').write(''.join(lines))
    with pytest.raises(RuntimeError, match='cannot find scale_h of layer rnn in record_file'):
        amct.save_model(onnx_path, rec, str(tmp_path / 'q'), formats=('fake_quant',))


@needs_ort
@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
def test_auto_calibrations_evaluation_model_matches_the_fake_quant_model_in_onnx_runtime(
        tmp_path, kind):
    from openamct._auto_calibration import _fake_quant_model
    from openamct._flow import _quantize_model
    model = _model(kind, with_state=0.1)
    x = _data()
    cfg, onnx_path, rec = (str(tmp_path / n) for n in ('c.json', 'm.onnx', 'r.txt'))
    amct.create_quant_config(cfg, model, x)
    float_weights = {}
    cal = _quantize_model(os.fsencode(cfg), os.fsencode(onnx_path), os.fsencode(rec),
                          copy.deepcopy(model), [x], float_weights=float_weights)
    with torch.no_grad():
        cal(x)
    prefix = str(tmp_path / 'q')
    amct.save_model(onnx_path, rec, prefix, formats=('fake_quant',))
    want = run_ort(prefix + '_fake_quant_model.onnx', [x.numpy()], str(tmp_path / 'o'))[0]
    layers = _fake_quant_model(cal, float_weights, rec)
    with torch.no_grad():
        got = cal(x).numpy()
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
        # measure mode: each layer outputs its float output (the whole model
        # the float model's), and the RNN's cosine is below 1.
        for layer in layers.values():
            layer.measure = True
        assert torch.allclose(cal(x), model(x), atol=1e-6)
        assert 0.9 < layers['rnn'].cosine() < 1.0


class AcceptAll(amct.AutoCalibrationEvaluatorBase):
    def __init__(self, x):
        self.x = x

    def calibration(self, model):
        with torch.no_grad():
            model(self.x)

    def evaluate(self, model):
        with torch.no_grad():
            return float(model(self.x).abs().mean())

    def metric_eval(self, original_metric, new_metric):
        return True, original_metric - new_metric


def test_auto_calibration_of_an_rnn_model_writes_the_fake_quant_model_only(tmp_path,
                                                                           openamct_log):
    import logging
    model = _model('GRU')
    x = _data()
    cfg = str(tmp_path / 'c.json')
    amct.create_quant_config(cfg, model, x)
    with openamct_log(logging.WARNING) as caplog:
        amct.accuracy_based_auto_calibration(model, AcceptAll(x), cfg, str(tmp_path / 'r.txt'),
                                             str(tmp_path / 'out' / 'tagger'), x)
    files = sorted(os.listdir(tmp_path / 'out'))
    assert 'tagger_fake_quant_model.onnx' in files and 'tagger_modified_model.onnx' in files
    assert 'tagger_deploy_model.onnx' not in files
    assert 'no deploy model while LSTM/GRU layers are quantised (rnn)' in caplog.text
    assert 'scale_h' in open(tmp_path / 'r.txt').read()
