"""An ONNX graph as a torch.nn.Module, for the operators of the two PaddleOCR graphs.

Why not onnx2torch or ONNX Runtime: neither is packaged in Debian 12, the bench must
fetch nothing at run time, and python3-onnx 1.12 has no `onnx.reference`. So this
module interprets the graph node by node with torch ops, and keeps the layers a
quantizer looks for as real submodules:

* `Conv` -> `nn.Conv2d`; `MatMul` with a constant 2-D right operand (plus the `Add`
  of a constant 1-D bias right after it, when it is the MatMul's only consumer) and
  `Gemm` with a constant weight -> `nn.Linear`; `BatchNormalization` -> an eval
  `nn.BatchNorm2d`. PaddleOCR's export already folded most BNs into the convs; the
  six the recognizer still has stay separate modules right after their convs, so
  OpenAMCT's Conv+BN fusion and torch.ao's fuser see them "as the graph has it".
* Every other operator is a torch function in `forward`.
* Shape arithmetic (`Shape -> Cast/Slice/Gather/Concat -> Reshape`) is folded at load
  time for the fixed per-sample input shape the bench uses (PaddleOCR pads every line
  to 3x48x320 or 3x48x192), by running the graph twice, with batch 1 and batch 2: an
  element that differs between the runs is the batch size, and becomes ONNX's "copy
  this dimension" 0 of `Reshape`. So `forward` has no data-dependent Python, and the
  module is `torch.fx.symbolic_trace`-able (torch.ao FX) and `torch.onnx.export`-able
  (OpenAMCT's quantize_model) for any batch size.

The same class reads the fake-quant ONNX that OpenAMCT's save_model writes from this
module's export (opset 11: `Clip`/`Slice` take inputs, plus `Round`, `Gather`,
`Unsqueeze`, `Flatten`, `Gemm`), which is how the bench evaluates the INT8 model.
"""
import re

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _sanitize(name):
    return re.sub(r'[^0-9A-Za-z_]', '_', name)


# Ops whose outputs are folded when every input is a constant or already folded.
# Anything numeric may appear in shape arithmetic; the list is just what these
# graphs (and torch 1.13's export of this module) use there.
_FOLDABLE = {'Shape', 'Cast', 'Slice', 'Concat', 'Gather', 'Unsqueeze', 'Squeeze',
             'Constant', 'Mul', 'Add', 'Sub', 'Div', 'Reshape'}


