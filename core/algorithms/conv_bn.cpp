// Conv+BN fusion (spec §5), the numbers only: per output channel
// r = 1 / sqrt(var + eps), W' = W * (gamma * r), b' = (b - mean) * r * gamma + beta,
// each a float32 operation in that order. A BN in training mode is not fused.
#include <cmath>
#include <cstdint>

#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {

namespace {

at::Tensor checked_vector(const at::Tensor& t, const char* name, int64_t cout) {
  if (!t.defined()) throw_value_error(std::string("fuse_conv_bn: ") + name + " is undefined");
  if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kHalf)
    throw_type_error(std::string("fuse_conv_bn: ") + name +
                     " must be float32 or float16, got " + detail::torch_dtype_name(t.scalar_type()));
  if (t.dim() != 1 || t.size(0) != cout)
    throw_value_error(std::string("fuse_conv_bn: ") + name + " must have shape [" +
                      std::to_string(cout) + "] (one value per output channel), got " +
                      c10::str(t.sizes()));
  return detail::as_float32(t);
}

}  // namespace

ConvBnFusion fuse_conv_bn(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                          const at::Tensor& bn_weight, const at::Tensor& bn_bias,
                          const at::Tensor& bn_mean, const at::Tensor& bn_var, double eps,
                          bool bn_training) {
  if (!weight.defined()) throw_value_error("fuse_conv_bn: weight is undefined");
  if (weight.scalar_type() != at::kFloat && weight.scalar_type() != at::kHalf)
    throw_type_error("fuse_conv_bn: weight must be float32 or float16, got " +
                     detail::torch_dtype_name(weight.scalar_type()));
  if (weight.dim() < 3 || weight.dim() > 5 || weight.numel() == 0)
    throw_value_error("fuse_conv_bn: weight must be a non-empty 3-D to 5-D conv weight "
                      "(Cout, Cin/groups, k...), got " + c10::str(weight.sizes()));
  if (!(std::isfinite(eps) && eps >= 0.0))
    throw_value_error("fuse_conv_bn: eps " + detail::py_float(eps) +
                      " must be a finite number >= 0");
  const int64_t cout = weight.size(0);
  const bool has_bias = bias.has_value() && bias->defined();
  const at::Tensor g = checked_vector(bn_weight, "bn_weight", cout);
  const at::Tensor beta = checked_vector(bn_bias, "bn_bias", cout);
  const at::Tensor mean = checked_vector(bn_mean, "bn_mean", cout);
  const at::Tensor var = checked_vector(bn_var, "bn_var", cout);
  const at::Tensor b = has_bias ? checked_vector(*bias, "bias", cout)
                                : at::zeros({cout}, at::TensorOptions().dtype(at::kFloat));

  ConvBnFusion out;
  if (bn_training) {
    out.fused = false;
    out.weight = weight;
    if (has_bias) out.bias = *bias;
    return out;
  }
  const at::Tensor w = detail::as_float32(weight);
  const int64_t per = w.numel() / cout;
  at::Tensor fw = at::empty_like(w);
  at::Tensor fb = at::empty({cout}, at::TensorOptions().dtype(at::kFloat));
  const float feps = static_cast<float>(eps);
  const float *wp = w.data_ptr<float>(), *gp = g.data_ptr<float>(), *bp = beta.data_ptr<float>(),
              *mp = mean.data_ptr<float>(), *vp = var.data_ptr<float>(), *cb = b.data_ptr<float>();
  float* fwp = fw.data_ptr<float>();
  float* fbp = fb.data_ptr<float>();
  // Non-finite results are spotted in the same pass (an exponent of all ones)
  // rather than by isfinite() tensors: one pass over the weight, no temporaries.
  uint32_t non_finite = 0;
  for (int64_t c = 0; c < cout; ++c) {
    const float r = 1.0f / std::sqrt(vp[c] + feps);
    const float k = gp[c] * r;
    for (int64_t i = 0; i < per; ++i) {
      const float v = wp[c * per + i] * k;
      fwp[c * per + i] = v;
      non_finite |= static_cast<uint32_t>((detail::float_bits(v) & 0x7f800000u) == 0x7f800000u);
    }
    fbp[c] = (cb[c] - mp[c]) * r * gp[c] + bp[c];
    non_finite |= static_cast<uint32_t>(!std::isfinite(fbp[c]));
  }
  out.fused = true;
  out.weight = fw.to(weight.scalar_type());
  out.bias = fb.to(has_bias ? bias->scalar_type() : weight.scalar_type());
  // float16 results can overflow in the conversion: checked on the converted tensors.
  const bool half = out.weight.scalar_type() != at::kFloat || out.bias.scalar_type() != at::kFloat;
  if (non_finite != 0 || (half && (!at::isfinite(out.weight).all().item<bool>() ||
                                   !at::isfinite(out.bias).all().item<bool>()))) {
    out.fused = false;
    out.weight = weight;
    out.bias = has_bias ? *bias : at::Tensor();
    out.warning = "Conv+BN fusion skipped because data is non-finite after fusion.";
  }
  return out;
}

}  // namespace openamct::algorithms
