// The calibration algorithms of AMCT's post-training quantization, on tensors
// only: no graph, no files, no logging. IFMR and HFMG (activations), the
// min-max rule, ARQ (weights), the DMQ balance factor and Conv+BN fusion,
// each bit-exact with the reference (spec/calibration.md §5-§9, §13), and
// AdaRound's initial scale and rounding variable (§10, specified, not scored).
//
// Activations stream: a calibrator takes one batch at a time and yields the
// result on the batch_num-th, keeping only what its algorithm needs (IFMR: the
// data, because its loss runs over every element; HFMG: one histogram).
//
// Every function throws openamct::Error (include/openamct/errors.h): kRuntime
// and kValue with the reference's messages for what the reference rejects,
// kValue for arguments the reference never sees, kType for a bad dtype.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace openamct::algorithms {

// FLT_EPSILON = 2^-23, the threshold of every "< FLT_EPS" rule of the spec.
inline constexpr float kFltEpsilon = 1.1920928955078125e-07f;

// What an activation calibration yields (record fields scale_d / offset_d),
// plus the representable range: clip_max = (2^(b-1) - 1 - offset) * scale,
// clip_min = (2^(b-1) + offset) * (-scale).
struct ActivationQuant {
  float scale = 1.0f;
  int32_t offset = 0;
  float clip_max = 0.0f;
  float clip_min = 0.0f;
};

struct ScaleOffset {
  float scale = 1.0f;
  int32_t offset = 0;
};

// ---- IFMR (spec §6) ---------------------------------------------------------------
struct IfmrOptions {
  int64_t num_bits = 8;  // 4, 8 or 16
  bool with_offset = true;
  double max_percentile = 0.999999;
  double min_percentile = 0.999999;
  double search_start = 0.7;
  double search_end = 1.3;
  double search_step = 0.01;
  int64_t batch_num = 1;
};

// Keeps every element of batches 1..batch_num (the loss runs over all of them,
// in their order, as the reference's float32 reduction does); finalises on the
// batch_num-th batch. Later batches change nothing.
class IfmrCalibrator {
 public:
  explicit IfmrCalibrator(const IfmrOptions& options);
  // float32 or float16, any shape. Returns the result on the batch_num-th call.
  std::optional<ActivationQuant> add_batch(const at::Tensor& batch);
  bool done() const { return result_.has_value(); }
  const std::optional<ActivationQuant>& result() const { return result_; }
  // Bytes held between batches (the kept data).
  size_t kept_bytes() const { return data_.size() * sizeof(float); }

 private:
  IfmrOptions options_;
  int64_t seen_ = 0;
  std::vector<float> data_;
  // The counts of the top byte of data_'s sort keys (sign and exponent),
  // tallied as batches are copied in, for the percentile selection.
  std::vector<size_t> top_digit_counts_;
  // The smallest and largest element kept so far.
  float min_ = 0.0f, max_ = 0.0f;
  std::optional<ActivationQuant> result_;
};

// ---- HFMG (spec §7) ---------------------------------------------------------------
struct HfmgOptions {
  int64_t num_bits = 8;  // 4, 8 or 16
  bool with_offset = true;
  int64_t nbins = 4096;  // 1..2^20 (the reference's configs use 1024..8192)
  int64_t batch_num = 1;
};

// Keeps one histogram (nbins counts and its float32 range); merges every new
// batch into it; searches on the batch_num-th batch.
class HfmgCalibrator {
 public:
  explicit HfmgCalibrator(const HfmgOptions& options);
  std::optional<ActivationQuant> add_batch(const at::Tensor& batch);
  bool done() const { return result_.has_value(); }
  const std::optional<ActivationQuant>& result() const { return result_; }
  // The histogram so far (for diagnostics and tests).
  const std::vector<int64_t>& counts() const { return counts_; }
  float range_min() const { return lo_; }
  float range_max() const { return hi_; }

 private:
  HfmgOptions options_;
  int64_t seen_ = 0;
  std::vector<int64_t> counts_;
  float lo_ = 0.0f;
  float hi_ = 0.0f;
  std::optional<ActivationQuant> result_;
};

// One-call forms over a list of batches (batch_num = batches.size(), >= 1).
ActivationQuant ifmr(const std::vector<at::Tensor>& batches, IfmrOptions options);
ActivationQuant hfmg(const std::vector<at::Tensor>& batches, HfmgOptions options);

