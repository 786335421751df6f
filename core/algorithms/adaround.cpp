// AdaRound's numeric pieces (spec §10): the KL initial scale and the
// rectified-sigmoid rounding variable. The optimisation loop that trains α is
// autograd work on nn.Modules and lives in python/openamct/_adaround.py; the
// tensor functions below are written with ATen ops only, so that autograd
// records them when α requires grad and the loop trains through this code.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {
namespace {

constexpr int64_t kKlBins = 512;      // histogram bins on [-A, A]
constexpr int64_t kKlWindows = 20;    // windows [i, 512 - i), i = 0..19
constexpr int64_t kKlSpans = 255;     // quantised levels the window is split into
constexpr double kKlSmoothing = 0.0001;

void check_ada_shape(const at::Tensor& w, WeightLayout layout, int64_t groups) {
  const std::string shape = c10::str(w.sizes());
  if (groups < 1)
    throw_value_error("adaround: groups " + std::to_string(groups) + " must be at least 1");
  if (w.numel() == 0) throw_value_error("adaround: the weight " + shape + " is empty");
  if (layout == WeightLayout::kLinear && (w.dim() != 2 || groups != 1))
    throw_value_error("adaround: a linear weight must be 2-D (Cout, Cin) with groups 1, got " +
                      shape + " and groups " + std::to_string(groups));
  if (layout != WeightLayout::kLinear && (w.dim() < 3 || w.dim() > 5 || w.size(0) % groups != 0))
    throw_value_error("adaround: a conv / deconv weight must be 3-D to 5-D with dim 0 a multiple "
                      "of groups " + std::to_string(groups) + ", got " + shape);
}

// Smoothing of §10: zeros become 0.0001 and the non-zeros give that mass
// back, spread evenly, unless that would be a whole count or more.
void smooth(std::vector<double>& d) {
  int64_t zeros = 0;
  for (double v : d) zeros += v == 0.0;
  const int64_t nonzeros = static_cast<int64_t>(d.size()) - zeros;
  if (nonzeros == 0) return;
  const double eps = kKlSmoothing * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  if (eps >= 1.0) return;
  for (double& v : d) v = v == 0.0 ? kKlSmoothing : v + eps;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0.0, sq = 0.0;
  for (double v : p) sp += v;
  for (double v : q) sq += v;
  double kl = 0.0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double ph = p[k] / sp, qh = q[k] / sq;
    kl += ph * std::log(ph / qh);
  }
  return kl;
}

// The KL scale of one float32 row (the whole tensor when per tensor).
float kl_scale_of(const at::Tensor& row) {
  const float a = row.abs().max().item<float>();
  if (a == 0.0f) return 1.0f;
  const at::Tensor hist_t = at::histc(row, kKlBins, -a, a);
  const float* hist = hist_t.data_ptr<float>();
  const float hw = (2.0f * a) / static_cast<float>(kKlBins);
  double best = std::numeric_limits<double>::infinity();
  float scale = 1.0f;
  for (int64_t i = 0; i < kKlWindows; ++i) {
    const int64_t lo = i, hi = kKlBins - i, width = hi - lo;
    std::vector<double> p(hist + lo, hist + hi);
    for (int64_t k = 0; k < lo; ++k) p.front() += hist[k];
    for (int64_t k = hi; k < kKlBins; ++k) p.back() += hist[k];
    std::vector<double> q(width, 0.0);
    for (int64_t j = 0; j < kKlSpans; ++j) {
      // [ceil(j W / 255), ceil((j + 1) W / 255)) in integers: W >= 474 > 255,
      // so no span is empty.
      const int64_t s = (j * width + kKlSpans - 1) / kKlSpans;
      const int64_t e = ((j + 1) * width + kKlSpans - 1) / kKlSpans;
      double sum = 0.0;
      int64_t nonzero = 0;
      for (int64_t k = s; k < e; ++k) {
        sum += p[k];
        nonzero += p[k] != 0.0;
      }
      if (nonzero == 0) continue;
      const double level = sum / static_cast<double>(nonzero);
      for (int64_t k = s; k < e; ++k) q[k] = p[k] != 0.0 ? level : 0.0;
    }
    smooth(p);
    smooth(q);
    const double kl = kl_divergence(p, q);
    if (kl < best) {  // strict: the widest window wins a tie
      best = kl;
      // 128 whatever num_bits (K6).
      scale = (a - static_cast<float>(i) * hw) / 128.0f;
    }
  }
  return scale < kFltEpsilon ? 1.0f : scale;
}

}  // namespace

