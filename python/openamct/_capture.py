"""Graph capture for eager models: one forward pass, watching every layer.

The core needs, per module, the facts of openamct::ModuleRecord
(include/openamct/layer_table.h): static ones, which it reads from the module
objects itself (bindings/python/eager_source.cpp), and how often each
quantizable module ran and on what rank of input, which this module finds.

What counts as a call is what the reference sees in its ONNX export: it puts
a marker module in the place of each layer, under the layer's first name, so
a call through that place counts however it is made (``self.conv(x)`` or
``self.conv.forward(x)``, positional or keyword arguments), while a call
through another name of the same module object (an alias) goes round the
marker and is not seen. Here each watched module gets, for the pass only, an
instance attribute ``forward`` that counts, and every alias place holds an
uncounted stand-in (a shallow copy) for the pass.

Finding layers needs the graph's structure, not its arithmetic, so by default
the forward pass runs on a *meta shadow*: a copy of the module tree whose
parameters and buffers live on the ``meta`` device (no weight is copied;
shared weights stay shared), fed with meta copies of ``input_data``. When that
fails (data-dependent control flow, an operator without a meta kernel, a
plain tensor attribute, a forward that needs autograd: the shadow runs under
inference_mode, a lazy module), the model runs on ``input_data`` as a *real
twin*: the same kind of copy of the module tree, but sharing the model's own
parameters and buffers (nothing is copied but the module objects, and the
uninitialized parameters of lazy modules, which the pass materializes). Only
a model that cannot be copied at all runs itself, its patches removed and
its ``training`` flags restored afterwards, also when the forward pass
raises. So the user's model is never changed.
"""

import contextlib
import copy
import gc
import logging

import torch
from torch.overrides import TorchFunctionMode

from . import _C

CAPTURE_MODES = ('auto', 'meta', 'real')
_log = logging.getLogger('openamct')
_MISSING = object()