// ---- min-max rule (spec §8.1) ----------------------------------------------------------
ScaleOffset minmax_scale_offset(float max_val, float min_val, bool asymmetric, int64_t num_bits);

// ---- ARQ (spec §8.2) ----------------------------------------------------------------
enum class WeightLayout { kConv, kLinear, kDeconv };
// "conv", "linear", "deconv"; anything else is a ValueError listing these.
WeightLayout parse_weight_layout(const std::string& name);

struct ArqOptions {
  bool channel_wise = true;
  int64_t num_bits = 8;  // 4..8
  WeightLayout layout = WeightLayout::kConv;
  int64_t groups = 1;
  bool with_offset = false;
};

struct ArqResult {
  std::vector<float> scale;    // one per output channel, or one
  std::vector<int32_t> offset;
  at::Tensor fake_quant_weight;  // input layout and dtype
  at::Tensor int_weight;         // input layout, int8
};

ArqResult arq(const at::Tensor& weight, const ArqOptions& options);

// The (Cout, Cin/g, k...) view of a ConvTranspose weight (Cin, Cout/g, k...);
// its own inverse. Returns a contiguous tensor.
at::Tensor deconv_to_cout_first(const at::Tensor& weight, int64_t groups);

// ---- RNN weights (spec §15) -------------------------------------------------------------
// LSTM gates (i, f, g, o) in torch's row order become (i, o, f, g) in ONNX's;
// GRU (r, z, n) become (z, r, n). The ONNX exporter reorders W, R and B so,
// and the record holds the weight factors in ONNX order.
enum class RnnKind { kLstm, kGru };
// "LSTM" or "GRU" (the module class name); anything else is a ValueError.
RnnKind parse_rnn_kind(const std::string& name);
// `rows` (G*H, ...) in torch gate order -> ONNX gate order, along dim 0.
// ValueError when dim 0 is not a multiple of the gate count.
at::Tensor rnn_gates_to_onnx(RnnKind kind, const at::Tensor& rows);
// The same reorder for per-row values (the scales of one weight).
template <typename T>
std::vector<T> rnn_gates_to_onnx(RnnKind kind, const std::vector<T>& rows);

// ARQ of one RNN weight (weight_ih_l0 (G*H, In) or weight_hh_l0 (G*H, H)),
// one scale per row, symmetric. The factors come in ONNX gate order, the
// fake-quantised weight in torch's (the module's) order. Per-tensor
// (channel_wise false) is a RuntimeError, as in the reference's gate reorder.
ArqResult rnn_arq(RnnKind kind, const at::Tensor& weight, bool channel_wise, int64_t num_bits);

// ---- AdaRound (spec §10) ---------------------------------------------------------------
// γ and ζ of the rectified sigmoid h(α) = clamp(sigmoid(α)·(ζ − γ) + γ, 0, 1).
inline constexpr double kAdaGamma = -0.1;
inline constexpr double kAdaZeta = 1.1;

// The KL initial scale: per output channel (Cout-first rows, deconv rearranged
// as in ARQ) or one for the whole tensor. A = max|w| (0: scale 1); a 512-bin
// float32 histogram on [-A, A]; for windows [i, 512 - i), i = 0..19, the
// float64 KL divergence between the clipped window p and its 255-level
// quantisation q; each strict improvement sets (A - i·hw) / 128. A scale below
// FLT_EPSILON becomes 1. 128 and 255 whatever num_bits (K6). NaN/Inf weights
// raise the RuntimeError of ARQ.
std::vector<float> ada_kl_scale(const at::Tensor& weight, bool channel_wise, WeightLayout layout,
                                int64_t groups);
// The scales as a float32 tensor that divides the weight element-wise: the
// weight's own shape (each element its output channel's scale), or a 0-dim
// tensor for one scale.
at::Tensor ada_scale_tensor(const std::vector<float>& scale, const at::Tensor& weight,
                            WeightLayout layout, int64_t groups);