class OnnxModule(torch.nn.Module):
    """forward(x) of a one-input, one-output ONNX graph; `sample_shape` is x's shape
    without the batch dimension (the shape shape-arithmetic is folded for)."""

    def __init__(self, path, sample_shape):
        super().__init__()
        graph = onnx.load(str(path)).graph
        assert len(graph.output) == 1, 'one graph output expected'
        self._consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for n in graph.node:
            if n.op_type == 'Constant':
                self._consts[n.output[0]] = numpy_helper.to_array(_attrs(n)['value'])
        inputs = [i.name for i in graph.input if i.name not in self._consts]
        assert len(inputs) == 1, f'one graph input expected, got {inputs}'
        self._input = inputs[0]
        self._output = graph.output[0].name
        nodes = [n for n in graph.node if n.op_type != 'Constant']

        consumers = {}
        for n in nodes:
            for i in n.input:
                consumers.setdefault(i, []).append(n)

        # Plan: a list of (op, input names, output names, attrs, submodule name).
        self._plan = []
        absorbed = set()        # Add nodes merged into the Linear before them
        self._n_layers = {'Conv2d': 0, 'Linear': 0}
        for n in nodes:
            if id(n) in absorbed:
                continue
            a = _attrs(n)
            op, ins, outs = n.op_type, list(n.input), list(n.output)
            mod = None
            if op == 'Conv':
                mod = self._conv(n, a)
                ins = ins[:1]
            elif op == 'MatMul' and ins[1] in self._consts and self._consts[ins[1]].ndim == 2:
                w = self._consts[ins[1]]                        # (in, out)
                bias = None
                nxt = consumers.get(outs[0], [])
                if (len(nxt) == 1 and nxt[0].op_type == 'Add' and nxt[0].input[0] == outs[0]
                        and nxt[0].input[1] in self._consts
                        and self._consts[nxt[0].input[1]].shape == (w.shape[1],)):
                    bias = self._consts[nxt[0].input[1]]
                    absorbed.add(id(nxt[0]))
                    outs = list(nxt[0].output)
                mod = self._linear(outs[0], w.T, bias)
                op, ins = 'Linear', ins[:1]
            elif op == 'Gemm' and ins[1] in self._consts:
                assert a.get('alpha', 1.0) == 1.0 and a.get('beta', 1.0) == 1.0 and not a.get('transA', 0)
                w = self._consts[ins[1]]
                w = w if a.get('transB', 0) else w.T             # -> (out, in)
                bias = self._consts[ins[2]] if len(ins) > 2 else None
                mod = self._linear(outs[0], w, bias)
                op, ins = 'Linear', ins[:1]
            elif op == 'BatchNormalization':
                scale, b, mean, var = (self._consts[i] for i in ins[1:5])
                bn = torch.nn.BatchNorm2d(len(scale), eps=a.get('epsilon', 1e-5))
                bn.weight.data = torch.from_numpy(scale.copy())
                bn.bias.data = torch.from_numpy(b.copy())
                bn.running_mean.data = torch.from_numpy(mean.copy())
                bn.running_var.data = torch.from_numpy(var.copy())
                mod = 'bn_' + _sanitize(outs[0])
                self.add_module(mod, bn.eval())
                ins = ins[:1]
            self._plan.append((op, ins, outs, a, mod))

        self._fold_shapes(sample_shape)
        # Constant tensors the forward reads become buffers (they follow .to() and
        # FX sees them as attributes); one-element constants become Python floats.
        self._py = {}
        self._bufs = {}
        for op, ins, outs, a, mod in self._plan:
            for i in ins:
                if i in self._consts and i not in self._py and i not in self._bufs:
                    v = self._consts[i]
                    if v.size == 1 and op in ('Mul', 'Add', 'Sub', 'Div', 'Pow'):
                        self._py[i] = float(v.reshape(()))
                    elif v.dtype.kind == 'f' and op not in ('Clip', 'Slice', 'Reshape'):
                        name = 'k_' + _sanitize(i)
                        self.register_buffer(name, torch.from_numpy(v.copy()))
                        self._bufs[i] = name
                    else:
                        self._py[i] = v.tolist()
        del self._consts

    # -- building -------------------------------------------------------------------
    def _conv(self, n, a):
        w = self._consts[n.input[1]]
        b = self._consts[n.input[2]] if len(n.input) > 2 else None
        assert a.get('auto_pad', b'NOTSET') in (b'NOTSET', 'NOTSET'), 'auto_pad not supported'
        pads = a.get('pads', [0, 0, 0, 0])
        assert pads[:2] == pads[2:], f'asymmetric pads {pads} not supported'
        groups = a.get('group', 1)
        conv = torch.nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),
                               stride=tuple(a.get('strides', [1, 1])), padding=tuple(pads[:2]),
                               dilation=tuple(a.get('dilations', [1, 1])), groups=groups,
                               bias=b is not None)
        conv.weight.data = torch.from_numpy(w.copy())
        if b is not None:
            conv.bias.data = torch.from_numpy(b.copy())
        name = 'conv_' + _sanitize(n.output[0])
        self.add_module(name, conv)
        self._n_layers['Conv2d'] += 1
        return name

    def _linear(self, out_name, w, bias):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        lin.weight.data = torch.from_numpy(np.array(w, dtype=np.float32, copy=True))
        if bias is not None:
            lin.bias.data = torch.from_numpy(bias.copy())
        name = 'fc_' + _sanitize(out_name)
        self.add_module(name, lin)
        self._n_layers['Linear'] += 1
        return name

    def _fold_shapes(self, sample_shape):
        """Evaluates the graph for batch 1 and 2 and turns every value computed from
        shapes and constants only into a constant (the batch entry becomes 0)."""
        static = set(self._consts)
        foldable = []
        for step in self._plan:
            op, ins, outs = step[0], step[1], step[2]
            if op in _FOLDABLE and (op == 'Shape' or all(i in static or i == '' for i in ins)):
                static.update(outs)
                foldable.append(step)
        if not foldable:
            return
        runs = []
        for batch in (1, 2):
            env = {}
            with torch.no_grad():
                self._run(torch.zeros((batch,) + tuple(sample_shape)), env, fold=False)
            runs.append(env)
        folded = {}
        ids = {id(s) for s in foldable}
        # Only the values that unfolded nodes read are kept (intermediate shape
        # values may well hold the batch size).
        needed = {i for s in self._plan if id(s) not in ids for i in s[1]}
        for step in foldable:
            for o in step[2]:
                if o not in needed:
                    continue
                v1, v2 = runs[0][o], runs[1][o]
                v1 = np.asarray(v1.numpy() if torch.is_tensor(v1) else v1)
                v2 = np.asarray(v2.numpy() if torch.is_tensor(v2) else v2)
                if v1.shape != v2.shape:
                    raise NotImplementedError(f'{o}: a shape value whose size depends on the batch')
                diff = np.flatnonzero(v1.reshape(-1) != v2.reshape(-1))
                if diff.size:
                    # Only a Reshape target may depend on the batch, in dimension 0.
                    users = [s[0] for s in self._plan if o in s[1] and id(s) not in ids]
                    if diff.tolist() != [0] or any(u != 'Reshape' for u in users):
                        raise NotImplementedError(f'{o} depends on the batch size: {v1} vs {v2}')
                    v1 = v1.copy()
                    v1.reshape(-1)[0] = 0
                folded[o] = v1
        self._consts.update(folded)
        self._plan = [s for s in self._plan if id(s) not in ids]

    # -- running --------------------------------------------------------------------
    def _val(self, env, name):
        if name in self._py:
            return self._py[name]
        if name in self._bufs:
            return getattr(self, self._bufs[name])
        return env[name]

    def _ints(self, env, name):
        v = self._val(env, name) if hasattr(self, '_py') else self._consts.get(name, env.get(name))
        if torch.is_tensor(v):
            v = v.tolist()
        return np.asarray(v).reshape(-1).tolist()

    def _get(self, env, name):
        # During folding (before _py exists) constants are read from the ONNX arrays.
        if not hasattr(self, '_py'):
            if name in env:
                return env[name]
            return torch.from_numpy(np.array(self._consts[name]))
        return self._val(env, name)

    def forward(self, x):
        env = {}
        return self._run(x, env, fold=True)

    def _run(self, x, env, fold):
        env[self._input] = x
        for op, ins, outs, a, mod in self._plan:
            g = [self._get(env, i) if i else None for i in ins]
            env[outs[0]] = self._op(op, g, a, mod, env, ins)
        return env[self._output]

    def _op(self, op, g, a, mod, env, ins):
        if mod is not None:
            return getattr(self, mod)(g[0])
        x = g[0]
        if op == 'Add':
            return x + g[1]
        if op == 'Sub':
            return x - g[1]
        if op == 'Mul':
            return x * g[1]
        if op == 'Div':
            return x / g[1]
        if op == 'Pow':
            return x ** g[1]
        if op == 'Sqrt':
            return torch.sqrt(x)
        if op == 'Relu':
            return F.relu(x)
        if op == 'Sigmoid':
            return torch.sigmoid(x)
        if op == 'HardSigmoid':
            # alpha*x + beta, clipped to [0, 1]; Paddle writes alpha 1/6, beta 0.5.
            return torch.clamp(x * a.get('alpha', 0.2) + a.get('beta', 0.5), 0.0, 1.0)
        if op == 'Round':
            return torch.round(x)           # half to even, as ONNX Round
        if op == 'Clip':
            if 'min' in a or 'max' in a:    # opset < 11
                lo, hi = a.get('min'), a.get('max')
            else:
                lo = self._ints(env, ins[1])[0] if len(ins) > 1 and ins[1] else None
                hi = self._ints(env, ins[2])[0] if len(ins) > 2 and ins[2] else None
            return torch.clamp(x, lo, hi)
        if op == 'MatMul':
            return torch.matmul(x, g[1])
        if op == 'Softmax':
            axis = a.get('axis', 1 if 'axis' not in a else a['axis'])
            # ONNX < 13 flattens from `axis`; equal to softmax over the last axis only
            # when axis is the last one, which is all these graphs use.
            if isinstance(x, torch.Tensor):     # checked on real tensors, not FX proxies
                assert axis in (-1, x.dim() - 1), f'Softmax over axis {axis} of a {x.dim()}-D tensor'
            return torch.softmax(x, dim=-1)
        if op == 'ReduceMean':
            return torch.mean(x, dim=a['axes'], keepdim=bool(a.get('keepdims', 1)))
        if op == 'Transpose':
            return x.permute(*a['perm'])
        if op == 'GlobalAveragePool':
            return torch.mean(x, dim=(2, 3), keepdim=True)
        if op == 'AveragePool':
            pads = a.get('pads', [0, 0, 0, 0])
            assert pads[:2] == pads[2:]
            return F.avg_pool2d(x, a['kernel_shape'], a.get('strides', a['kernel_shape']), pads[:2],
                                ceil_mode=bool(a.get('ceil_mode', 0)),
                                count_include_pad=bool(a.get('count_include_pad', 0)))
        if op == 'MaxPool':
            pads = a.get('pads', [0, 0, 0, 0])
            assert pads[:2] == pads[2:]
            return F.max_pool2d(x, a['kernel_shape'], a.get('strides', a['kernel_shape']), pads[:2],
                                ceil_mode=bool(a.get('ceil_mode', 0)))
        if op == 'Flatten':
            return torch.flatten(x, a.get('axis', 1))
        if op == 'Concat':
            return torch.cat(g, dim=a['axis'])
        if op == 'Reshape':
            target = self._ints(env, ins[1])
            # ONNX (allowzero 0): a 0 copies the input's dimension.
            return x.reshape([x.shape[i] if v == 0 else v for i, v in enumerate(target)])
        if op == 'Squeeze':
            axes = a['axes'] if 'axes' in a else self._ints(env, ins[1])
            assert min(axes) >= 0, 'negative Squeeze axes not supported'
            # select(ax, 0) instead of squeeze(ax): the same on a dimension of size 1,
            # and torch's exporter writes a Gather for it where, with the shapes
            # unknown (as in OpenAMCT's export), it writes an If for squeeze.
            for ax in sorted(axes, reverse=True):
                x = x.select(ax, 0)
            return x
        if op == 'Unsqueeze':
            axes = a['axes'] if 'axes' in a else self._ints(env, ins[1])
            for ax in sorted(axes):
                x = x.unsqueeze(ax)
            return x
        if op == 'Slice':
            if 'starts' in a:
                starts, ends, axes = a['starts'], a['ends'], a.get('axes')
                steps = None
            else:
                starts, ends = self._ints(env, ins[1]), self._ints(env, ins[2])
                axes = self._ints(env, ins[3]) if len(ins) > 3 and ins[3] else None
                steps = self._ints(env, ins[4]) if len(ins) > 4 and ins[4] else None
            axes = axes if axes is not None else list(range(len(starts)))
            steps = steps or [1] * len(starts)
            assert min(axes) >= 0, 'negative Slice axes not supported'
            idx = [slice(None)] * (max(axes) + 1)
            big = 2 ** 62
            for s, e, ax, st in zip(starts, ends, axes, steps):
                idx[ax] = slice(s, None if e >= big else e, st)
            return x[tuple(idx)]
        if op == 'Gather':
            idx = g[1]
            if not torch.is_tensor(idx):
                idx = torch.tensor(idx)
            return torch.index_select(x, a.get('axis', 0), idx.reshape(-1).long()).reshape(
                list(x.shape[:a.get('axis', 0)]) + list(idx.shape) + list(x.shape[a.get('axis', 0) + 1:]))
        if op == 'Shape':
            return torch.tensor(x.shape, dtype=torch.int64)
        if op == 'Cast':
            to = a['to']
            dt = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16}[to]
            return x.to(dt)
        raise NotImplementedError(f'ONNX op {op} is not supported by bench/accuracy/onnx_module.py')

    def layer_counts(self):
        return dict(self._n_layers)
