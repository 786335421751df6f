"""Graph capture for eager models: one forward pass under pre-hooks.

The core needs, per module, the facts of openamct::ModuleRecord
(include/openamct/layer_table.h): static ones, which it reads from the module
objects itself (bindings/python/eager_source.cpp), and how often each
quantizable module ran and on what rank of input, which this module finds.

Finding layers needs the graph's structure, not its arithmetic, so by default
the forward pass runs on a *meta shadow*: a copy of the module tree whose
parameters and buffers live on the ``meta`` device (no weight is copied;
shared weights stay shared), fed with meta copies of ``input_data``. When that
fails (data-dependent control flow, an operator without a meta kernel, a
plain tensor attribute, a forward that needs autograd: the shadow runs under
inference_mode), the model itself runs on ``input_data``. Either way
nothing of the user's model is copied or changed: hooks are removed and every
``training`` flag is restored, also when the forward pass raises.
"""

import contextlib
import gc
import logging

import torch

from . import _C

CAPTURE_MODES = ('auto', 'meta', 'real')
_log = logging.getLogger('openamct')


def _run_hooked(model, inputs, hooked, modules, set_eval=True, grad_off=torch.no_grad):
    """Run model(*inputs) once, in eval mode and without gradients.

    set_eval False: the model is in eval mode already (a fresh shadow).
    grad_off: the context that turns autograd off. The user's model runs
    under no_grad, so that no tensor its forward keeps becomes an inference
    tensor; a shadow, thrown away afterwards, runs under inference_mode.

    hooked: (name, module) pairs to watch; modules: the modules whose
    training flags are restored afterwards (every module of a user's model).
    Returns one [call_count, input_rank] per hooked module, in order.
    """
    seen = [[0, -1] for _ in hooked]

    def make_hook(slot):
        def pre_hook(_mod, args):
            slot[0] += 1
            if slot[0] == 1 and args and isinstance(args[0], torch.Tensor):
                slot[1] = args[0].dim()
        return pre_hook

    handles = [mod.register_forward_pre_hook(make_hook(slot))
               for slot, (_, mod) in zip(seen, hooked)]
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


def _run_shadow(model, inputs, hooked, modules):
    """_run_hooked on a meta shadow of model, fed with meta copies of inputs."""
    twins = {}
    shadow, needs_eval = _C.meta_shadow(model, modules, twins)
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
                       set_eval=needs_eval, grad_off=torch.inference_mode)


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


def run_capture(model, inputs, mode, modules, hooked):
    """Run the model once, watching the modules `hooked` ((name, module)
    pairs), and return one [call_count, input_rank] per hooked module.

    `modules` is model.named_modules() as a list.
    """
    with _gc_paused():
        if mode in ('auto', 'meta'):
            try:
                return _run_shadow(model, inputs, hooked, modules)
            except Exception as exc:  # noqa: BLE001 - any failure means: run for real
                if mode == 'meta':
                    raise RuntimeError(
                        "capture='meta' failed: %s: %s. Use capture='auto' or 'real' to run "
                        "the model on input_data instead." % (type(exc).__name__, exc)) from exc
                _log.info('The structural capture on the meta device failed (%s: %s); running '
                          'the model on input_data instead.', type(exc).__name__,
                          str(exc).splitlines()[0] if str(exc) else '')
    try:
        return _run_hooked(model, inputs, hooked, [mod for _, mod in modules])
    except Exception as exc:
        raise RuntimeError(
            "The model's forward pass on input_data failed: %s: %s. Check that "
            "input_data matches what model.forward() expects." %
            (type(exc).__name__, exc)) from exc


def capture_layer_table(model, inputs, mode='auto', modules=None):
    """Run the model once and return one record dict per named module (all
    the fields of openamct::ModuleRecord), as the core sees them."""
    modules = list(model.named_modules()) if modules is None else modules
    return _C.capture_eager(modules,
                            lambda hooked: run_capture(model, inputs, mode, modules, hooked))