std::vector<float> ada_kl_scale(const at::Tensor& weight, bool channel_wise, WeightLayout layout,
                                int64_t groups) {
  if (!weight.defined()) throw_value_error("adaround: the weight is undefined");
  detail::check_quant_data(weight, "weight");
  check_ada_shape(weight, layout, groups);
  at::Tensor w = detail::as_float32(weight);
  if (layout == WeightLayout::kDeconv) w = deconv_to_cout_first(w, groups);
  if (!channel_wise) return {kl_scale_of(w.reshape({-1}))};
  const at::Tensor rows = w.reshape({w.size(0), -1});
  std::vector<float> out(rows.size(0));
  for (int64_t r = 0; r < rows.size(0); ++r) out[r] = kl_scale_of(rows[r].contiguous());
  return out;
}

at::Tensor ada_scale_tensor(const std::vector<float>& scale, const at::Tensor& weight,
                            WeightLayout layout, int64_t groups) {
  check_ada_shape(weight, layout, groups);
  if (scale.size() == 1) return at::tensor(scale[0], at::kFloat).reshape({});
  at::Tensor cout_first = layout == WeightLayout::kDeconv
                              ? deconv_to_cout_first(at::empty(weight.sizes(), at::kFloat), groups)
                              : at::empty(weight.sizes(), at::kFloat);
  if (static_cast<int64_t>(scale.size()) != cout_first.size(0))
    throw_value_error("adaround: " + std::to_string(scale.size()) + " scales for a weight of " +
                      std::to_string(cout_first.size(0)) + " output channels " +
                      c10::str(weight.sizes()));
  std::vector<int64_t> view(cout_first.dim(), 1);
  view[0] = cout_first.size(0);
  at::Tensor full = at::tensor(scale, at::kFloat).reshape(view).expand(cout_first.sizes());
  // deconv_to_cout_first is its own inverse: back to the weight's layout.
  return layout == WeightLayout::kDeconv ? deconv_to_cout_first(full, groups)
                                         : full.contiguous();
}

at::Tensor ada_init_alpha(const at::Tensor& weight, const at::Tensor& scale) {
  const at::Tensor v = at::div(weight.to(at::kFloat), scale);
  const at::Tensor frac = at::sub(v, at::floor(v));
  // (ζ - γ) / (frac - γ) the way torch evaluates `number / tensor`:
  // reciprocal, then the product with the number.
  const at::Tensor ratio = at::mul(at::reciprocal(at::sub(frac, kAdaGamma)), kAdaZeta - kAdaGamma);
  return at::neg(at::log(at::sub(ratio, 1)));
}

at::Tensor ada_rectified_sigmoid(const at::Tensor& alpha) {
  return at::clamp(at::add(at::mul(at::sigmoid(alpha), kAdaZeta - kAdaGamma), kAdaGamma), 0, 1);
}

at::Tensor ada_soft_weight(const at::Tensor& weight, const at::Tensor& scale,
                           const at::Tensor& alpha) {
  const at::Tensor base = at::floor(at::div(weight.to(at::kFloat), scale));
  // INT8 bounds whatever num_bits (K6).
  return at::mul(at::clamp(at::add(base, ada_rectified_sigmoid(alpha)), -128, 127), scale);
}

}  // namespace openamct::algorithms
