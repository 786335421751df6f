// Hessian-guided weight rounding (an OpenAMCT extension; the reference rounds
// every weight to its nearest grid point). Why: nearest rounding minimises
// each weight's own error, not the layer's output error; on the PP-OCRv4
// recognizer the weights alone cost more than a point of exact match
// (bench/accuracy). Rounding one input column at a time and moving its error
// onto the columns not yet rounded, weighted by the inverse of the layer
// input's second moment H = Σ x·xᵀ, is the optimal-brain-surgeon update of
// GPTQ (Frantar et al., 2022). The grid is ARQ's: the scales, and so the
// record, stay what the drop-in flow writes; only which of the two
// neighbouring integers a weight takes changes (or, near the clip, a farther
// one). Columns go in decreasing order of H's diagonal (the inputs with the
// most energy first, GPTQ's "act order"), in blocks whose error reaches the
// later columns in one batched product.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {
namespace {

void check_rounding_inputs(const at::Tensor& rows, const at::Tensor& hessian,
                           const at::Tensor& scale, const HessianRoundingOptions& o) {
  if (o.num_bits < 2 || o.num_bits > 8)
    throw_value_error("hessian rounding: num_bits " + std::to_string(o.num_bits) +
                      " is not supported, use 2..8");
  if (!(o.damping > 0.0) || !std::isfinite(o.damping))
    throw_value_error("hessian rounding: damping " + std::to_string(o.damping) +
                      " must be a positive number (0.01 is usual)");
  if (rows.dim() != 3 || rows.numel() == 0)
    throw_value_error("hessian rounding: the weight rows must be a non-empty (groups, rows, "
                      "inputs) tensor, got " + c10::str(rows.sizes()));
  const int64_t g = rows.size(0), r = rows.size(1), k = rows.size(2);
  if (!hessian.sizes().equals({g, k, k}))
    throw_value_error("hessian rounding: the Hessian " + c10::str(hessian.sizes()) +
                      " does not match the weight rows " + c10::str(rows.sizes()) +
                      " (expected (groups, inputs, inputs))");
  if (!scale.sizes().equals({g, r}))
    throw_value_error("hessian rounding: the scales " + c10::str(scale.sizes()) +
                      " do not match the weight rows " + c10::str(rows.sizes()) +
                      " (expected (groups, rows))");
  if (!at::isfinite(rows).all().item<bool>())
    throw_runtime_error("hessian rounding: the weight has inf or nan values");
  if (!(scale > 0).all().item<bool>() || !at::isfinite(scale).all().item<bool>())
    throw_runtime_error("hessian rounding: every scale must be positive and finite");
}

// The upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU) after damping; a dead input
// (H_ii = 0: the input is always zero) gets H_ii = 1, so its column rounds to
// nearest and passes no error on. With J the reversal, chol(J·H·J) = L gives
// H = V·Vᵀ for the upper triangular V = J·L·J, so H⁻¹ = V⁻ᵀ·V⁻¹ and U = V⁻¹:
// one Cholesky and one triangular solve instead of GPTQ's Cholesky, inverse
// and second Cholesky (about half the time with the generic LAPACK of
// Debian's torch, where a K = 2880 layer spends seconds here).
at::Tensor inverse_factor(at::Tensor h, double damping) {
  at::Tensor diag = h.diagonal(0, 1, 2);
  diag.masked_fill_(diag == 0, 1.0);
  const at::Tensor damp = diag.mean(1, /*keepdim=*/true) * damping;
  diag.add_(damp);
  // One check after the damping, whose mean can overflow too: finite data
  // can square past float32 (|x| ~ 1e19 and up), and then no factor exists.
  if (!at::isfinite(h).all().item<bool>())
    throw_runtime_error("hessian rounding: the layer input's Hessian overflows float32 (inputs "
                        "too large to square)");
  try {
    const at::Tensor v = at::linalg_cholesky(h.flip({1, 2})).flip({1, 2});
    const at::Tensor eye = at::eye(h.size(1), h.options()).expand_as(h);
    return at::linalg_solve_triangular(v, eye, /*upper=*/true);
  } catch (const c10::Error&) {
    // Damping makes a finite Hessian positive definite; with inputs near
    // float32's smallest numbers the damping itself can round away.
    throw_runtime_error("hessian rounding: the layer input's Hessian is not positive definite "
                        "in float32 (inputs near float32's smallest numbers)");
  }
}

}  // namespace

