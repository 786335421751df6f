"""The three ONNX files (spec §12) against the calibration kit: for every e2e
case, the modified ONNX written from the kit's model with calibration weights
computed from the kit's record.txt, and the deploy / fake-quant models written
from that file and the record, each compared with the kit's summary by the
kit's own comparator (node order, names, attributes, initializer hashes)."""

import json
import os
import stat

import pytest
import torch

import calibration_kit as kit

onnx = pytest.importorskip('onnx')
from openamct import _onnx_export  # noqa: E402

CASES = kit.cases()
IDS = [c['id'] for c in CASES]
pytestmark = pytest.mark.skipif(not CASES, reason='../shared/calibration is absent')


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    """case id -> {'modified': path, 'deploy': path, 'fake_quant': path}, written once."""
    cache = {}

    def get(case):
        if case['id'] not in cache:
            work = tmp_path_factory.mktemp(case['id'])
            model = kit.build_model(case)
            plan = kit.calibration_plan(case, model)
            modified = str(work / 'modified.onnx')
            _onnx_export.write_modified_onnx(
                modified, model, kit.calibration_input(case), weights=plan['weights'],
                fused_batchnorms=plan['fused_batchnorms'],
                new_conv_biases=plan['new_conv_biases'], op_data_types=plan['op_data_types'])
            deploy, fake = _onnx_export.save_quant_models(
                modified, kit.quant_params(plan['record']), str(work / 'saved' / 'quant'))
            cache[case['id']] = {'modified': modified, 'deploy': deploy, 'fake_quant': fake}
        return cache[case['id']]
    return get


def _expect(case, which):
    with open(os.path.join(kit.E2E, case['id'], which + '.onnx_summary.json')) as f:
        return json.load(f)


RUNNER = kit.runner() if CASES else None


@pytest.mark.parametrize('case', CASES, ids=IDS)
@pytest.mark.parametrize('which', ['modified', 'deploy', 'fake_quant'])
def test_onnx_file_matches_kit(case, which, written):
    path = written(case)[which]
    assert RUNNER.compare_summary(RUNNER.onnx_summary(path), _expect(case, which)) is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize('case', CASES[:1], ids=IDS[:1])
def test_saved_paths_follow_the_prefix(case, written):
    files = written(case)
    assert os.path.basename(files['deploy']) == 'quant_deploy_model.onnx'
    assert os.path.basename(files['fake_quant']) == 'quant_fake_quant_model.onnx'


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_fake_quant_model_passes_the_onnx_checker(case, written):
    onnx.checker.check_model(onnx.load(written(case)['fake_quant']), full_check=True)


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_modified_model_passes_the_checker_without_op_data_type(case, written):
    model = onnx.load(written(case)['modified'])
    for node in model.graph.node:
        keep = [a for a in node.attribute if a.name != 'op_data_type']
        del node.attribute[:]
        node.attribute.extend(keep)
    onnx.checker.check_model(model, full_check=True)


def _tinynet():
    return next(c for c in CASES if c['id'] == 'tinynet_default')


def test_equal_valued_parameters_keep_their_own_initializers_d8(tmp_path):
    # Fresh BatchNorms: weight == running_var == 1, bias == running_mean == 0.
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4)).eval()
    data = _onnx_export.export_copy(model, torch.randn(1, 3, 6, 6)).model_bytes()
    names = sorted(t.name for t in onnx.load_from_string(data).graph.initializer)
    assert names == sorted(['%d.sub_module.%s' % (i, p) for i in (0, 2)
                            for p in ('weight', 'bias')] +
                           ['%d.sub_module.%s' % (i, p) for i in (1, 3)
                            for p in ('weight', 'bias', 'running_mean', 'running_var')])


def test_fused_batchnorm_leaves_the_graph_and_a_biasless_conv_gets_a_bias(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False),
                                torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    path = str(tmp_path / 'm.onnx')
    _onnx_export.write_modified_onnx(path, model, torch.randn(1, 3, 6, 6),
                                     fused_batchnorms=['1'],
                                     new_conv_biases={'0': torch.arange(4.0)},
                                     op_data_types={'0': 'float'})
    m = onnx.load(path)
    assert [(n.op_type, n.name) for n in m.graph.node] == [('Conv', '0'), ('Relu', '2')]
    assert list(m.graph.node[0].input)[2] == '0.bias'
    assert sorted(t.name for t in m.graph.initializer) == ['0.bias', '0.sub_module.weight']
    assert [o.domain for o in m.opset_import] == ['']
    assert [i.name for i in m.graph.input] == ['in_data.1']


