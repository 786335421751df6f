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

import contextlib
import copy
import copyreg
import gc
import logging
from collections import OrderedDict

import torch

from . import _C

_QUANTIZABLE = frozenset(_C.quantizable_types())
CAPTURE_MODES = ('auto', 'meta', 'real')
_log = logging.getLogger('openamct')


def module_entries(modules):
    """(name, class name) pairs of named_modules() (given as a list)."""
    return [(name, type(mod).__name__) for name, mod in modules]


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


def _static_records(modules):
    """One record per named module; quantizable ones with their static facts.

    modules: model.named_modules() as a list. Returns (records, observed):
    observed pairs each quantizable record with its module."""
    records, observed, weight_ids = [], [], {}
    for name, mod in modules:
        rec = {'name': name, 'type_name': type(mod).__name__}
        if rec['type_name'] in _QUANTIZABLE:
            _static_facts(mod, rec, weight_ids)
            observed.append((rec, mod))
        else:
            weight = getattr(mod, 'weight', None)
            if isinstance(weight, torch.Tensor):
                rec['weight_id'] = weight_ids.setdefault(id(weight), len(weight_ids))
        records.append(rec)
    return records, observed


def _run_hooked(model, inputs, hooked, modules, set_eval=True, grad_off=torch.no_grad):
    """Run model(*inputs) once, in eval mode and without gradients.

    set_eval False: the model is in eval mode already (a fresh shadow).
    grad_off: the context that turns autograd off. The user's model runs
    under no_grad, so that no tensor its forward keeps becomes an inference
    tensor; a shadow, thrown away afterwards, runs under inference_mode.

    hooked: (name, module) pairs to watch; modules: the modules whose
    training flags are restored afterwards (every module of a user's model).
    Returns {name: [call_count, input_rank]}.
    """
    seen = {name: [0, -1] for name, _ in hooked}

    def make_hook(slot):
        def pre_hook(_mod, args):
            slot[0] += 1
            if slot[0] == 1 and args and isinstance(args[0], torch.Tensor):
                slot[1] = args[0].dim()
        return pre_hook

    handles = [mod.register_forward_pre_hook(make_hook(seen[name])) for name, mod in hooked]
    flags = [(m, m.training) for m in modules]
    try:
        if set_eval:
            model.eval()
        with grad_off():
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


# Immutable values, which deepcopy returns as they are (or, for a device, an
# equal one): the shadow shares them.
_ATOMIC = frozenset((type(None), bool, int, float, complex, str, bytes, type, torch.dtype,
                     torch.device, torch.layout, torch.memory_format))
_CONTAINERS = frozenset((dict, OrderedDict, set))
_TENSOR_DICTS = frozenset(('_parameters', '_buffers'))
# How a class copies itself: a module class that changes none of these is
# copied field by field below, exactly as deepcopy would copy it (deepcopy
# then calls __setstate__, which a class may change: so do we).
_COPY_PROTOCOL = ('__deepcopy__', '__reduce_ex__', '__reduce__', '__getstate__',
                  '__getnewargs_ex__', '__getnewargs__')


def _copies_like_module(cls, cache):
    plain = cache.get(cls)
    if plain is None:
        plain = (all(getattr(cls, n, None) is getattr(torch.nn.Module, n, None)
                     for n in _COPY_PROTOCOL)
                 and not copyreg._slotnames(cls))
        cache[cls] = plain
    return plain


def _shadow_module(mod, memo, cache):
    """copy.deepcopy(mod, memo) for a module tree, several times faster.

    deepcopy takes every attribute of every module through its generic
    protocol. Here a module whose class copies like nn.Module gets a copy of
    its __dict__ in which the parameters and buffers are their twins in memo,
    the submodules are shadows, every empty container (the hook dicts) is a
    new one, and any other value deepcopy would not share (a list, a non-empty
    dict, a tensor attribute) is deep-copied; then __setstate__, as deepcopy
    does. Any other class goes through deepcopy itself, with the same memo.
    """
    twin = memo.get(id(mod))
    if twin is not None:
        return twin
    cls = type(mod)
    if not _copies_like_module(cls, cache):
        cache['needs_eval'] = True
        return copy.deepcopy(mod, memo)
    twin = cls.__new__(cls)
    memo[id(mod)] = twin
    state = mod.__dict__.copy()
    # The shadow is born in eval mode: what model.eval() would do, without a
    # second walk of the tree, unless the class has its own train().
    if cls.train is torch.nn.Module.train:
        state['training'] = False
    else:
        cache['needs_eval'] = True
    for key, value in state.items():
        kind = type(value)
        if kind in _ATOMIC:
            continue
        if kind is OrderedDict and key == '_modules':
            state[key] = OrderedDict([(n, m if m is None else _shadow_module(m, memo, cache))
                                      for n, m in value.items()])
        elif not value and kind in _CONTAINERS:
            state[key] = kind()
        elif kind is OrderedDict and key in _TENSOR_DICTS:
            state[key] = OrderedDict([(n, t if t is None else memo[id(t)])
                                      for n, t in value.items()])
        elif kind is tuple and all(type(v) in _ATOMIC for v in value):
            continue  # deepcopy returns such a tuple itself
        else:
            state[key] = copy.deepcopy(value, memo)
    twin.__setstate__(state)
    return twin


