"""Test scaffolding around the calibration kit (../shared/calibration): its
cases, models, record files and ONNX summariser, plus the calibration weights
that the ONNX tests install before the export.

The weights here (Conv+BN fusion per spec §5, DMQ balancing per §9.4, the
ARQ fake-quant weight per §8.3 with the record's scale_w) are scaffolding for
testing the ONNX passes on their own; the real algorithms live in the
calibration flow."""

import importlib.util
import json
import os
import re

import numpy as np
import torch

from conftest import SHARED

KIT = os.path.join(SHARED, 'calibration')
E2E = os.path.join(KIT, 'e2e')


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def runner():
    """The kit's runner module: onnx_summary() and compare_summary() come from there."""
    return _load('_kit_runner', os.path.join(KIT, 'run_calibration_conformance.py'))


def cases():
    if not os.path.isdir(E2E):
        return []
    with open(os.path.join(KIT, 'e2e_cases.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()]


def build_model(case):
    models = _load('_kit_models', os.path.join(KIT, 'models.py'))
    model = models.build_model(case['model'])
    if case['weights'] == 'model_state.npz':
        st = np.load(os.path.join(E2E, case['id'], 'model_state.npz'))
        model.load_state_dict({k: torch.from_numpy(st[k]) for k in st.files}, strict=True)
    return model.eval()


def calibration_input(case):
    return torch.from_numpy(np.load(os.path.join(E2E, case['id'], 'inputs.npz'))['cal0'])


_ENTRY = re.compile(r'record \{\s*key: "([^"]*)"\s*value \{(.*?)\n  \}\n\}', re.S)
_FIELD = re.compile(r'^\s*(\w+): (.*)$', re.M)


def read_record(path):
    """[(layer, {field: value or [values]})] in file order."""
    with open(path) as f:
        text = f.read()
    out = []
    for layer, body in _ENTRY.findall(text):
        entry = {}
        for key, raw in _FIELD.findall(body):
            value = raw.strip('"') if raw.startswith('"') else (
                float(raw) if key in ('scale_d', 'scale_w', 'tensor_balance_factor') else int(raw))
            if key in ('scale_w', 'offset_w', 'tensor_balance_factor'):
                entry.setdefault(key, []).append(value)
            else:
                entry[key] = value
        out.append((layer, entry))
    return out


def quant_params(record):
    """The record as the dicts _onnx_export.save_quant_models takes."""
    layers = []
    for layer, e in record:
        layers.append({
            'layer': layer, 'scale_d': e['scale_d'], 'offset_d': e['offset_d'],
            'scale_w': e.get('scale_w', []), 'offset_w': e.get('offset_w', []),
            'tensor_balance_factor': e.get('tensor_balance_factor', []),
            'act_bits': int(e['act_type'][3:]),
            'wts_bits': int(e['wts_type'][3:]) if 'wts_type' in e else 8,
            'has_weight': 'wts_type' in e,
        })
    return layers


_CONVS = ('Conv1d', 'Conv2d', 'Conv3d')


def conv_bn_pairs(model, skip_fusion_layers):
    """(conv name, bn name) pairs that §5 fuses, found on a torch.fx trace."""
    mods = dict(model.named_modules())
    pairs = []
    for node in torch.fx.symbolic_trace(model).graph.nodes:
        if node.op != 'call_module':
            continue
        bn = mods[node.target]
        if not isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            continue
        prev = node.args[0]
        if not (hasattr(prev, 'op') and prev.op == 'call_module'):
            continue
        conv = mods[prev.target]
        if (type(conv).__name__ in _CONVS and conv.padding_mode == 'zeros' and len(prev.users) == 1
                and bn.affine and bn.track_running_stats and not bn.training
                and prev.target not in skip_fusion_layers):
            pairs.append((prev.target, node.target))
    return pairs


def _fuse(conv, bn):
    f32 = torch.float32
    r = torch.tensor(1.0, dtype=f32) / torch.sqrt(bn.running_var + torch.tensor(bn.eps, dtype=f32))
    shape = (-1,) + (1,) * (conv.weight.dim() - 1)
    w = conv.weight * (bn.weight * r).reshape(shape)
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    b = (b - bn.running_mean) * r * bn.weight + bn.bias
    return w.detach(), b.detach()


def _balanced(module, w, factors):
    s = torch.tensor(factors, dtype=torch.float32)
    name = type(module).__name__
    if name.startswith('ConvTranspose'):
        return w * s.reshape((-1,) + (1,) * (w.dim() - 1))
    if getattr(module, 'groups', 1) > 1:
        return (w.reshape(s.numel(), -1) * s.reshape(-1, 1)).reshape(w.shape)
    return w * s.reshape((1, -1) + (1,) * (w.dim() - 2))


def _fake_quant(w, scale_w, bits):
    s = torch.tensor(scale_w, dtype=torch.float32).reshape((-1,) + (1,) * (w.dim() - 1))
    lo, hi = -2.0 ** (bits - 1), 2.0 ** (bits - 1) - 1
    return torch.clamp(torch.round(w / s), lo, hi) * s


def calibration_plan(case, model):
    """What the export needs: weights to install, fused BNs, new conv biases, op_data_types."""
    with open(os.path.join(E2E, case['id'], 'config.json')) as f:
        config = json.load(f)
    record = read_record(os.path.join(E2E, case['id'], 'record.txt'))
    mods = dict(model.named_modules())
    pairs = conv_bn_pairs(model, config.get('skip_fusion_layers', [])) if config.get(
        'do_fusion', True) else []
    weights, new_biases = {}, {}
    fused_w = {}
    for conv_name, bn_name in pairs:
        w, b = _fuse(mods[conv_name], mods[bn_name])
        fused_w[conv_name] = w
        weights[conv_name + '.weight'] = w
        if mods[conv_name].bias is not None:
            weights[conv_name + '.bias'] = b
        else:
            new_biases[conv_name] = b
    for layer, e in record:
        mod = mods[layer]
        if 'wts_type' not in e:
            continue
        w = fused_w.get(layer, mod.weight.detach())
        if e.get('tensor_balance_factor'):
            w = _balanced(mod, w, e['tensor_balance_factor'])
        if not type(mod).__name__.startswith('ConvTranspose'):  # K1: stays float
            w = _fake_quant(w, e['scale_w'], int(e['wts_type'][3:]))
        weights[layer + '.weight'] = w
    return {
        'weights': weights,
        'fused_batchnorms': [bn for _, bn in pairs],
        'new_conv_biases': new_biases,
        'op_data_types': {layer: 'float' for layer, _ in record},
        'record': record,
    }
