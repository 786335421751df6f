"""Graph capture for eager models: one forward pass under pre-hooks.

The core needs, per module, the facts of openamct::ModuleRecord
(include/openamct/layer_table.h): static ones read from the module objects,
and how often each quantizable module ran and on what rank of input.

Finding layers needs the graph's structure, not its arithmetic, so by default
the forward pass runs on a *meta shadow*: a copy of the module tree whose
parameters and buffers live on the ``meta`` device (no weight is copied;
shared weights stay shared), fed with meta copies of ``input_data``. When that
fails (data-dependent control flow, an operator without a meta kernel, a
plain tensor attribute), the model itself runs on ``input_data``. Either way
nothing of the user's model is copied or changed: hooks are removed and every
``training`` flag is restored, also when the forward pass raises.
"""

import copy
import logging

import torch

from . import _C

_QUANTIZABLE = frozenset(_C.quantizable_types())
CAPTURE_MODES = ('auto', 'meta', 'real')
_log = logging.getLogger('openamct')


def module_entries(model):
    """named_modules() as (name, class name) pairs."""
    return [(name, type(mod).__name__) for name, mod in model.named_modules()]


def _static_facts(mod, rec, weight_ids):
    padding_mode = getattr(mod, 'padding_mode', None)
    if isinstance(padding_mode, str):
        rec['padding_mode'] = padding_mode
    dilation = getattr(mod, 'dilation', None)
    if isinstance(dilation, int):
        rec['dilation'] = [dilation]
    elif isinstance(dilation, (tuple, list)):
        rec['dilation'] = [int(d) for d in dilation]
    rec['has_bias'] = isinstance(getattr(mod, 'bias', None), torch.Tensor)
    groups = getattr(mod, 'groups', 1)
    if isinstance(groups, int):
        rec['groups'] = groups
    if isinstance(mod, torch.nn.RNNBase):
        rec['num_layers'] = int(mod.num_layers)
        rec['bidirectional'] = bool(mod.bidirectional)
        rec['dropout'] = float(mod.dropout)
        rec['proj_size'] = int(getattr(mod, 'proj_size', 0))
        rec['hidden_size'] = int(mod.hidden_size)
        weight = getattr(mod, 'weight_ih_l0', None)
    else:
        weight = getattr(mod, 'weight', None)
    if isinstance(weight, torch.Tensor):
        rec['weight_shape'] = list(weight.shape)
        rec['weight_id'] = weight_ids.setdefault(id(weight), len(weight_ids))


def _static_records(model):
    """One record per named module; quantizable ones with their static facts."""
    records, observed, weight_ids = [], [], {}
    for name, mod in model.named_modules():
        rec = {'name': name, 'type_name': type(mod).__name__}
        if rec['type_name'] in _QUANTIZABLE:
            _static_facts(mod, rec, weight_ids)
            observed.append(rec)
        else:
            weight = getattr(mod, 'weight', None)
            if isinstance(weight, torch.Tensor):
                rec['weight_id'] = weight_ids.setdefault(id(weight), len(weight_ids))
        records.append(rec)
    return records, observed


def _run_hooked(model, inputs, observed_names):
    """Run model(*inputs) once; return {name: [call_count, input_rank]}."""
    by_name = dict(model.named_modules())
    seen = {name: [0, -1] for name in observed_names}

    def make_hook(slot):
        def pre_hook(_mod, args):
            slot[0] += 1
            if slot[0] == 1 and args and isinstance(args[0], torch.Tensor):
                slot[1] = args[0].dim()
        return pre_hook

    handles = [by_name[n].register_forward_pre_hook(make_hook(seen[n])) for n in observed_names]
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, training in flags:
            m.training = training
    return seen


def _to_meta(value):
    if isinstance(value, torch.Tensor):
        return value if value.is_meta else torch.empty_like(value, device='meta')
    if isinstance(value, tuple):
        return tuple(_to_meta(v) for v in value)
    if isinstance(value, list):
        return [_to_meta(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_meta(v) for k, v in value.items()}
    return value


def meta_shadow(model):
    """A copy of the module tree whose parameters and buffers are on meta.

    deepcopy is told, through its memo, to use a meta twin for every parameter
    and buffer, so no weight data is copied and a Parameter shared by two
    modules has one shared twin.
    """
    memo = {}
    for p in model.parameters():
        if id(p) not in memo:
            twin = p if p.is_meta else torch.nn.Parameter(
                torch.empty_like(p, device='meta'), requires_grad=p.requires_grad)
            memo[id(p)] = twin
    for b in model.buffers():
        if id(b) not in memo:
            memo[id(b)] = _to_meta(b)
    return copy.deepcopy(model, memo)


def capture_layer_table(model, inputs, mode='auto'):
    """Run the model once and return one record dict per named module."""
    records, observed = _static_records(model)
    names = [rec['name'] for rec in observed]
    seen = None
    if mode in ('auto', 'meta'):
        try:
            seen = _run_hooked(meta_shadow(model), _to_meta(inputs), names)
        except Exception as exc:  # noqa: BLE001 - any failure means: run for real
            if mode == 'meta':
                raise RuntimeError(
                    "capture='meta' failed: %s: %s. Use capture='auto' or 'real' to run "
                    "the model on input_data instead." % (type(exc).__name__, exc)) from exc
            _log.info('The structural capture on the meta device failed (%s: %s); running '
                      'the model on input_data instead.', type(exc).__name__,
                      str(exc).splitlines()[0] if str(exc) else '')
    if seen is None:
        try:
            seen = _run_hooked(model, inputs, names)
        except Exception as exc:
            raise RuntimeError(
                "The model's forward pass on input_data failed: %s: %s. Check that "
                "input_data matches what model.forward() expects." %
                (type(exc).__name__, exc)) from exc
    for rec in observed:
        rec['call_count'], rec['input_rank'] = seen[rec['name']]
    return records
