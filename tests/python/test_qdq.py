"""The QDQ model (save_model(..., formats=(..., 'qdq'))): standard ONNX at
opset 13 that a real runtime executes. Each kit model goes through the whole
flow; its QDQ and fake-quant models then run in ONNX Runtime (onnxruntime-node,
tests/ort/run_onnx.js) on the kit's held-out input.

What agreement can honestly be asked. The two models hold the same integers
and differ only in float rounding: QuantizeLinear rounds x/scale_d where the
fake-quant model rounds x*(1/scale_d), and ONNX Runtime's integer kernels
rescale a layer's sum in another order than the fake-quant model's integer
convolution times scale_d*scale_w, and round an exact half (an average pool's
mean of two integers) their own way. At a rounding tie an activation integer
can flip by one (over the kit: 0-2 of a model's 150 000 - 550 000 activation
integers, each within 2e-5 of half-way). So:

* every layer on its own, on every model: with the fake-quant model's integers
  fed in at every quantisation point (_forced_qdq), each integer the QDQ model
  makes there equals the fake-quant model's, or differs by 1 where the value
  the fake-quant model rounded lies within 2^-16 * max(1, |value|) of half-way
  (assert_only_ties_differ: a wrong scale, zero point, axis or weight moves
  integers nowhere near half-way; after a Linear of a 3-d input with its float
  bias, which ONNX Runtime rounds, within that rounding of half-way), and each
  output is within one step of the fake-quant output (over the kit: equal),
  where one step is what one integer of the last layer's input moves output
  channel c by: scale_d * max_i |W[i, c]|.
  This checks every layer, also those behind a tie (tested: a 0.05 % error in
  fc's weight scale of ResNet-18 is caught);
* the models as saved, where that run finds no tie: each output within one
  step of the fake-quant output (over the kit: 13 of 17 cases equal bit for
  bit);
* where a tie flips an integer, its effects spread through every later layer
  of the freely running models (ResNet-18: one flip in layer1.1 becomes 40 % of
  fc's input integers differing by up to 3), so for those models only the
  weaker bound holds: the QDQ model is closer to the fake-quant model than the
  fake-quant model is to the float model."""
import json
import os
import shutil
import subprocess

import numpy as np
import onnx
from onnx import numpy_helper
import pytest
import torch
from torch import nn

import openamct as amct
import calibration_kit as kit
from conftest import ROOT

CLI = os.environ.get('OPENAMCT_CLI', os.path.join(
    os.environ.get('OPENAMCT_BUILD_DIR', os.path.join(ROOT, 'build')), 'bin', 'openamct'))
ORT_DIR = os.path.join(ROOT, 'tests', 'ort')
RUNNER = os.path.join(ORT_DIR, 'run_onnx.js')
HAVE_ORT = os.path.isdir(os.path.join(ORT_DIR, 'node_modules', 'onnxruntime-node')) and \
    shutil.which('node') is not None
needs_ort = pytest.mark.skipif(
    not HAVE_ORT, reason='ONNX Runtime is not installed: run scripts/setup.sh (npm install of '
    'onnxruntime-node into tests/ort/node_modules; needs Node 20)')
ALL = ('deploy', 'fake_quant', 'qdq')


def run_ort(model_path, inputs, out_dir):
    """Outputs of `model_path` in ONNX Runtime (1 thread) on float32 `inputs`."""
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for i, x in enumerate(inputs):
        files.append(os.path.join(out_dir, 'in%d.npy' % i))
        np.save(files[-1], np.ascontiguousarray(x, dtype=np.float32))
    run = subprocess.run(['node', RUNNER, model_path, out_dir] + files, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    names = json.loads(run.stdout)['outputs']
    return [np.load(os.path.join(out_dir, '%d.npy' % i)) for i in range(len(names))]


def _initializers(model):
    return {t.name: t for t in model.graph.initializer}


def _node_by_output(model):
    return {o: n for n in model.graph.node for o in n.output}


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def dequantized(model, tensor):
    """The float value of a weight or scale reached through DequantizeLinear (and the
    grouped-ConvTranspose scale Mul), with the DQ node."""
    inits, producers = _initializers(model), _node_by_output(model)
    node = producers[tensor]
    mul = None
    if node.op_type == 'Mul':
        mul, node = node, producers[node.input[0]]
    assert node.op_type == 'DequantizeLinear', node
    q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float64)
    s = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
    zp = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
    axis = _attr(node, 'axis', 1)
    if s.ndim == 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        s, zp = s.reshape(shape), zp.reshape(shape)
    w = (q - zp) * s
    if mul is not None:
        w = w * numpy_helper.to_array(inits[mul.input[1]])
    return w, node


