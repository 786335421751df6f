// The C++ side of quantize_preprocess / quantize_model / the calibration
// forwards (spec §2.2, §2.3, §4, §9, §11.3). Python owns the nn.Module copy and
// hands over tensors; everything that decides, computes or writes is here:
// which Conv+BN pairs fuse and how, the DMQ factors, ARQ, the record file's
// content and writes, the modified ONNX, and the activation calibrators.
#pragma once

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/config_reader.h"
#include "flow/exported_params.h"
#include "flow/flow_graph.h"
#include "onnx/modified_pass.h"
#include "openamct/algorithms.h"
#include "record/layer_record.h"

namespace openamct {
namespace flow {

struct FusedConv {
  at::Tensor weight;
  at::Tensor bias;
};

// The BN-side facts of one Conv+BN pair that only the module knows (§5).
struct BatchNormFacts {
  at::Tensor weight, bias, running_mean, running_var;
  double eps = 1e-5;
  bool training = false;
  bool fusable_kind = true;  // BatchNorm1d/2d/3d with affine and track_running_stats
};

// Feeds each enabled layer's calibration inputs to its IFMR / HFMG and
// rewrites the record once, when the last layer reaches call batch_num (§4.3).
// With `output_layers` (quantize_model's qdq_full), those layers' outputs go
// to calibrators of their own (the layer's algorithm and settings), and the
// output scales file (output_scales.h) is written just before the record.
class CalibrationRecorder {
 public:
  using Calibrator = std::variant<algorithms::IfmrCalibrator, algorithms::HfmgCalibrator>;
  CalibrationRecorder(CalibrationSettings settings, RecordContent weight_record,
                      std::string record_path,
                      std::optional<std::vector<std::string>> output_layers = std::nullopt);
  // Call of layer `index` (settings order) with its input after DMQ. Counts
  // the call; calls 1..batch_num go to the calibrator (errors of §6.1 raise).
  void add_batch(size_t index, const at::Tensor& x);
  // Whether layer `index`'s output is calibrated too (then add_output comes
  // first in each call, with the layer's output).
  bool measures_output(size_t index) const;
  void add_output(size_t index, const at::Tensor& y);
  // LSTM / GRU layers (§15): the hidden states that entered the recurrence,
  // cat(h0, output[:-1]) along the sequence, go to a calibrator of their
  // own (the layer's algorithm and settings) -> scale_h / offset_h. Called
  // before add_batch in each call; ValueError for any other layer.
  bool calibrates_hidden(size_t index) const;
  void add_hidden(size_t index, const at::Tensor& h);
  bool complete() const { return complete_; }
  // Bytes the calibrators hold between calls (IFMR: the kept data).
  size_t kept_bytes() const;

 private:
  CalibrationSettings settings_;
  RecordContent record_;
  std::string record_path_;
  std::vector<Calibrator> calibrators_;
  std::vector<int64_t> calls_;
  size_t finished_ = 0;
  bool complete_ = false;
  bool write_outputs_ = false;
  std::vector<int> output_slot_;  // per layer: index into output_calibrators_, or -1
  std::vector<Calibrator> output_calibrators_;
  RecordContent outputs_;
  size_t outputs_finished_ = 0;
  std::vector<int> hidden_slot_;  // per layer: index into hidden_calibrators_, or -1
  std::vector<Calibrator> hidden_calibrators_;
};

// quantize_model after the export (§2.3 steps 4-9).
class QuantizeModelFlow {
 public:
  // `exported`: torch.onnx.export's bytes of the marker-wrapped copy, exported
  // without its parameters; `params`: the exporter's parameters (its float
  // weights and folded constants), which become the initializers here. In the
  // DMQ flow the record must exist, hold an entry and pass §11.4; otherwise
  // the record starts empty (written by write()). quantize_preprocess uses
  // one with `read_dmq_record` false for the fusion.
  QuantizeModelFlow(CalibrationSettings settings, std::string_view exported,
                    const ExportedParams& params, std::string record_path,
                    bool read_dmq_record = true);

