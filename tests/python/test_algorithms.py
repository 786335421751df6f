"""openamct.algorithms from Python: the seven functions of the calibration kit's
API, their argument kinds and dtypes, what comes back, and the errors."""

import logging

import numpy as np
import pytest
import torch

from openamct import algorithms as alg

IFMR = dict(num_bits=8, with_offset=True, max_percentile=0.999999, min_percentile=0.999999,
            search_start=0.7, search_end=1.3, search_step=0.01)


def data(n=1000, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def f32bits(v):
    return np.float32(v).view(np.uint32)


@pytest.mark.parametrize('fn,kw', [(alg.ifmr, IFMR),
                                   (alg.hfmg, dict(num_bits=8, with_offset=True, nbins=1024))])
def test_numpy_torch_and_float16_inputs_agree(fn, kw):
    x = data()
    from_numpy = fn([x], **kw)
    from_torch = fn([torch.from_numpy(x)], **kw)
    assert from_numpy == from_torch
    assert set(from_numpy) == {'scale', 'offset', 'clip_max', 'clip_min'}
    assert isinstance(from_numpy['offset'], int)
    half = fn([x.astype(np.float16)], **kw)
    half_as_float = fn([x.astype(np.float16).astype(np.float32)], **kw)
    assert half == half_as_float


def test_ifmr_streams_batches_in_order():
    x = data(3000)
    assert alg.ifmr([x[:1000], x[1000:]], **IFMR) == alg.ifmr([x], **IFMR)


def test_ifmr_clip_range_follows_scale_and_offset():
    r = alg.ifmr([data()], **IFMR)
    scale, offset = np.float32(r['scale']), np.float32(r['offset'])
    assert f32bits(r['clip_max']) == f32bits((np.float32(127) - offset) * scale)
    assert f32bits(r['clip_min']) == f32bits((np.float32(128) + offset) * -scale)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        alg.hfmg([data()], 8, True, 1024)


def test_float64_is_the_reference_type_error():
    with pytest.raises(TypeError, match=r"^Only activation with dtype 'torch.float32' and "
                                        r"'torch.float16' is supported to be quantized, but got "
                                        r"torch.float64\.$"):
        alg.ifmr([data().astype(np.float64)], **IFMR)


def test_nan_is_the_reference_runtime_error():
    x = data()
    x[5] = np.nan
    with pytest.raises(RuntimeError, match='^The activation to be quantized has invalid value '
                                           'inf or nan!$'):
        alg.hfmg([x], num_bits=8, with_offset=True, nbins=1024)


def test_empty_batch_list_is_a_value_error():
    with pytest.raises(ValueError, match='^ifmr: batches is empty'):
        alg.ifmr([], **IFMR)


def test_batches_must_be_a_list():
    with pytest.raises(TypeError, match='^batches must be a list'):
        alg.ifmr(data(), **IFMR)


def test_a_list_is_not_an_array():
    with pytest.raises(TypeError, match=r'^batches\[0\] must be a numpy.ndarray or a '
                                        r'torch.Tensor, got list'):
        alg.ifmr([[1.0, 2.0]], **IFMR)


def test_unsupported_num_bits_is_a_value_error():
    with pytest.raises(ValueError, match='^hfmg: num_bits 5 is not supported'):
        alg.hfmg([data()], num_bits=5, with_offset=True, nbins=1024)


def test_minmax_plus_minus_one():
    r = alg.minmax_scale_offset(1.0, -1.0, asymmetric=True, num_bits=8)
    assert f32bits(r['scale']) == f32bits(np.float32(2) / np.float32(255))
    assert r['offset'] == -1


def test_arq_keeps_the_input_kind_layout_and_dtype():
    w = data(2 * 3 * 2 * 2).reshape(2, 3, 2, 2).astype(np.float16)
    r = alg.arq(w, channel_wise=True, num_bits=8, layout='deconv', groups=1, with_offset=False)
    assert isinstance(r['fake_quant_weight'], np.ndarray)
    assert r['fake_quant_weight'].dtype == np.float16 and r['fake_quant_weight'].shape == w.shape
    assert r['int_weight'].dtype == np.int8 and r['int_weight'].shape == w.shape
    assert len(r['scale']) == 3 and r['offset'] == [0, 0, 0]
    t = alg.arq(torch.from_numpy(w), channel_wise=True, num_bits=8, layout='deconv', groups=1,
                with_offset=False)
    assert isinstance(t['fake_quant_weight'], torch.Tensor)
    assert np.array_equal(t['int_weight'].numpy(), r['int_weight'])


def test_arq_bad_layout_lists_the_layouts():
    with pytest.raises(ValueError, match="^arq: layout 'lstm' is not supported, use 'conv', "
                                         "'linear' or 'deconv'$"):
        alg.arq(data(4).reshape(2, 2), channel_wise=True, num_bits=8, layout='lstm', groups=1,
                with_offset=False)


def test_dmq_factor_strength_error():
    with pytest.raises(ValueError, match=r'^migration_strength:0\.9 not support, should be in '
                                         r'\[0\.2, 0\.8\]!$'):
        alg.dmq_factor(np.ones(3, np.float32), np.ones(3, np.float32), migration_strength=0.9)


def test_dmq_all_zero_activation_is_d10_with_one_warning(openamct_log):
    with openamct_log(logging.WARNING) as caplog:
        f = alg.dmq_factor(np.zeros(4, np.float32), np.ones(4, np.float32),
                           migration_strength=0.5)
    assert f.dtype == np.float32 and np.array_equal(f, np.ones(4, np.float32))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'FLT_EPSILON' in warnings[0].getMessage()


def test_dmq_layer_linear_float16_keeps_the_weight_dtype():
    x = torch.rand(2, 3, 8) + 0.1
    w = (torch.rand(5, 8) + 0.1).half()
    r = alg.dmq_layer('Linear', x, w, migration_strength=0.5, groups=1)
    assert r['factor'].dtype == torch.float32 and r['factor'].shape == (8,)
    assert r['balanced_weight'].dtype == torch.float16
    assert torch.equal(r['balanced_weight'], w * r['factor'].half())


def test_dmq_layer_unknown_type():
    with pytest.raises(ValueError, match="^dmq_layer: layer_type 'LSTM' is not supported"):
        alg.dmq_layer('LSTM', torch.ones(2, 3), torch.ones(3, 3), migration_strength=0.5,
                      groups=1)


def test_fuse_conv_bn_returns_a_bias_when_there_was_none():
    w = np.ones((2, 1, 1, 1), np.float32)
    v = np.ones(2, np.float32)
    r = alg.fuse_conv_bn(w, None, v, v, v, v, eps=1e-5, bn_training=False)
    assert r['fused'] is True and r['bias'].shape == (2,)
    off = alg.fuse_conv_bn(w, None, v, v, v, v, eps=1e-5, bn_training=True)
    assert off['fused'] is False and off['bias'] is None
    assert np.array_equal(off['weight'], w)


def test_gpu_or_other_objects_are_rejected_clearly():
    with pytest.raises(TypeError, match='^weight must be a numpy.ndarray or a torch.Tensor'):
        alg.arq('weights', channel_wise=True, num_bits=8, layout='conv', groups=1,
                with_offset=False)


def _bench_transcriptions():
    """bench/algorithms.py: the plain torch-ops transcriptions of the spec's
    rules that the benchmark checks every result against."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'bench', 'algorithms.py')
    spec = importlib.util.spec_from_file_location('bench_algorithms', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Found by fuzz_algorithms: a range near FLT_MAX makes HFMG's float32 loss
# terms overflow, the fast estimate turned all-Inf/NaN and no candidate was
# left to score (a crash). The reference's argmin then decides over Inf and
# NaN losses; the result must be its bits, or its error.
@pytest.mark.parametrize('values', [[-1.0633824e37] + [0.0] * 14, [-1.0633824e37, 1.0, 2.0],
                                    [3e37, 0.0, 5.0, -1.0], [1e38, 2e38, -1e38, 0.0],
                                    [3e38, -3e38, 0.0]])
@pytest.mark.parametrize('nbins', [3, 64])
@pytest.mark.parametrize('with_offset', [True, False])
def test_hfmg_on_ranges_near_float_max_gives_the_transcriptions_result(values, nbins,
                                                                       with_offset):
    ref = _bench_transcriptions()
    x = torch.tensor(values, dtype=torch.float32)
    try:
        want = ref.torch_hfmg([x], num_bits=8, with_offset=with_offset, nbins=nbins)
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match='^' + str(e).replace('(', r'\(')
                           .replace(')', r'\)')):
            alg.hfmg([x], num_bits=8, with_offset=with_offset, nbins=nbins)
        return
    got = alg.hfmg([x], num_bits=8, with_offset=with_offset, nbins=nbins)
    assert f32bits(got['scale']) == f32bits(want[0]) and got['offset'] == want[1]


# HFMG screens its ~1500 trimmed ranges with a fast estimate and skips those
# whose tails alone cost more than the best so far; neither may change the
# pick. Activation-like shapes: ReLU piles, heavy tails, a few outliers,
# sparse and quantised values, over one to three batches of growing range.
def _activation_like(kind, n, g):
    x = torch.randn(n, generator=g)
    return {
        'relu': torch.relu(x),
        'normal': x * 3,
        'skewed': torch.rand(n, generator=g) ** 4,
        'heavy': x / (torch.rand(n, generator=g) + 0.05),
        'sparse': torch.relu(x) * (torch.rand(n, generator=g) < 0.05),
        'outliers': torch.cat([x[:-8], torch.full((8,), 40.0)]),
        'steps': torch.round(x * 4) / 4,
    }[kind]


@pytest.mark.parametrize('kind', ['relu', 'normal', 'skewed', 'heavy', 'sparse', 'outliers',
                                  'steps'])
@pytest.mark.parametrize('num_bits,with_offset,nbins,batches', [(8, True, 1024, 2),
                                                                 (8, False, 2048, 3),
                                                                 (4, True, 1024, 1)])
def test_hfmg_equals_the_transcription_on_activation_like_data(kind, num_bits, with_offset,
                                                               nbins, batches):
    ref = _bench_transcriptions()
    g = torch.Generator().manual_seed(len(kind) * 7 + nbins + batches)
    xs = [_activation_like(kind, 20000, g) * (1.0 + 0.3 * i) for i in range(batches)]
    want = ref.torch_hfmg(xs, num_bits=num_bits, with_offset=with_offset, nbins=nbins)
    got = alg.hfmg(xs, num_bits=num_bits, with_offset=with_offset, nbins=nbins)
    assert f32bits(got['scale']) == f32bits(want[0]) and got['offset'] == want[1]