def output_step(model):
    """Per output channel: scale_d of the last layer's input times max |W| of its column."""
    producers = _node_by_output(model)
    inits = _initializers(model)
    layer = producers[model.graph.output[0].name]
    assert layer.op_type in ('Gemm', 'MatMul'), layer.op_type
    x_dq = producers[layer.input[0]]
    assert x_dq.op_type == 'DequantizeLinear'
    scale_d = float(numpy_helper.to_array(inits[x_dq.input[1]]))
    w, _ = dequantized(model, layer.input[1])
    assert _attr(layer, 'transB', 0) == 0  # (Cin, Cout) after the deploy pass
    return scale_d * np.abs(w).max(axis=0)


def run_kit_flow(case, work):
    """The flow as the kit runs it (the kit's expected config), then save_model with QDQ."""
    model = kit.build_model(case)
    data = os.path.join(kit.E2E, case['id'])
    npz = np.load(os.path.join(data, 'inputs.npz'))
    cal = [torch.from_numpy(npz['cal0']), torch.from_numpy(npz['cal1'])]
    cfg, rec, mod = (str(work / n) for n in ('config.json', 'record.txt', 'modified.onnx'))
    shutil.copyfile(os.path.join(data, 'config.json'), cfg)
    with torch.no_grad():
        if case.get('quantize_preprocess'):
            pm = amct.quantize_preprocess(cfg, rec, model, cal[0])
            for x in cal:
                pm(x)
        cm = amct.quantize_model(cfg, mod, rec, model, cal[0])
        for x in cal:
            cm(x)
    prefix = str(work / 'saved' / 'quant')
    amct.save_model(mod, rec, prefix, formats=ALL)
    return prefix, npz['heldout']


KIT_CASES = [c for c in kit.cases() if c.get('expect') == 'ok']


def _points(qdq, inits):
    """The quantisation points of the QDQ model, (QuantizeLinear name, scale_d), in node order.
    `<q>/reader<k>`: a copy of q for another reader (reader_quantizers.h), the same integers."""
    return [(n.name, float(inits[n.input[1]])) for n in qdq.graph.node
            if n.op_type == 'QuantizeLinear' and '/reader' not in n.name]


def _probe_fake_quant(prefix, points, work):
    """The fake-quant model with every quantisation point as extra outputs: first
    `<q>.fakequant.sub` at every point (the integer q - offset_d), then `<q>.fakequant.mul`
    (x * (1/scale_d), the value it rounds)."""
    fake = onnx.load(prefix + '_fake_quant_model.onnx')
    for suffix in ('.fakequant.sub.output0', '.fakequant.mul.output0'):
        for name, _ in points:
            fake.graph.output.append(onnx.helper.make_tensor_value_info(
                name + suffix, onnx.TensorProto.FLOAT, None))
    path = str(work / 'probe_fake.onnx')
    onnx.save(fake, path)
    return path


def _pads_before_quantizing(qdq, inits, points):
    """Per point, np.pad's widths where the QDQ model pads before quantising (a ceil-mode
    average pool, core/onnx/ceil_mode_pools.h), else None. The fake-quant model's values
    there are unpadded; padded with 0, the zero point, they are the QDQ model's."""
    producers, nodes = _node_by_output(qdq), {n.name: n for n in qdq.graph.node}
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
                 for n in qdq.graph.node if n.op_type == 'Constant'}
    widths = []
    for name, _ in points:
        pad = producers.get(nodes[name].input[0])
        if pad is None or pad.op_type != 'Pad':
            widths.append(None)
            continue
        pads = (inits[pad.input[1]] if pad.input[1] in inits
                else constants[pad.input[1]]).astype(int)
        rank = len(pads) // 2
        widths.append(list(zip(pads[:rank], pads[rank:])))
    return widths