def meta_shadow(model, memo=None, modules=None, cache=None):
    """A copy of the module tree whose parameters and buffers are on meta.

    The copy is deepcopy's, told through its memo to use a meta twin for
    every parameter and buffer, so no weight data is copied and a Parameter
    shared by two modules has one shared twin. Parameters and buffers already
    on meta are their own twins. A memo given by the caller receives, as
    deepcopy's does, the twin of every module, parameter and buffer by id.
    `modules` is model.named_modules() as a list, when the caller has it.
    """
    memo = {} if memo is None else memo
    for _, mod in (model.named_modules() if modules is None else modules):
        for p in mod._parameters.values():
            if p is not None and id(p) not in memo:
                memo[id(p)] = p if p.is_meta else torch.nn.Parameter(
                    torch.empty_like(p, device='meta'), p.requires_grad)
        for b in mod._buffers.values():
            if b is not None and id(b) not in memo:
                memo[id(b)] = b if b.is_meta else torch.empty_like(b, device='meta')
    return _shadow_module(model, memo, {} if cache is None else cache)


def _run_shadow(model, inputs, hooked, modules):
    """_run_hooked on a meta shadow of model, fed with meta copies of inputs."""
    twins, cache = {}, {}
    shadow = meta_shadow(model, twins, modules, cache)
    if not all(id(mod) in twins for _, mod in hooked):
        # a class with its own __deepcopy__ that left its submodules out of
        # the memo: find the twins by name instead
        by_name = dict(shadow.named_modules())
        twins = {id(mod): by_name[name] for name, mod in hooked}
    # The shadow is thrown away: no training flag to restore, and no tensor it
    # keeps can leak, so it runs under inference_mode. That skips autograd's
    # dispatch layers, which no_grad still enters for every operator: in a
    # fresh process the forward pages in about 0.7 MB less of libtorch's code
    # (ResNet-50). A forward that needs autograd itself (torch.autograd.grad)
    # fails here and falls back to the real run.
    return _run_hooked(shadow, _to_meta(inputs),
                       [(name, twins[id(mod)]) for name, mod in hooked], (),
                       set_eval=cache.get('needs_eval', False), grad_off=torch.inference_mode)


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off, then back as it was.

    The structural capture allocates a few container objects per module and
    frees them all at the end; on a large model (10,000 layers) the
    collections those allocations trigger walk the whole heap again and again
    and take longer than the capture itself. Nothing it allocates needs the
    collector: reference counting frees it, or the collector once it is back.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def capture_layer_table(model, inputs, mode='auto', modules=None):
    """Run the model once and return one record dict per named module.

    `modules` is model.named_modules() as a list, when the caller has it (one
    walk of a large module tree costs as much as the rest of the capture).
    """
    seen = None
    with _gc_paused():
        modules = list(model.named_modules()) if modules is None else modules
        records, observed = _static_records(modules)
        hooked = [(rec['name'], mod) for rec, mod in observed]
        if mode in ('auto', 'meta'):
            try:
                seen = _run_shadow(model, inputs, hooked, modules)
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
            seen = _run_hooked(model, inputs, hooked, [mod for _, mod in modules])
        except Exception as exc:
            raise RuntimeError(
                "The model's forward pass on input_data failed: %s: %s. Check that "
                "input_data matches what model.forward() expects." %
                (type(exc).__name__, exc)) from exc
    for rec, _ in observed:
        rec['call_count'], rec['input_rank'] = seen[rec['name']]
    return records