at::Tensor hessian_round(const at::Tensor& rows, const at::Tensor& hessian, const at::Tensor& scale,
                         const HessianRoundingOptions& options) {
  check_rounding_inputs(rows, hessian, scale, options);
  const int64_t groups = rows.size(0), nrows = rows.size(1), k = rows.size(2);
  const double qmin = -std::ldexp(1.0, static_cast<int>(options.num_bits - 1));
  const double qmax = -qmin - 1.0;
  // float32 throughout, as GPTQ: the damping keeps the factorisations
  // stable, and the O(K³) Cholesky work of a wide layer (K = 2880 in the
  // recognizer's neck) costs twice as much in double.
  const auto f32 = at::TensorOptions().dtype(at::kFloat);

  at::Tensor h = hessian.to(at::kFloat).clone();
  // Act order: each group's inputs by decreasing H_ii.
  const at::Tensor order = h.diagonal(0, 1, 2).argsort(/*dim=*/1, /*descending=*/true);
  const at::Tensor row_index = order.unsqueeze(1).expand({groups, nrows, k});
  h = h.gather(1, order.unsqueeze(2).expand({groups, k, k}))
          .gather(2, order.unsqueeze(1).expand({groups, k, k}));
  at::Tensor w = rows.to(at::kFloat).gather(2, row_index).contiguous();
  const at::Tensor s = scale.to(at::kFloat).unsqueeze(2);  // (G, R, 1)
  const at::Tensor u = inverse_factor(h, options.damping);
  at::Tensor q = at::empty({groups, nrows, k}, f32);

  const int64_t block = options.block > 0 ? options.block : k;
  for (int64_t b0 = 0; b0 < k; b0 += block) {
    const int64_t b1 = std::min(b0 + block, k);
    at::Tensor wb = w.slice(2, b0, b1).clone();
    at::Tensor err = at::empty({groups, nrows, b1 - b0}, f32);
    const at::Tensor ub = u.slice(1, b0, b1).slice(2, b0, b1);
    for (int64_t i = 0; i < b1 - b0; ++i) {
      const at::Tensor col = wb.select(2, i).unsqueeze(2);  // (G, R, 1)
      // torch.round: half to even, as the nearest rounding of ARQ.
      const at::Tensor qi = at::clamp(at::round(col / s), qmin, qmax);
      q.select(2, b0 + i).copy_(qi.squeeze(2));
      const at::Tensor e = (col - qi * s) / ub.select(1, i).select(1, i).view({groups, 1, 1});
      err.select(2, i).copy_(e.squeeze(2));
      if (i + 1 < b1 - b0)
        wb.slice(2, i + 1).sub_(e * ub.select(1, i).slice(1, i + 1).unsqueeze(1));
    }
    if (b1 < k) w.slice(2, b1).sub_(at::bmm(err, u.slice(1, b0, b1).slice(2, b1)));
  }
  // A weight near float32's limit over a tiny scale can overflow the error
  // it passes on; a non-finite integer would be a silent wrong weight.
  if (!at::isfinite(q).all().item<bool>())
    throw_runtime_error("hessian rounding: the rounding errors overflowed float32 (weights too "
                        "large for their scales)");
  // Back to the inputs' own order.
  return at::empty_like(q).scatter_(2, row_index, q);
}

at::Tensor layer_input_hessian(const at::Tensor& input, const LayerGeometry& g) {
  if (!at::isfinite(input).all().item<bool>())
    throw_runtime_error("hessian rounding: the layer input has inf or nan values");
  const at::Tensor x = input.detach().to(at::kFloat);
  if (g.kernel.empty()) {  // Linear: every leading dimension is a sample
    if (x.dim() < 1 || x.size(-1) != g.in_channels)
      throw_value_error("hessian rounding: a Linear input must end in in_features " +
                        std::to_string(g.in_channels) + ", got " + c10::str(x.sizes()));
    const at::Tensor cols = x.reshape({-1, g.in_channels});
    return at::mm(cols.t(), cols).unsqueeze(0);
  }
  if (g.kernel.size() != 2 || g.stride.size() != 2 || g.padding.size() != 2 ||
      g.dilation.size() != 2)
    throw_value_error("hessian rounding: a conv geometry must have 2 kernel, stride, padding "
                      "and dilation values (Conv1d as a 1 x k Conv2d)");
  if (g.groups < 1 || g.in_channels % g.groups != 0)
    throw_value_error("hessian rounding: in_channels " + std::to_string(g.in_channels) +
                      " is not a multiple of groups " + std::to_string(g.groups));
  if (x.dim() != 4 || x.size(1) != g.in_channels)
    throw_value_error("hessian rounding: a conv input must be (N, " +
                      std::to_string(g.in_channels) + ", H, W), got " + c10::str(x.sizes()));
  const int64_t k = g.in_channels / g.groups * g.kernel[0] * g.kernel[1];
  at::Tensor h = at::zeros({g.groups, k, k}, at::TensorOptions().dtype(at::kFloat));
  // A few samples at a time, about 4096 output positions: the unfolded input
  // of a whole batch can be kernel-size times the activation, and one sample
  // of a late, small feature map is too few columns for an efficient product.
  const int64_t positions = at::im2col(x.slice(0, 0, 1), g.kernel, g.dilation, g.padding,
                                       g.stride).size(2);
  const int64_t chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(positions, 1));
  for (int64_t n = 0; n < x.size(0); n += chunk) {
    const at::Tensor cols = at::im2col(x.slice(0, n, std::min(n + chunk, x.size(0))), g.kernel,
                                       g.dilation, g.padding, g.stride);  // (n, C·kh·kw, L)
    const int64_t m = cols.size(0) * positions;
    // H_g = X_g·X_gᵀ as a grouped 1-D convolution (input Xᵀ, weight X):
    // torch's convolutions run in oneDNN, its matrix products in the generic
    // BLAS of Debian's build, 15-50 times slower on these shapes.
    const at::Tensor grouped = cols.view({cols.size(0), g.groups, k, positions})
                                   .permute({1, 2, 0, 3})
                                   .reshape({g.groups, k, m});
    const at::Tensor input = grouped.transpose(1, 2).reshape({1, g.groups * m, k});
    const at::Tensor weight = grouped.reshape({g.groups * k, m, 1});
    h.add_(at::conv1d(input, weight, at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0},
                                at::IntArrayRef{1}, g.groups)
               .view({g.groups, k, k}));
  }
  return h;
}

}  // namespace openamct::algorithms