def assert_qdq_matches_fake_quant(prefix, x, work, float_output=None):
    """The agreement of the module docstring. Returns the output difference in steps of the
    models as saved, and whether an activation integer differs at a rounding tie."""
    qdq = onnx.load(prefix + '_qdq_model.onnx')
    onnx.checker.check_model(qdq)
    onnx.shape_inference.infer_shapes(qdq, check_type=True, strict_mode=True)
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    points = _points(qdq, inits)
    want = run_ort(_probe_fake_quant(prefix, points, work), [x], str(work / 'ort_fake'))
    n = len(points)
    widths = _pads_before_quantizing(qdq, inits, points)
    padded = [v if w is None else np.pad(v, w) for v, w in zip(want[1:], widths + widths)]
    want, rounded = want[:1] + padded[:n], padded[n:]
    ties = assert_each_layer_matches_fake_quant(qdq, inits, x, work, points, want, rounded)
    flipped = ties > 0
    # The output of the models as saved: the probes' extra outputs change what ONNX
    # Runtime fuses, so the outputs compared are those of the files a user runs.
    got = run_ort(prefix + '_qdq_model.onnx', [x], str(work / 'ort_qdq_saved'))[0]
    want = run_ort(prefix + '_fake_quant_model.onnx', [x], str(work / 'ort_fake_saved'))[0]
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.float64) - want)
    steps = diff / output_step(qdq)
    if not flipped:
        assert steps.max() <= 1 + 1e-5, 'max difference %.3g steps' % steps.max()
    else:
        assert float_output is not None, 'an activation integer flipped in a shallow test model'
        assert diff.max() < np.abs(want - float_output).max()
    return steps, flipped


def _forced_qdq(qdq, inits, points, integers, work):
    """A copy of the QDQ model with each activation QuantizeLinear's readers fed from a
    QuantizeLinear of a new graph input instead, and each own QuantizeLinear read out through
    a DequantizeLinear of its own. Fed integers * scale_d, every layer computes from the
    fake-quant model's integers, and its own quantisation shows what it makes of them. The
    extra QuantizeLinear gives the fed integers back exactly (|k| <= 255, so k * s / s rounds
    to k) and keeps the model's Q -> DQ -> layer pattern that ONNX Runtime fuses: a float
    input straight into the layer would be run by other kernels (DQ(weight) -> Gemm on a float
    input becomes MatMulNBits, which quantises that input its own way). Returns the model's
    path, the feeds after the model's input, and the read-outs' point indices, in output
    order."""
    model = onnx.ModelProto()
    model.CopyFrom(qdq)
    index = {name: i for i, (name, _) in enumerate(points)}
    feeds, probes, added = [], [], []
    for q in [n for n in model.graph.node if n.op_type == 'QuantizeLinear']:
        i = index[q.name.split('/reader')[0]]  # a reader's copy holds its point's integers
        feed, forced = 'forced_input.' + q.name, 'forced.' + q.output[0]
        for reader in model.graph.node:
            reader.input[:] = [forced if t == q.output[0] else t for t in reader.input]
        feeds.append(np.float32(integers[i]) * inits[q.input[1]].astype(np.float32))
        model.graph.input.append(onnx.helper.make_tensor_value_info(
            feed, onnx.TensorProto.FLOAT, list(feeds[-1].shape)))
        added.append(onnx.helper.make_node('QuantizeLinear', [feed] + list(q.input[1:]),
                                           [forced], name='forced.' + q.name))
        if '/reader' not in q.name:
            probes.append(i)
            added.append(onnx.helper.make_node('DequantizeLinear', [q.output[0]] + list(q.input[1:]),
                                               ['read.' + q.output[0]], name='read.' + q.name))
            model.graph.output.append(onnx.helper.make_tensor_value_info(
                'read.' + q.output[0], onnx.TensorProto.FLOAT, None))
    # The fed QuantizeLinears first: their readers come later in the model's order.
    nodes = [n for n in added if n.op_type == 'QuantizeLinear'] + list(model.graph.node) + \
        [n for n in added if n.op_type == 'DequantizeLinear']
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    path = str(work / 'forced_qdq.onnx')
    onnx.save(model, path)
    return path, feeds, probes