class _FastPathsOff(TorchFunctionMode):
    """Runs every torch function as it is, and by being active turns off
    PyTorch's fused inference fast paths (TransformerEncoderLayer,
    TransformerEncoder, MultiheadAttention): they check that no argument has
    a __torch_function__ override, and an active mode counts as one. A fast
    path computes its submodules' work itself and never calls them, so
    without this the real run under no_grad would miss layers (linear1,
    linear2 of an encoder layer) that the meta run sees (meta tensors fail
    the fast paths' device check) and that the reference's export sees."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _counting(forward, slot):
    """`forward`, counting its calls into slot[0] and the rank of the first
    tensor it gets (the first positional argument, else the first keyword
    argument) at the first call into slot[1]."""
    def counted_forward(*args, **kwargs):
        slot[0] += 1
        if slot[0] == 1:
            first = args[0] if args else next(iter(kwargs.values()), None)
            if isinstance(first, torch.Tensor):
                slot[1] = first.dim()
        return forward(*args, **kwargs)
    return counted_forward


def _alias_places(model, modules, watched):
    """(parent, key) of every place that holds a watched module under a name
    other than its first one, in named_modules() order. `modules` is
    model.named_modules() as a list (of the model that runs)."""
    places_in_tree = sum(len(mod._modules) for _, mod in modules)
    if places_in_tree == len(modules) - 1:
        return []  # a tree: every module has exactly one place
    watched_ids = {id(mod) for mod in watched}
    first_seen, aliases = set(), []
    for _, parent in modules:
        for key, child in parent._modules.items():
            if child is None or id(child) not in watched_ids:
                continue
            if id(child) in first_seen:
                aliases.append((parent, key))
            else:
                first_seen.add(id(child))
    return aliases


def _run_watched(model, args, kwargs, watched, restore, set_eval=True, grad_off=torch.no_grad,
                 fast_paths_off=True, modules=None):
    """Run model(*args, **kwargs) once, in eval mode and without gradients.

    watched: the modules (of `model`) whose calls are counted. restore: the
    modules whose training flags are put back afterwards (every module of a
    user's model; none of a copy). set_eval False: the model is in eval mode
    already (a fresh copy). grad_off: the context that turns autograd off:
    no_grad for the user's tensors, inference_mode for a meta shadow.
    fast_paths_off: run under _FastPathsOff (the meta run needs not: its
    tensors fail the fast paths' device check). modules: model.named_modules()
    as a list, to find aliases (None: there are none to look for).
    Returns one [call_count, input_rank] per watched module, in order.
    Every patch is removed and every flag restored, also when forward raises.
    """
    seen = [[0, -1] for _ in watched]
    flags = [(m, m.training) for m in restore]
    patched, swapped = [], []
    try:
        for parent, key in (_alias_places(model, modules, watched) if modules else ()):
            original = parent._modules[key]
            try:
                stand_in = copy.copy(original)
            except Exception:  # noqa: BLE001 - an uncopyable alias stays counted
                continue
            parent._modules[key] = stand_in
            swapped.append((parent, key, original))
        for slot, mod in zip(seen, watched):
            state = mod.__dict__
            patched.append((state, state.get('forward', _MISSING)))
            state['forward'] = _counting(mod.forward, slot)
        if set_eval:
            model.eval()
        with grad_off(), (_FastPathsOff() if fast_paths_off else contextlib.nullcontext()):
            model(*args, **kwargs)
    finally:
        for state, before in patched:
            if before is _MISSING:
                state.pop('forward', None)
            else:
                state['forward'] = before
        for parent, key, original in swapped:
            parent._modules[key] = original
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


def meta_shadow(model, memo=None, modules=None):
    """A copy of the module tree whose parameters and buffers are on meta.

    The copy is deepcopy's, told through its memo to use a meta twin for
    every parameter and buffer, so no weight data is copied and a Parameter
    shared by two modules has one shared twin. Parameters and buffers already
    on meta are their own twins. Built in C++ (bindings/python/meta_shadow.cpp
    says why and how). A memo given by the caller receives, as deepcopy's
    does, the twin of every module, parameter and buffer by id. `modules` is
    model.named_modules() as a list, when the caller has it.
    """
    modules = list(model.named_modules()) if modules is None else modules
    shadow, needs_eval = _C.meta_shadow(model, modules, {} if memo is None else memo)
    return shadow.eval() if needs_eval else shadow


def real_twin(model, memo=None, modules=None):
    """A copy of the module tree that shares the model's own parameters,
    buffers and tensor attributes: meta_shadow's copy, told through the memo
    that each of these is its own twin. Only an uninitialized parameter or
    buffer of a lazy module gets a new one (the forward pass materializes it,
    and must not do so on the model). Born in eval mode."""
    modules = list(model.named_modules()) if modules is None else modules
    memo = {} if memo is None else memo
    for _, mod in modules:
        for tensors in (mod._parameters, mod._buffers):
            for t in tensors.values():
                if t is not None and id(t) not in memo:
                    lazy = isinstance(t, torch.nn.parameter.UninitializedTensorMixin)
                    memo[id(t)] = copy.deepcopy(t) if lazy else t
        for value in mod.__dict__.values():  # e.g. the weight a pruning hook computes
            if isinstance(value, torch.Tensor):
                memo.setdefault(id(value), value)
    shadow, needs_eval = _C.meta_shadow(model, modules, memo)
    return shadow.eval() if needs_eval else shadow


def _twins_of(copy_, memo, hooked):
    """The copy's module for each hooked (name, module) of the model."""
    if not all(id(mod) in memo for _, mod in hooked):
        # a class with its own __deepcopy__ that left its submodules out of
        # the memo: find the twins by name instead
        by_name = dict(copy_.named_modules())
        return [by_name[name] for name, _ in hooked]
    return [memo[id(mod)] for _, mod in hooked]


def _has_aliases(modules):
    return sum(len(mod._modules) for _, mod in modules) != len(modules) - 1


def _run_shadow(model, args, kwargs, hooked, modules):
    """_run_watched on a meta shadow of model, fed with meta copies of the
    inputs."""
    twins = {}
    shadow, needs_eval = _C.meta_shadow(model, modules, twins)
    # The shadow is thrown away: no training flag to restore, and no tensor it
    # keeps can leak, so it runs under inference_mode. That skips autograd's
    # dispatch layers, which no_grad still enters for every operator: in a
    # fresh process the forward pages in about 0.7 MB less of libtorch's code
    # (ResNet-50). A forward that needs autograd itself (torch.autograd.grad)
    # fails here and falls back to the real run.
    return _run_watched(shadow, _to_meta(args), _to_meta(kwargs),
                        _twins_of(shadow, twins, hooked), (),
                        set_eval=needs_eval, grad_off=torch.inference_mode, fast_paths_off=False,
                        modules=list(shadow.named_modules()) if _has_aliases(modules) else None)


def _real_run(model, hooked, modules):
    """What the real run runs: (model to run, watched modules, modules whose
    flags to restore, whether to call eval(), its named_modules() when
    aliases are to be found). A real twin of the model; the model itself,
    with every patch removed and flag restored, only when it cannot be
    copied and has no lazy module (whose materialization would change it)."""
    memo = {}
    try:
        twin = real_twin(model, memo, modules)
    except Exception as exc:  # noqa: BLE001 - any failure means: run the model itself
        if any(isinstance(t, torch.nn.parameter.UninitializedTensorMixin)
               for _, mod in modules for t in mod._parameters.values()):
            raise RuntimeError(
                'The model has lazy modules with uninitialized parameters and cannot be copied '
                '(%s: %s); running it would initialize them. Run it once on input_data '
                'yourself to initialize them, then call again.' % (type(exc).__name__, exc)) from exc
        _log.info('The model cannot be copied for its forward pass (%s: %s); running the model '
                  'itself, restored afterwards.', type(exc).__name__,
                  str(exc).splitlines()[0] if str(exc) else '')
        return model, [mod for _, mod in hooked], [mod for _, mod in modules], True, modules
    return (twin, _twins_of(twin, memo, hooked), (), False,
            list(twin.named_modules()) if _has_aliases(modules) else None)


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


def run_capture(model, args, kwargs, mode, modules, hooked):
    """Run the model once on model(*args, **kwargs), watching the modules
    `hooked` ((name, module) pairs), and return one [call_count, input_rank]
    per hooked module.

    `modules` is model.named_modules() as a list.
    """
    with _gc_paused():
        if mode in ('auto', 'meta'):
            try:
                return _run_shadow(model, args, kwargs, hooked, modules)
            except Exception as exc:  # noqa: BLE001 - any failure means: run for real
                if mode == 'meta':
                    raise RuntimeError(
                        "capture='meta' failed: %s: %s. Use capture='auto' or 'real' to run "
                        "the model on input_data instead." % (type(exc).__name__, exc)) from exc
                _log.info('The structural capture on the meta device failed (%s: %s); running '
                          'the model on input_data instead.', type(exc).__name__,
                          str(exc).splitlines()[0] if str(exc) else '')
    target, watched, restore, set_eval, target_modules = _real_run(model, hooked, modules)
    try:
        return _run_watched(target, args, kwargs, watched, restore, set_eval=set_eval,
                            modules=target_modules)
    except Exception as exc:
        raise RuntimeError(
            "The model's forward pass on input_data failed: %s: %s. Check that "
            "input_data matches what model.forward() expects." %
            (type(exc).__name__, exc)) from exc


def capture_layer_table(model, args, mode='auto', modules=None, kwargs=None):
    """Run the model once and return one record dict per named module (all
    the fields of openamct::ModuleRecord), as the core sees them."""
    modules = list(model.named_modules()) if modules is None else modules
    kwargs = {} if kwargs is None else kwargs
    return _C.capture_eager(
        modules, lambda hooked: run_capture(model, args, kwargs, mode, modules, hooked))