  const CalibrationSettings& settings() const { return settings_; }
  // Pairs of §5 that may fuse (do_fusion, not in skip_fusion_layers), graph order.
  std::vector<ConvBnPair> fusion_candidates() const;
  // Fuses one pair (WARNINGs of §5 when it does not); remembers the BN and bias.
  std::optional<FusedConv> fuse(const ConvBnPair& pair, const at::Tensor& conv_weight,
                                const std::optional<at::Tensor>& conv_bias,
                                const BatchNormFacts& bn);
  // The weight pass of one enabled layer (§2.3 step 7): DMQ x s, ARQ or the
  // AdaRound KL scale, record fields. Returns the calibration weight (§8.3);
  // undefined for AvgPool2d. For an ada_quantize layer that is the float
  // (fused, DMQ-multiplied) weight: AdaRound (§2.3 step 8, Python) trains
  // from it and hands the soft weight back through set_calibration_weight.
  at::Tensor weight_pass(const std::string& layer, const at::Tensor& weight, int64_t groups);
  // The weight pass of an enabled LSTM / GRU layer (§15): DMQ x s on the
  // input weight, per-row ARQ of both weights, scale_w / offset_w (input)
  // and scale_r / offset_r (recurrent) in ONNX gate order. Returns the
  // calibration weights (fake-quantised, the module's gate order), which the
  // modified ONNX gets in its W and R.
  std::pair<at::Tensor, at::Tensor> rnn_weight_pass(const std::string& layer,
                                                    const at::Tensor& weight_ih,
                                                    const at::Tensor& weight_hh);
  // Replaces the weight the modified ONNX will get for `layer` (after
  // weight_pass); RuntimeError when the layer had no weight pass.
  void set_calibration_weight(const std::string& layer, const at::Tensor& weight);
  // Bias correction (quantize_model's bias_correction, an OpenAMCT extension):
  // the layer's bias in the modified ONNX becomes `bias`. A bias-less Conv or
  // ConvTranspose gets `<layer>.bias`; false (nothing changed) when the graph
  // has no place for a bias (a Linear without bias is a bare MatMul).
  bool set_bias(const std::string& layer, const at::Tensor& bias);
  // Hessian-guided rounding (quantize_model's hessian_rounding, an OpenAMCT
  // extension): re-rounds an ARQ layer's weight on its recorded grid with
  // the layer input's Hessian `hessian` (G, K, K) and makes the result the
  // calibration weight, as set_calibration_weight. `float_weight`: the fused
  // float weight before DMQ (balanced here as in weight_pass). Returns the
  // new calibration weight. ValueError for a layer that is not a Conv1d/2d or
  // Linear with ARQ weights.
  at::Tensor round_with_hessian(const std::string& layer, const at::Tensor& float_weight,
                                const at::Tensor& hessian, int64_t groups);
  // The fake-quantised weight that deploys for a ConvTranspose layer, whose
  // calibration weight stays float (K1); undefined for every other layer.
  at::Tensor deconv_fake_quant_weight(const std::string& layer) const;
  // The recorded scale_w of a layer after its weight pass.
  std::vector<float> weight_scale(const std::string& layer) const;
  // AdaRound's pairing and order (§10), read from the exported graph.
  FollowingActivation following_activation(const std::string& layer) const;
  int graph_position(const std::string& layer) const;
  // The DMQ factors s of an enabled layer; empty without DMQ.
  std::vector<float> balance_factor(const std::string& layer) const;
  // Writes the modified ONNX, then the record with the weight fields (D11:
  // both are serialised before either is written).
  void write(const std::string& onnx_path,
             const std::vector<std::pair<std::string, std::string>>& op_data_types);
  // qdq_full (before write()): the recorder also calibrates the outputs of the
  // layers that feed residual Adds and writes the output scales file.
  void measure_outputs() { measure_outputs_ = true; }
  // The recorder of the calibration forwards (after write()).
  std::shared_ptr<CalibrationRecorder> recorder() const;

 private:
  CalibrationSettings settings_;
  onnx::ModelProto model_;
  std::string record_path_;
  RecordContent record_;
  onnx_passes::ModifiedOnnxSpec spec_;
  // The values the modified ONNX gets, one per (layer, parameter): a later
  // pass replaces an earlier one (a fused conv's weight, then its calibration
  // weight), so that write() copies each initializer once and a superseded
  // weight-sized tensor is freed as soon as it is replaced.
  std::vector<std::pair<std::string, std::pair<std::string, at::Tensor>>> parameters_;
  at::Tensor* find_parameter(const std::string& layer, const std::string& param);
  void set_parameter(const std::string& layer, const std::string& param, at::Tensor value);
  bool measure_outputs_ = false;
  std::vector<std::string> output_layers_;  // write(): residual_output_layers
  std::vector<std::pair<std::string, at::Tensor>> deconv_fake_quant_;  // bias correction
};

// quantize_preprocess's forwards (§9.2, §9.3): every call of a DMQ layer
// recomputes its factors; the first complete forward's factors are written once.
class DmqRecorder {
 public:
  DmqRecorder(std::vector<std::string> layers, std::vector<std::string> types,
              std::vector<double> strengths, std::string record_path);
  void add_batch(size_t index, const at::Tensor& x, const at::Tensor& weight, int64_t groups);
  bool written() const { return written_; }

 private:
  std::vector<std::string> layers_, types_;
  std::vector<double> strengths_;
  std::string record_path_;
  RecordContent record_;
  std::vector<bool> seen_;
  size_t seen_count_ = 0;
  bool written_ = false;
};

}  // namespace flow
}  // namespace openamct
