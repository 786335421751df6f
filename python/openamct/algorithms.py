"""The calibration algorithms of AMCT's post-training quantization, one call each.

These are the numeric core of ``quantize_model`` with no graph and no files,
bit-exact with the reference (``spec/calibration.md`` §5-§9). Arrays may be
numpy arrays or CPU torch tensors, float32 or float16; an array result comes
back as the kind of array that went in. The work is done in C++
(``include/openamct/algorithms.h``); this module converts arguments and
documents.

    from openamct import algorithms
    q = algorithms.ifmr([batch0, batch1], num_bits=8, with_offset=True,
                        max_percentile=0.999999, min_percentile=0.999999,
                        search_start=0.7, search_end=1.3, search_step=0.01)
    q['scale'], q['offset']
"""

import numpy as _np
import torch as _torch

from . import _C

_impl = _C.algorithms

__all__ = ['ifmr', 'hfmg', 'arq', 'minmax_scale_offset', 'dmq_factor', 'dmq_layer',
           'fuse_conv_bn', 'ada_kl_scale']


def _tensor(value, name):
    """(tensor, came_from_numpy) for a numpy array or a CPU torch tensor."""
    if isinstance(value, _torch.Tensor):
        if value.device.type != 'cpu':
            raise ValueError('%s must be on the CPU, got a tensor on %s; move it with .cpu()'
                             % (name, value.device))
        return value.detach(), False
    if isinstance(value, _np.ndarray):
        if value.dtype.byteorder == '>':
            value = value.astype(value.dtype.newbyteorder('<'))
        if not value.flags.writeable:  # torch.from_numpy warns on read-only arrays
            value = value.copy()
        return _torch.from_numpy(_np.ascontiguousarray(value)), True
    raise TypeError('%s must be a numpy.ndarray or a torch.Tensor, got %s'
                    % (name, type(value).__name__))


def _out(tensor, as_numpy):
    return tensor.numpy() if as_numpy else tensor


def _batches(batches, name='batches'):
    if not isinstance(batches, (list, tuple)):
        raise TypeError('%s must be a list of arrays (one per calibration batch), got %s'
                        % (name, type(batches).__name__))
    return [_tensor(b, '%s[%d]' % (name, i))[0] for i, b in enumerate(batches)]


def ifmr(batches, *, num_bits=8, with_offset=True, max_percentile=0.999999,
         min_percentile=0.999999, search_start=0.7, search_end=1.3, search_step=0.01):
    """IFMR activation calibration over the batches, in call order.

    The batches are flattened and concatenated (float16 is computed in
    float32). The clip range starts at the percentile extremes (always holding
    0); the upper bound is searched over
    ``torch.arange(search_start, search_end, search_step)`` ratios for the
    smallest mean squared quantisation error; the first minimum wins.

    Returns a dict: ``scale`` (float32 value), ``offset`` (int),
    ``clip_max`` and ``clip_min`` (the representable range
    ``(2^(b-1) - 1 - offset) * scale`` and ``-(2^(b-1) + offset) * scale``).

    Raises RuntimeError for NaN/Inf data, TypeError for a dtype other than
    float32/float16, ValueError for an empty list or batch, ``num_bits`` not in
    (4, 8, 16), a percentile outside [0, 1] or an empty search range.
    """
    return _impl.ifmr(_batches(batches), int(num_bits), bool(with_offset),
                      float(max_percentile), float(min_percentile), float(search_start),
                      float(search_end), float(search_step))


def hfmg(batches, *, num_bits=8, with_offset=True, nbins=4096):
    """HFMG activation calibration: a histogram of ``nbins`` bins merged batch by
    batch, tails trimmed greedily, each trimmed range scored by the L2 error of
    mapping it onto ``2^num_bits`` bins; the best range goes through
    :func:`minmax_scale_offset`.

    Only the histogram is kept between batches. Returns the dict of
    :func:`ifmr`. Errors as :func:`ifmr`; ``nbins`` must be 3 to 2^20.
    """
    return _impl.hfmg(_batches(batches), int(num_bits), bool(with_offset), int(nbins))


def arq(weight, *, channel_wise=True, num_bits=8, layout='conv', groups=1, with_offset=False):
    """ARQ weight quantisation (min-max per output channel, or per tensor).

    ``layout`` is ``'conv'`` (Conv1d/2d/3d, ``(Cout, Cin/groups, k...)``),
    ``'linear'`` (``(Cout, Cin)``) or ``'deconv'`` (ConvTranspose,
    ``(Cin, Cout/groups, k...)``, rearranged to output channels first for the
    statistics). ``num_bits`` is 4 to 8.

    Returns a dict: ``scale`` and ``offset`` (lists, one per output channel or
    one), ``fake_quant_weight`` (the weight's layout and dtype) and
    ``int_weight`` (int8, the weight's layout). NaN/Inf raises RuntimeError.
    """
    w, as_numpy = _tensor(weight, 'weight')
    r = _impl.arq(w, bool(channel_wise), int(num_bits), str(layout), int(groups),
                  bool(with_offset))
    r['fake_quant_weight'] = _out(r['fake_quant_weight'], as_numpy)
    r['int_weight'] = _out(r['int_weight'], as_numpy)
    return r


