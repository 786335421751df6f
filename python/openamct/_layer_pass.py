"""One forward of quantize_model's input_data through the calibration copy with
a forward pre-hook on some of its layers: the shape shared by the passes that
change a layer from its actual input, behind the layers already changed before
it (bias correction, Hessian-guided rounding)."""

import torch


def forward_with_pre_hooks(work, hooks, args, kwargs):
    """Registers each (module, hook) of `hooks`, runs ``work(*args, **kwargs)``
    without autograd, and removes the hooks whatever happens."""
    handles = [module.register_forward_pre_hook(hook) for module, hook in hooks]
    try:
        with torch.no_grad():
            work(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