def _float_bias_slacks(qdq, inits, points):
    """Per point, how far from half-way a value may flip because of a float bias: where the
    value is a MatMul's of a dequantised input plus a float bias initializer (a Linear of a
    3-d input, as torch exports it; the record's deploy model keeps that bias float), ONNX
    Runtime fuses MatMul + Add into QGemm, which rounds the bias to a multiple of
    scale_in * scale_w: up to 0.5 * scale_in * max scale_w / scale_d steps of the point."""
    producers, nodes = _node_by_output(qdq), {n.name: n for n in qdq.graph.node}

    def slack(q):
        node = producers.get(q.input[0])
        while node is not None and node.op_type in ('Transpose', 'Reshape', 'Flatten', 'Relu'):
            node = producers.get(node.input[0])
        if node is None or node.op_type != 'Add':
            return 0.0
        biases = [t for t in node.input if t in inits and inits[t].dtype == np.float32]
        products = [producers.get(t) for t in node.input if t not in inits]
        if not biases or len(products) != 1 or products[0] is None or \
                products[0].op_type != 'MatMul':
            return 0.0
        x_dq, w_dq = (producers.get(t) for t in products[0].input[:2])
        if x_dq is None or w_dq is None or x_dq.op_type != 'DequantizeLinear' or \
                w_dq.op_type != 'DequantizeLinear':
            return 0.0
        return 0.5 * float(inits[x_dq.input[1]]) * float(np.max(inits[w_dq.input[1]])) / \
            float(inits[q.input[1]])
    return [slack(nodes[name]) for name, _ in points]


def assert_only_ties_differ(name, got, want, rounded, slack=0.0):
    """Integers `got` against the fake-quant model's `want`: each that differs differs by 1,
    where the value the fake-quant model rounded (`rounded`, x * (1/scale_d)) lies within
    2^-16 * max(1, |value|) (+ `slack`, _float_bias_slacks) of half-way. A wrong scale, zero
    point, axis or weight moves integers whose values are nowhere near half-way. Returns how
    many differ."""
    differ = got != want
    if not differ.any():
        return 0
    d = np.abs(got - want)
    v = rounded[differ].astype(np.float64)
    off_tie = np.abs(np.abs(v - np.floor(v)) - 0.5) > \
        2.0 ** -16 * np.maximum(1.0, np.abs(v)) + slack
    assert d.max() == 1 and not off_tie.any(), \
        '%s: %d of %d integers differ, by up to %d; %d of them away from a rounding tie ' \
        '(e.g. the value %r)' % (name, differ.sum(), d.size, d.max(), off_tie.sum(),
                                 float(v[off_tie][0]) if off_tie.any() else None)
    return int(differ.sum())


def assert_each_layer_matches_fake_quant(qdq, inits, x, work, points, want, rounded):
    """Layer by layer (module docstring): `want` is the fake-quant model's output and its
    integers at `points`, `rounded` the values it rounded there, as _probe_fake_quant reads
    them. Returns how many integers differ (at rounding ties)."""
    path, feeds, probes = _forced_qdq(qdq, inits, points, want[1:], work)
    got = run_ort(path, [x] + feeds, str(work / 'ort_forced'))
    assert len(got) == 1 + len(points) and sorted(probes) == list(range(len(points)))
    slacks = _float_bias_slacks(qdq, inits, points)
    ties = sum(assert_only_ties_differ('fed the same integers, ' + points[i][0],
                                       np.round(q / np.float32(points[i][1])), want[1 + i],
                                       rounded[i], slacks[i])
               for i, q in zip(probes, got[1:]))
    steps = np.abs(got[0].astype(np.float64) - want[0]) / output_step(qdq)
    assert steps.max() <= 1 + 1e-5, 'fed the same integers: max difference %.3g steps' % steps.max()
    return ties


def _float_output(case):
    ref = np.load(os.path.join(kit.E2E, case['id'], 'outputs.npz'))
    return ref['float_heldout']


@needs_ort
@pytest.mark.parametrize('case', KIT_CASES, ids=[c['id'] for c in KIT_CASES])
def test_kit_model_qdq_runs_in_onnx_runtime_like_fake_quant(case, tmp_path):
    prefix, x = run_kit_flow(case, tmp_path)
    steps, flipped = assert_qdq_matches_fake_quant(prefix, x, tmp_path, _float_output(case))
    if case['model'] in ('tinynet', 'mixed'):  # shallow: no flip, so the strict bound holds
        assert not flipped and steps.max() <= 1 + 1e-5


