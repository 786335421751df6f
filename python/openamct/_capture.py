"""Graph capture for eager models: one forward pass under pre-hooks.

The core needs, per module, the facts of openamct::ModuleRecord
(include/openamct/layer_table.h): static ones read from the module object,
and how often it ran and on what rank of input. Nothing of the user's model
is copied or changed: hooks are removed and every ``training`` flag is
restored, also when the forward pass raises.
"""

import torch

from . import _C

_QUANTIZABLE = frozenset(_C.quantizable_types())


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


def _weight_id(mod, weight_ids):
    weight = getattr(mod, 'weight', None)
    if isinstance(weight, torch.Tensor):
        return weight_ids.setdefault(id(weight), len(weight_ids))
    return -1


def capture_layer_table(model, inputs):
    """Run ``model(*inputs)`` once and return one record dict per module."""
    records = []
    observed = {}
    weight_ids = {}
    for name, mod in model.named_modules():
        type_name = type(mod).__name__
        rec = {'name': name, 'type_name': type_name}
        if type_name in _QUANTIZABLE:
            rec['call_count'] = 0
            _static_facts(mod, rec, weight_ids)
            observed[id(mod)] = rec
        else:
            wid = _weight_id(mod, weight_ids)
            if wid >= 0:
                rec['weight_id'] = wid
        records.append(rec)

    def pre_hook(mod, args):
        rec = observed[id(mod)]
        rec['call_count'] += 1
        if rec['call_count'] == 1 and args and isinstance(args[0], torch.Tensor):
            rec['input_rank'] = args[0].dim()

    modules = {id(m): m for _, m in model.named_modules()}
    handles = [modules[key].register_forward_pre_hook(pre_hook) for key in observed]
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    except Exception as exc:
        raise RuntimeError(
            "The model's forward pass on input_data failed: %s: %s. Check that "
            "input_data matches what model.forward() expects." %
            (type(exc).__name__, exc)) from exc
    finally:
        for h in handles:
            h.remove()
        for m, training in flags:
            m.training = training
    return records