def test_unknown_fused_batchnorm_is_a_runtime_error_naming_it(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    path = tmp_path / 'm.onnx'
    with pytest.raises(RuntimeError, match="layer 'bn9'"):
        _onnx_export.write_modified_onnx(str(path), model, torch.randn(1, 3, 6, 6),
                                         fused_batchnorms=['bn9'])
    assert not path.exists()


def test_record_layer_missing_from_the_graph_writes_nothing(tmp_path, written):
    if not CASES:
        pytest.skip('no kit')
    modified = written(_tinynet())['modified']
    layers = kit.quant_params(kit.read_record(
        os.path.join(kit.E2E, 'tinynet_default', 'record.txt')))
    layers[1] = dict(layers[1], layer='not_a_layer')
    with pytest.raises(RuntimeError, match="'not_a_layer'"):
        _onnx_export.save_quant_models(modified, layers, str(tmp_path / 'out' / 'q'))
    assert not (tmp_path / 'out').exists()


def test_bias_outside_int32_is_the_references_runtime_error(tmp_path, written):
    modified = written(_tinynet())['modified']
    layers = kit.quant_params(kit.read_record(
        os.path.join(kit.E2E, 'tinynet_default', 'record.txt')))
    layers[0] = dict(layers[0], scale_w=[1e-30] * 4)
    with pytest.raises(RuntimeError, match='Do bias quantize failed.'):
        _onnx_export.save_quant_models(modified, layers, str(tmp_path / 'q'))
    assert os.listdir(tmp_path) == []


def test_missing_modified_file_is_the_references_value_error(tmp_path):
    with pytest.raises(ValueError, match='The input onnx pb file is not exist.'):
        _onnx_export.save_quant_models(str(tmp_path / 'none.onnx'), [], str(tmp_path / 'q'))


def test_long_prefix_is_the_references_value_error(tmp_path, written):
    modified = written(_tinynet())['modified']
    with pytest.raises(ValueError, match=r"prefix\{x+\} is invalid"):
        _onnx_export.save_quant_models(modified, [], str(tmp_path / ('x' * 242)))


def test_large_initializers_move_to_side_files(tmp_path, written):
    from openamct import _C
    modified = written(_tinynet())['modified']
    layers = kit.quant_params(kit.read_record(
        os.path.join(kit.E2E, 'tinynet_default', 'record.txt')))
    # tinynet: deploy ~3.4 kB, fake-quant ~10.6 kB of which fc's float weight is 1920 bytes.
    _C.onnx_set_external_data_threshold_for_testing(9000)
    try:
        deploy, fake = _onnx_export.save_quant_models(modified, layers, str(tmp_path / 'q'))
    finally:
        _C.onnx_set_external_data_threshold_for_testing(-1)
    side = sorted(f for f in os.listdir(tmp_path) if f.endswith('.external'))
    assert side == ['fc.sub_module.weight_fakequant.external']
    assert stat.S_IMODE(os.stat(tmp_path / side[0]).st_mode) == 0o640
    assert os.path.getsize(fake) <= 9000
    # The same tensors as without side files once onnx loads the external data.
    whole = str(tmp_path / 'whole')
    _onnx_export.save_quant_models(modified, layers, whole + '/q')
    for got, want in ((deploy, whole + '/q_deploy_model.onnx'),
                      (fake, whole + '/q_fake_quant_model.onnx')):
        a = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(got).graph.initializer}
        b = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(want).graph.initializer}
        assert a.keys() == b.keys()
        assert all(a[k].tobytes() == b[k].tobytes() and a[k].dtype == b[k].dtype for k in a)


def test_a_model_that_cannot_fit_writes_no_file(tmp_path, written):
    from openamct import _C
    modified = written(_tinynet())['modified']
    layers = kit.quant_params(kit.read_record(
        os.path.join(kit.E2E, 'tinynet_default', 'record.txt')))
    _C.onnx_set_external_data_threshold_for_testing(100)
    try:
        with pytest.raises(RuntimeError, match='even with every initializer in a side file'):
            _onnx_export.save_quant_models(modified, layers, str(tmp_path / 'q'))
    finally:
        _C.onnx_set_external_data_threshold_for_testing(-1)
    assert os.listdir(tmp_path) == []