// α0 = −ln((ζ − γ)/(frac − γ) − 1), frac = v − floor(v), v = W/s: h(α0) = frac.
at::Tensor ada_init_alpha(const at::Tensor& weight, const at::Tensor& scale);
at::Tensor ada_rectified_sigmoid(const at::Tensor& alpha);
// W_q = clamp(floor(W/s) + h(α), −128, 127) · s, float32 (INT8 bounds whatever
// num_bits, K6). ATen ops only: differentiable in α when α requires grad.
at::Tensor ada_soft_weight(const at::Tensor& weight, const at::Tensor& scale,
                           const at::Tensor& alpha);

// ---- Hessian-guided weight rounding (an OpenAMCT extension) ---------------------------------
// GPTQ's rounding (Frantar et al., 2022) on ARQ's grid: the integers of a
// layer's weight chosen one input column at a time, each column's rounding
// error moved onto the columns not yet rounded through the inverse of the
// layer input's Hessian H = Σ x·xᵀ (damped by `damping` × mean diag H),
// columns in decreasing order of H_ii. Symmetric grid [-2^(b-1), 2^(b-1)-1].
struct HessianRoundingOptions {
  int64_t num_bits = 8;
  double damping = 0.01;
  int64_t block = 128;  // columns whose errors reach the rest in one product
};

// rows (G, R, K): G groups of R output channels over the group's K inputs;
// hessian (G, K, K); scale (G, R): each row's scale_w. Returns the integers
// (G, R, K) as float32. Shapes that do not match, num_bits outside 2..8 or a
// non-positive damping are ValueErrors; non-finite weights, Hessian or
// scales a RuntimeError.
at::Tensor hessian_round(const at::Tensor& rows, const at::Tensor& hessian, const at::Tensor& scale,
                         const HessianRoundingOptions& options);

// What a layer does to its input's layout: empty `kernel` for a Linear
// (in_channels = in_features); a Conv1d as a 1 × k Conv2d.
struct LayerGeometry {
  int64_t in_channels = 0;
  std::vector<int64_t> kernel, stride, padding, dilation;
  int64_t groups = 1;
};

// Σ x·xᵀ over the samples of one layer input, per group (G, K, K), float32:
// a Linear's every leading position, a conv's every output position
// (zero padding, as Conv2d's padding_mode 'zeros').
at::Tensor layer_input_hessian(const at::Tensor& input, const LayerGeometry& geometry);

// ---- DMQ balance factor (spec §9.2) ---------------------------------------------------------
struct DmqFactor {
  at::Tensor factor;                  // float32, one per input channel
  std::optional<std::string> warning;  // set when D10 applied (all-ones result)
};

// act_max[j], weight_max[j]: max |activation| and max |weight| of input channel j.
DmqFactor dmq_factor(const at::Tensor& act_max, const at::Tensor& weight_max,
                     double migration_strength);

enum class DmqLayerType { kConv1d, kConv2d, kConv3d, kConvTranspose1d, kConvTranspose2d, kLinear };
// The module class name; anything else is a ValueError listing the names.
DmqLayerType parse_dmq_layer_type(const std::string& name);

struct DmqLayerResult {
  at::Tensor factor;           // float32 (Cin)
  at::Tensor balanced_weight;  // weight's dtype and shape
  std::optional<std::string> warning;
};

DmqLayerResult dmq_layer(DmqLayerType type, const at::Tensor& activation, const at::Tensor& weight,
                         double migration_strength, int64_t groups,
                         const std::string& layer_name = "<layer>");

// weight x factor along the input-channel axis (Conv/Linear axis 1, grouped
// Conv through the (Cin, ...) view, ConvTranspose axis 0), in the weight's
// dtype (spec §9.4); `factor_f32` holds one float32 per input channel.
at::Tensor dmq_balance_weight(DmqLayerType type, const at::Tensor& weight,
                              const at::Tensor& factor_f32, int64_t groups);

// ---- Conv+BN fusion (spec §5) ---------------------------------------------------------------
struct ConvBnFusion {
  bool fused = false;
  at::Tensor weight;
  at::Tensor bias;  // always defined when fused; the input bias (maybe undefined) otherwise
  std::optional<std::string> warning;  // set when a non-finite result stopped the fusion
};

ConvBnFusion fuse_conv_bn(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                          const at::Tensor& bn_weight, const at::Tensor& bn_bias,
                          const at::Tensor& bn_mean, const at::Tensor& bn_var, double eps,
                          bool bn_training);

}  // namespace openamct::algorithms