def _check_structure(model):
    """Initializers feeding DequantizeLinear are int8 (weights, activations' zero points) or
    int32 (biases), scales float; the opset is 13."""
    assert [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')] == [13]
    inits = _initializers(model)
    kinds = set()
    for n in model.graph.node:
        assert n.op_type not in ('AscendQuant', 'AscendDequant')
        if n.op_type == 'DequantizeLinear' and n.input[0] in inits:
            q = inits[n.input[0]]
            kinds.add(q.data_type)
            if n.name.endswith('.bias_dequant'):
                assert q.data_type == onnx.TensorProto.INT32
                assert inits[n.input[2]].data_type == onnx.TensorProto.INT32
                assert not numpy_helper.to_array(inits[n.input[2]]).any()
            else:
                assert q.data_type == onnx.TensorProto.INT8, n.name
    return kinds


class Layers(nn.Module):
    """Every layer kind with a weight: Conv, grouped Conv, ConvTranspose (plain and
    grouped), Linear with bias (Gemm) and without (MatMul)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
        self.gup = nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2)
        self.fc = nn.Linear(4, 16)
        self.head = nn.Linear(16, 5, bias=False)

    def forward(self, x):
        y = self.gup(torch.relu(self.up(torch.relu(self.dw(torch.relu(self.conv(x)))))))
        return self.head(torch.relu(self.fc(y.mean((2, 3)))))


def _data(seed, shape=(2, 3, 8, 8)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def run_flow(model, tmp_path, formats=ALL, shape=(2, 3, 8, 8), **export):
    torch.manual_seed(0)
    cfg, rec, mod = (str(tmp_path / n) for n in ('c.json', 'r.txt', 'm.onnx'))
    amct.create_quant_config(cfg, model, _data(0, shape), batch_num=2)
    cm = amct.quantize_model(cfg, mod, rec, model, _data(0, shape), **export)
    with torch.no_grad():
        cm(_data(1, shape))
        cm(_data(2, shape))
    prefix = str(tmp_path / 'out' / 'quant')
    amct.save_model(mod, rec, prefix, formats=formats)
    return prefix, mod, rec


def test_weights_dequantize_along_the_output_channel_axis(tmp_path):
    torch.manual_seed(0)
    model = Layers().eval()
    prefix, _, rec = run_flow(model, tmp_path)
    qdq = onnx.load(prefix + '_qdq_model.onnx')
    onnx.checker.check_model(qdq)
    assert _check_structure(qdq) == {onnx.TensorProto.INT8, onnx.TensorProto.INT32}
    nodes = {n.name: n for n in qdq.graph.node}
    record = dict(kit.read_record(rec))
    inits = _initializers(qdq)
    # Conv (Cout, Cin/g, k, k): axis 0, grouped or not.
    for layer, cout in (('conv', 8), ('dw', 8)):
        dq = nodes[layer + '.weight_dequant']
        assert _attr(dq, 'axis') == 0
        assert numpy_helper.to_array(inits[dq.input[1]]).shape == (cout,)
        np.testing.assert_array_equal(numpy_helper.to_array(inits[dq.input[1]]),
                                      np.float32(record[layer]['scale_w']))
    # ConvTranspose (Cin, Cout/g, k, k), groups 1: axis 1.
    dq = nodes['up.weight_dequant']
    assert _attr(dq, 'axis') == 1
    np.testing.assert_array_equal(numpy_helper.to_array(inits[dq.input[1]]),
                                  np.float32(record['up']['scale_w']))
    # groups 2: the channel spans axes 0 and 1, so a per-element scale multiplies the
    # integer weight: W[ci, j] * scale_w[(ci // (Cin/g)) * Cout/g + j].
    w, dq = dequantized(qdq, nodes['gup'].input[1])
    q = numpy_helper.to_array(inits['gup.sub_module.weight']).astype(np.float64)
    s = np.float32(record['gup']['scale_w']).astype(np.float64)  # Cout = 4, Cout/g = 2
    want = np.stack([q[ci] * s[(ci // 3) * 2:(ci // 3) * 2 + 2].reshape(2, 1, 1)
                     for ci in range(6)])
    np.testing.assert_allclose(w, want, rtol=1e-7)
    # Linear: Gemm (weight stored (Cin, Cout) by the deploy pass) and MatMul. A Linear is
    # always per tensor (channel_wise false, §3), so its DQ has a 0-d scale and no axis.
    assert nodes['fc'].op_type == 'Gemm' and nodes['head'].op_type == 'MatMul'
    for layer in ('fc', 'head'):
        dq = nodes[layer + '.weight_dequant']
        assert len(record[layer]['scale_w']) == 1
        assert _attr(dq, 'axis') is None
        assert numpy_helper.to_array(inits[dq.input[1]]) == np.float32(record[layer]['scale_w'][0])
    # bias: int32 with scale scale_w * scale_d (float32 product), zero point 0, axis 0.
    b = nodes['conv.bias_dequant']
    np.testing.assert_array_equal(
        numpy_helper.to_array(inits[b.input[1]]),
        np.float32(record['conv']['scale_w']) * np.float32(record['conv']['scale_d']))
    # activations: QuantizeLinear with scale_d and zero point offset_d (int8).
    qn = nodes['conv.quant']
    assert qn.op_type == 'QuantizeLinear'
    assert numpy_helper.to_array(inits[qn.input[1]]) == np.float32(record['conv']['scale_d'])
    zp = inits[qn.input[2]]
    assert zp.data_type == onnx.TensorProto.INT8
    assert int(numpy_helper.to_array(zp)) == record['conv']['offset_d']


@needs_ort
def test_every_layer_kind_runs_in_onnx_runtime_like_fake_quant(tmp_path):
    torch.manual_seed(0)
    prefix, _, _ = run_flow(Layers().eval(), tmp_path)
    steps, flipped = assert_qdq_matches_fake_quant(prefix, _data(7).numpy(), tmp_path)
    assert not flipped and steps.max() <= 1 + 1e-5


class Reshaping(nn.Module):
    """Ops whose inputs changed between opsets 11 and 13 (Squeeze, Unsqueeze, Split,
    ReduceSum) and a last-axis Softmax, around quantised layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        y = self.conv(x).sum(dim=(2,), keepdim=False)              # ReduceSum
        a, b = torch.split(y, [2, 2], dim=1)                       # Split
        y = torch.softmax(torch.cat([a, b], 1), dim=-1)            # Softmax, last axis
        # The flow's export does not know this dimension is 1: Squeeze becomes an If.
        return self.fc(y.unsqueeze(3).squeeze(3))                  # Unsqueeze, If(Squeeze)


@needs_ort
def test_ops_changed_in_opset_13_are_converted(tmp_path):
    torch.manual_seed(0)
    model = Reshaping().eval()
    prefix, mod, _ = run_flow(model, tmp_path, shape=(2, 3, 4, 8))
    before = {n.op_type for n in onnx.load(mod).graph.node}
    assert {'ReduceSum', 'Split', 'If', 'Unsqueeze', 'Softmax'} <= before
    qdq = onnx.load(prefix + '_qdq_model.onnx')
    onnx.checker.check_model(qdq)
    branches = [n for g in qdq.graph.node if g.op_type == 'If' for a in g.attribute
                for n in a.g.node]
    assert 'Squeeze' in {n.op_type for n in branches}
    for n in list(qdq.graph.node) + branches:
        if n.op_type in ('ReduceSum', 'Squeeze', 'Unsqueeze'):
            assert _attr(n, 'axes') is None and len(n.input) == 2, n
        if n.op_type == 'Split':
            assert _attr(n, 'split') is None and len(n.input) == 2
        if n.op_type == 'Softmax':
            assert _attr(n, 'axis') in (-1, 2)
    x = _data(5, (2, 3, 4, 8)).numpy()
    got = run_ort(prefix + '_qdq_model.onnx', [x], str(tmp_path / 'q'))[0]
    want = run_ort(prefix + '_fake_quant_model.onnx', [x], str(tmp_path / 'f'))[0]
    # Two quantised layers: one step of fc's input moves an output by scale_d * max|W|.
    rec = dict(kit.read_record(str(tmp_path / 'r.txt')))
    w = numpy_helper.to_array(_initializers(qdq)['onnx::MatMul_25']).astype(np.float64)
    step = rec['fc']['scale_d'] * rec['fc']['scale_w'][0] * np.abs(w).max()
    assert np.abs(got - want).max() <= step


class SoftmaxOfUnknownRank(nn.Module):
    """A softmax behind a Reshape whose target is computed from the (dynamic)
    batch size, as in PaddleOCR's recognizer: ONNX shape inference does not
    know the rank of the softmax's input, and torch writes its axis as 2."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        y = self.conv(x)
        y = torch.softmax(y.reshape(y.shape[0], 4, -1), dim=2)
        return self.fc(y)


@needs_ort
def test_softmax_of_unknown_rank_is_spelled_out_as_opset_11_computes_it(tmp_path):
    torch.manual_seed(0)
    model = SoftmaxOfUnknownRank().eval()
    prefix, mod, rec = run_flow(model, tmp_path, shape=(2, 3, 4, 8),
                                input_names=['x'], dynamic_axes={'x': {0: 'batch'}})
    softmax = [n for n in onnx.load(mod).graph.node if n.op_type == 'Softmax']
    assert len(softmax) == 1 and _attr(softmax[0], 'axis') == 2
    qdq = onnx.load(prefix + '_qdq_model.onnx')
    onnx.checker.check_model(qdq)
    ops = [n.op_type for n in qdq.graph.node]
    assert ops.count('Flatten') == 1 and ops.count('Softmax') == 1
    # A batch of 3: the spelled-out softmax follows the batch size at run time.
    x = _data(5, (3, 3, 4, 8)).numpy()
    got = run_ort(prefix + '_qdq_model.onnx', [x], str(tmp_path / 'q'))[0]
    want = run_ort(prefix + '_fake_quant_model.onnx', [x], str(tmp_path / 'f'))[0]
    assert got.shape == want.shape == (3, 4, 5)
    # The same softmax values up to float rounding: at most a rounding tie of
    # fc's input flips, which moves an output by scale_d * |w|.
    step = dict(kit.read_record(rec))['fc']['scale_d'] * model.fc.weight.abs().max().item()
    assert np.abs(got - want).max() <= step + 1e-6


class CeilModePools(nn.Module):
    """Average pools whose last windows hang past the padded input (ceil_mode), padded
    (exported as Pad -> AveragePool) and not."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)  # 8x8 -> 5x5
        self.conv2 = nn.Conv2d(4, 6, 1)
        self.pool2 = nn.AvgPool2d(2, stride=2, ceil_mode=True)             # 5x5 -> 3x3
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        y = self.pool2(self.conv2(self.pool(torch.relu(self.conv(x)))))
        return self.fc(y.mean((2, 3)))


@needs_ort
def test_ceil_mode_average_pools_run_like_fake_quant(tmp_path):
    """ONNX Runtime folds a Pad between DequantizeLinear and a ceil-mode pool into the pool
    and divides its overhanging windows by the whole kernel (up to 80 integers off on the
    next layer's input before core/onnx/ceil_mode_pools.h): the QDQ model pads first."""
    torch.manual_seed(0)
    prefix, _, _ = run_flow(CeilModePools().eval(), tmp_path)
    qdq = onnx.load(prefix + '_qdq_model.onnx')
    producers = _node_by_output(qdq)
    for layer in ('pool', 'pool2'):
        q = next(n for n in qdq.graph.node if n.name == layer + '.quant')
        pad = producers[q.input[0]]
        assert pad.op_type == 'Pad'
        assert producers[pad.input[0]].op_type not in ('DequantizeLinear', 'QuantizeLinear')
        pool = next(n for n in qdq.graph.node if n.name == layer)
        assert pool.op_type == 'AveragePool' and producers[pool.input[0]].op_type == \
            'DequantizeLinear'
    steps, flipped = assert_qdq_matches_fake_quant(prefix, _data(7).numpy(), tmp_path)
    assert not flipped and steps.max() <= 1 + 1e-5


def test_default_formats_write_the_reference_files_only(tmp_path):
    torch.manual_seed(0)
    prefix, mod, rec = run_flow(Layers().eval(), tmp_path, formats=('deploy', 'fake_quant'))
    assert sorted(os.listdir(tmp_path / 'out')) == ['quant_deploy_model.onnx',
                                                    'quant_fake_quant_model.onnx']
    amct.save_model(mod, rec, str(tmp_path / 'default' / 'quant'))
    for suffix in ('_deploy_model.onnx', '_fake_quant_model.onnx'):
        assert open(prefix + suffix, 'rb').read() == \
            open(str(tmp_path / 'default' / 'quant') + suffix, 'rb').read()
    amct.save_model(mod, rec, str(tmp_path / 'only' / 'quant'), formats=('qdq',))
    assert os.listdir(tmp_path / 'only') == ['quant_qdq_model.onnx']
    amct.save_model(mod, rec, str(tmp_path / 'one' / 'quant'), formats='qdq')
    assert os.listdir(tmp_path / 'one') == ['quant_qdq_model.onnx']


@pytest.mark.parametrize('formats, words', [
    (('deploy', 'int8'), "unknown format 'int8'"),
    (('qdq', 'qdq'), "names 'qdq' twice"),
    ((), 'is empty'),
])
def test_bad_formats_are_a_value_error_that_writes_nothing(tmp_path, formats, words):
    torch.manual_seed(0)
    _, mod, rec = run_flow(Layers().eval(), tmp_path, formats=('qdq',))
    with pytest.raises(ValueError) as e:
        amct.save_model(mod, rec, str(tmp_path / 'bad' / 'quant'), formats=formats)
    msg = str(e.value)
    assert msg.startswith('formats (') and words in msg
    assert "allowed values: 'deploy', 'fake_quant', 'qdq'" in msg
    assert not os.path.exists(tmp_path / 'bad') or not os.listdir(tmp_path / 'bad')


@pytest.mark.parametrize('formats', [None, 3, ('qdq', 1)])
def test_formats_of_the_wrong_type_are_a_type_error(tmp_path, formats):
    with pytest.raises(TypeError, match='argument formats must be a tuple or list of str'):
        amct.save_model(str(tmp_path / 'm.onnx'), str(tmp_path / 'r.txt'), str(tmp_path / 'q'),
                        formats=formats)


@pytest.mark.parametrize('args, files', [
    (['--format', 'qdq'], ['quant_qdq_model.onnx']),
    (['--format', 'deploy', '--format', 'qdq'],
     ['quant_deploy_model.onnx', 'quant_qdq_model.onnx']),
    (['--format', 'deploy,fake_quant,qdq'],
     ['quant_deploy_model.onnx', 'quant_fake_quant_model.onnx', 'quant_qdq_model.onnx']),
    ([], ['quant_deploy_model.onnx', 'quant_fake_quant_model.onnx']),
])
def test_cli_format_writes_what_python_writes(tmp_path, args, files):
    torch.manual_seed(0)
    prefix, mod, rec = run_flow(Layers().eval(), tmp_path)  # Python: all three formats
    run = subprocess.run([CLI, 'save-model', '--modified', mod, '--record', rec,
                          '-o', str(tmp_path / 'cli' / 'quant')] + args,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(tmp_path / 'cli')) == files
    for f in files:
        suffix = f[len('quant'):]
        assert open(str(tmp_path / 'cli' / f), 'rb').read() == open(prefix + suffix, 'rb').read()


def test_a_layer_qdq_cannot_express_fails_the_call_before_any_file_is_written(tmp_path):
    torch.manual_seed(0)
    _, mod, rec = run_flow(Layers().eval(), tmp_path, formats=('qdq',))
    text = open(rec).read()
    first = text.index('act_type: "INT8"')  # the first layer in the record: conv
    with open(rec, 'w') as f:
        f.write(text[:first] + 'act_type: "INT16"' + text[first + len('act_type: "INT8"'):])
    with pytest.raises(RuntimeError, match="layer 'conv' has INT16 activations; the QDQ model "
                                           "holds INT8 activations only"):
        amct.save_model(mod, rec, str(tmp_path / 'new' / 'quant'), formats=ALL)
    assert not os.path.exists(tmp_path / 'new') or os.listdir(tmp_path / 'new') == []
    amct.save_model(mod, rec, str(tmp_path / 'new' / 'quant'))  # the reference's files still work
    assert sorted(os.listdir(tmp_path / 'new')) == ['quant_deploy_model.onnx',
                                                    'quant_fake_quant_model.onnx']