def ada_kl_scale(weight, *, channel_wise=True, layout='conv', groups=1):
    """AdaRound's initial weight scale (spec §10): per output channel (the
    rows of :func:`arq`'s layouts) or one for the whole tensor.

    ``A = max|w|`` (0: scale 1.0); a 512-bin histogram on ``[-A, A]``; for the
    windows ``[i, 512 - i)``, i = 0..19, the KL divergence (float64) between
    the window with the outer counts folded into its end bins and its
    255-level quantisation; each strict improvement sets
    ``(A - i * 2A/512) / 128``. 128 and 255 whatever the weight's bits, as the
    reference. Returns a list of floats (float32 values). NaN/Inf raises
    RuntimeError.
    """
    w, _ = _tensor(weight, 'weight')
    return _impl.ada_kl_scale(w, bool(channel_wise), str(layout), int(groups))


def minmax_scale_offset(max_val, min_val, *, asymmetric, num_bits=8):
    """The min-max rule for a float32 range: returns ``{'scale', 'offset'}``.

    Asymmetric: the range is widened to hold 0, ``scale = (max - min) / (2^b - 1)``,
    ``offset = round(-ceil((2^b - 1) / 2) - min / scale)``. Symmetric:
    ``scale = max(|max|, |min|) / (2^(b-1) - 1 + [|max| < |min|])``, offset 0.
    A scale below FLT_EPSILON becomes 1.0.
    """
    return _impl.minmax_scale_offset(float(max_val), float(min_val), bool(asymmetric),
                                     int(num_bits))


def dmq_factor(act_max, weight_max, *, migration_strength=0.5):
    """DMQ balance factor per input channel from ``act_max[j] = max|X_j|`` and
    ``weight_max[j] = max|W_j|``: ``a^alpha / w^(1 - alpha)`` with the reference's
    fix-ups for zero channels.

    Returns a float32 array. ``migration_strength`` outside [0.2, 0.8] raises
    ValueError; a factor outside (FLT_EPSILON, 1/FLT_EPSILON) raises
    RuntimeError. An all-zero activation (or weight) gives 1.0 everywhere and
    logs one WARNING (OpenAMCT deviation D10).
    """
    a, as_numpy = _tensor(act_max, 'act_max')
    w, _ = _tensor(weight_max, 'weight_max')
    return _out(_impl.dmq_factor(a, w, float(migration_strength)), as_numpy)


def dmq_layer(layer_type, activation, weight, *, migration_strength=0.5, groups=1):
    """DMQ on one layer: the factor of :func:`dmq_factor` from the layer's input
    (channel axis 1, or last for Linear) and weight (input-channel slices), and
    the weight multiplied by it along the input-channel axis.

    ``layer_type`` is Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
    or Linear. Returns ``{'factor': float32 array, 'balanced_weight': array of
    the weight's dtype and shape}``. Channel counts that differ raise ValueError.
    """
    a, as_numpy = _tensor(activation, 'activation')
    w, w_numpy = _tensor(weight, 'weight')
    r = _impl.dmq_layer(str(layer_type), a, w, float(migration_strength), int(groups),
                        '%s layer' % layer_type)
    return {'factor': _out(r['factor'], as_numpy),
            'balanced_weight': _out(r['balanced_weight'], w_numpy)}


def fuse_conv_bn(weight, bias, bn_weight, bn_bias, bn_mean, bn_var, *, eps=1e-5,
                 bn_training=False):
    """Conv+BN fusion in eval mode: ``r = 1 / sqrt(var + eps)``,
    ``weight * (bn_weight * r)`` per output channel and
    ``(bias - bn_mean) * r * bn_weight + bn_bias`` (``bias`` may be None: 0).

    Returns ``{'fused': bool, 'weight', 'bias'}``; a bias is always returned
    when fused. With ``bn_training`` nothing is fused and the inputs come back.
    """
    w, as_numpy = _tensor(weight, 'weight')
    b = None if bias is None else _tensor(bias, 'bias')[0]
    bn = [_tensor(v, n)[0] for v, n in ((bn_weight, 'bn_weight'), (bn_bias, 'bn_bias'),
                                        (bn_mean, 'bn_mean'), (bn_var, 'bn_var'))]
    r = _impl.fuse_conv_bn(w, b, bn[0], bn[1], bn[2], bn[3], float(eps), bool(bn_training))
    bias_out = r['bias']
    return {'fused': r['fused'], 'weight': _out(r['weight'], as_numpy),
            'bias': None if bias_out is None else _out(bias_out, as_numpy)}
