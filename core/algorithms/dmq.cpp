// DMQ balance factor (spec §9.2): s_j = a_j^alpha / w_j^(1 - alpha) per input
// channel, with the reference's fix-ups for zero channels, and the layer form
// that reads a_j / w_j from a layer's input and weight and returns the
// balanced weight. D10: an all-zero activation (or weight) gives factor 1.0
// for every channel and a warning, where the reference crashes.
#include <cmath>
#include <cstdint>

#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {

namespace {

void check_strength(double alpha) {
  if (!(alpha >= 0.2 && alpha <= 0.8))
    throw_value_error("migration_strength:" + detail::py_float(alpha) +
                      " not support, should be in [0.2, 0.8]!");
}

void check_vector(const at::Tensor& t, const char* name, const char* what) {
  if (!t.defined()) throw_value_error(std::string("dmq_factor: ") + name + " is undefined");
  detail::check_quant_data(t, what);
  if (t.dim() != 1)
    throw_value_error(std::string("dmq_factor: ") + name +
                      " must be 1-D (one value per input channel), got shape " +
                      c10::str(t.sizes()));
}

}  // namespace

DmqFactor dmq_factor(const at::Tensor& act_max, const at::Tensor& weight_max,
                     double migration_strength) {
  check_vector(act_max, "act_max", "activation");
  check_vector(weight_max, "weight_max", "weight");
  if (act_max.numel() != weight_max.numel())
    throw_value_error("dmq_factor: act_max has " + std::to_string(act_max.numel()) +
                      " channels but weight_max has " + std::to_string(weight_max.numel()) +
                      "; both need one value per input channel");
  if (act_max.numel() == 0) throw_value_error("dmq_factor: there are no input channels");
  check_strength(migration_strength);

  const at::Tensor a_t = detail::as_float32(act_max), w_t = detail::as_float32(weight_max);
  const float* a = a_t.data_ptr<float>();
  const float* w = w_t.data_ptr<float>();
  const int64_t n = a_t.numel();
  DmqFactor out;
  out.factor = at::ones({n}, at::TensorOptions().dtype(at::kFloat));
  float* s = out.factor.data_ptr<float>();

  for (int64_t j = 0; j < n; ++j)
    if (a[j] < 0.0f || w[j] < 0.0f)
      throw_value_error("dmq_factor: channel " + std::to_string(j) + " has a negative maximum (" +
                        detail::py_float(a[j] < 0.0f ? a[j] : w[j]) +
                        "); pass max |activation| and max |weight| per input channel");
  float a_max = 0.0f, w_max = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    a_max = std::max(a_max, std::fabs(a[j]));
    w_max = std::max(w_max, std::fabs(w[j]));
  }
  if (a_max < kFltEpsilon || w_max < kFltEpsilon) {
    out.warning = std::string("the whole ") + (a_max < kFltEpsilon ? "activation" : "weight") +
                  " is below FLT_EPSILON, so every tensor balance factor is 1.0 (no balancing)";
    return out;
  }

  const double alpha = migration_strength, beta = 1.0 - migration_strength;
  for (int64_t j = 0; j < n; ++j) {
    const float num = static_cast<float>(std::pow(static_cast<double>(a[j]), alpha));
    const float den = static_cast<float>(std::pow(static_cast<double>(w[j]), beta));
    s[j] = w[j] < kFltEpsilon ? 0.0f : num / den;
  }
  float act_outlier = 0.0f, wts_outlier = 0.0f;
  bool any = false;
  for (int64_t j = 0; j < n; ++j) {
    if (s[j] < kFltEpsilon) continue;
    const float ao = a[j] / s[j], wo = w[j] * s[j];
    act_outlier = any ? std::max(act_outlier, ao) : ao;
    wts_outlier = any ? std::max(wts_outlier, wo) : wo;
    any = true;
  }
  for (int64_t j = 0; j < n; ++j) {
    const bool a_small = a[j] < kFltEpsilon, w_small = w[j] < kFltEpsilon;
    if (a_small && w_small)
      s[j] = 1.0f;
    else if (a_small)
      s[j] = wts_outlier / w[j];
    else if (w_small)
      s[j] = a[j] / act_outlier;
  }
  for (int64_t j = 0; j < n; ++j)
    if (!(s[j] > kFltEpsilon && s[j] < 1.0f / kFltEpsilon))
      throw_runtime_error(
          "The tensor balance factor is less than FLT_EPSILON or larger than 1/FLT_EPSILON!");
  return out;
}

DmqLayerType parse_dmq_layer_type(const std::string& name) {
  static const std::pair<const char*, DmqLayerType> kTypes[] = {
      {"Conv1d", DmqLayerType::kConv1d},
      {"Conv2d", DmqLayerType::kConv2d},
      {"Conv3d", DmqLayerType::kConv3d},
      {"ConvTranspose1d", DmqLayerType::kConvTranspose1d},
      {"ConvTranspose2d", DmqLayerType::kConvTranspose2d},
      {"Linear", DmqLayerType::kLinear}};
  for (const auto& [n, t] : kTypes)
    if (name == n) return t;
  throw_value_error("dmq_layer: layer_type '" + name +
                    "' is not supported, use Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
                    "ConvTranspose2d or Linear");
}

namespace {

struct LayerShape {
  int64_t weight_dim;
  bool transpose;  // ConvTranspose: weight axis 0 is the input channel
  bool linear;     // activation channel axis last
};

LayerShape layer_shape(DmqLayerType t) {
  switch (t) {
    case DmqLayerType::kConv1d: return {3, false, false};
    case DmqLayerType::kConv2d: return {4, false, false};
    case DmqLayerType::kConv3d: return {5, false, false};
    case DmqLayerType::kConvTranspose1d: return {3, true, false};
    case DmqLayerType::kConvTranspose2d: return {4, true, false};
    case DmqLayerType::kLinear: return {2, false, true};
  }
  return {0, false, false};
}

}  // namespace

at::Tensor dmq_balance_weight(DmqLayerType type, const at::Tensor& weight,
                              const at::Tensor& factor_f32, int64_t groups) {
  const LayerShape ls = layer_shape(type);
  const int64_t channels = factor_f32.numel();
  // weight * factor along the input-channel axis, in the weight's dtype.
  at::Tensor factor = factor_f32.to(weight.scalar_type());
  at::Tensor balanced;
  if (ls.transpose || ls.linear || groups == 1) {
    std::vector<int64_t> shape(weight.dim(), 1);
    shape[ls.transpose ? 0 : 1] = channels;
    balanced = weight * factor.reshape(shape);
  } else {
    std::vector<int64_t> g = {groups, weight.size(0) / groups};
    g.insert(g.end(), weight.sizes().begin() + 1, weight.sizes().end());
    std::vector<int64_t> fshape(g.size(), 1);
    fshape[0] = groups;
    fshape[2] = weight.size(1);
    balanced = (weight.reshape(g) * factor.reshape(fshape)).reshape(weight.sizes());
  }
  return balanced.contiguous();
}

DmqLayerResult dmq_layer(DmqLayerType type, const at::Tensor& activation, const at::Tensor& weight,
                         double migration_strength, int64_t groups, const std::string& layer_name) {
  if (!activation.defined() || !weight.defined())
    throw_value_error("dmq_layer: activation and weight must both be tensors");
  detail::check_quant_data(activation, "activation");
  detail::check_quant_data(weight, "weight");
  const LayerShape ls = layer_shape(type);
  if (weight.dim() != ls.weight_dim)
    throw_value_error("dmq_layer: the weight of " + layer_name + " must be " +
                      std::to_string(ls.weight_dim) + "-D, got shape " + c10::str(weight.sizes()));
  if (groups < 1 || (ls.linear && groups != 1))
    throw_value_error("dmq_layer: groups " + std::to_string(groups) + " is not valid for " +
                      layer_name);
  const int64_t min_act_dim = ls.linear ? 1 : 2;
  if (activation.dim() < min_act_dim || activation.numel() == 0)
    throw_value_error("dmq_layer: the activation of " + layer_name + " (shape " +
                      c10::str(activation.sizes()) + ") has no channel axis or no element");
  const int64_t axis = ls.linear ? activation.dim() - 1 : 1;
  const int64_t act_channels = activation.size(axis);

  const at::Tensor wf = detail::as_float32(weight);
  at::Tensor w_rows;  // (Cin, -1)
  if (ls.transpose) {
    w_rows = wf.reshape({wf.size(0), -1});
  } else if (ls.linear || groups == 1) {
    w_rows = wf.transpose(0, 1).reshape({wf.size(1), -1});
  } else {
    if (wf.size(0) % groups != 0)
      throw_value_error("dmq_layer: Cout " + std::to_string(wf.size(0)) + " of " + layer_name +
                        " is not a multiple of groups " + std::to_string(groups));
    std::vector<int64_t> g = {groups, wf.size(0) / groups};
    g.insert(g.end(), wf.sizes().begin() + 1, wf.sizes().end());
    w_rows = wf.reshape(g).transpose(1, 2).reshape({groups * wf.size(1), -1});
  }
  if (w_rows.size(0) != act_channels)
    throw_value_error("the activation channel_num[" + std::to_string(act_channels) + "] of " +
                      layer_name + " must equal to weight channel_num[" +
                      std::to_string(w_rows.size(0)) + "]");

  const at::Tensor a_rows =
      detail::as_float32(activation).transpose(0, axis).reshape({act_channels, -1});
  const at::Tensor act_max = std::get<0>(a_rows.abs().max(1));
  const at::Tensor wts_max = std::get<0>(w_rows.abs().max(1));
  DmqFactor f = dmq_factor(act_max, wts_max, migration_strength);

  DmqLayerResult r;
  r.factor = f.factor;
  r.balanced_weight = dmq_balance_weight(type, weight, f.factor, groups);
  if (f.warning) r.warning = "DMQ layer " + layer_name + ": " + *f.warning;
  return r;
}

}  // namespace openamct::algorithms
