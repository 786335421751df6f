// quantize_model's weight pass, files and calibration recorder, and
// quantize_preprocess's DMQ recorder (quantize_flow.h).
#include "flow/quantize_flow.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "flow/output_scales.h"
#include "onnx/model_io.h"
#include "onnx/onnx_graph.h"
#include "onnx/qdq_full_pass.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "record/record_file.h"
#include "record/record_validation.h"

namespace openamct {
namespace flow {
namespace alg = algorithms;
namespace {

bool is_rnn(const std::string& type) { return type == "LSTM" || type == "GRU"; }

// An RNN's input reaches its gates only through weight_ih_l0 (G*H, In), so
// DMQ treats it as a Linear on its last input axis.
alg::DmqLayerType dmq_type(const std::string& type) {
  return alg::parse_dmq_layer_type(is_rnn(type) ? "Linear" : type);
}

// The weight a DMQ layer quantises: × its recorded factors along the input
// channels (§9.4); any other layer's weight as it is.
at::Tensor balanced_weight(const LayerCalibrationSettings& l, const LayerRecord& r,
                           const std::string& layer, const at::Tensor& weight, int64_t groups) {
  if (!l.dmq_balancer_param) return weight;
  if (r.tensor_balance_factor.empty()) {
    throw_value_error("config indicates dmq_balancer in layer: " + layer + ", but no "
                      "tensor_balance_factor found in record.please check quant_preprocess "
                      "and calibration is done!");
  }
  const at::Tensor s = at::tensor(r.tensor_balance_factor, at::kFloat);
  return alg::dmq_balance_weight(dmq_type(l.type_name), weight, s, groups);
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

const LayerCalibrationSettings& layer_settings(const CalibrationSettings& s,
                                               const std::string& layer) {
  for (const auto& l : s.layers)
    if (l.name == layer) return l;
  throw_runtime_error("layer " + layer + " is not an enabled layer of the config");
}

std::string int_type(int bits) { return "INT" + std::to_string(bits); }

// §11.3: FORCE_FP16_QUANT rounds scale_d through float16.
float fp16_scale(float v) {
  if (v >= 6.103515625e-05f && v <= 65504.0f) return static_cast<float>(c10::Half(v));
  const float root = static_cast<float>(c10::Half(static_cast<float>(std::sqrt(double{v}))));
  return root * root;
}

std::string resolved(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? path : p.string();
}

CalibrationRecorder::Calibrator make_calibrator(const LayerCalibrationSettings& l,
                                               int64_t batch_num) {
  if (l.act_algo == ActAlgo::kHfmg) {
    alg::HfmgOptions o;
    o.num_bits = l.act_num_bits;
    o.with_offset = l.asymmetric;
    o.nbins = l.num_of_bins;
    o.batch_num = batch_num;
    return alg::HfmgCalibrator(o);
  }
  alg::IfmrOptions o;
  o.num_bits = l.act_num_bits;
  o.with_offset = l.asymmetric;
  o.max_percentile = l.max_percentile;
  o.min_percentile = l.min_percentile;
  o.search_start = l.search_range_start;
  o.search_end = l.search_range_end;
  o.search_step = l.search_step;
  o.batch_num = batch_num;
  return alg::IfmrCalibrator(o);
}

alg::WeightLayout layout_of(const std::string& type) {
  if (starts_with(type, "ConvTranspose")) return alg::WeightLayout::kDeconv;
  if (starts_with(type, "Conv")) return alg::WeightLayout::kConv;
  return alg::WeightLayout::kLinear;
}

}  // namespace

// ---- the calibration forwards -----------------------------------------------------

CalibrationRecorder::CalibrationRecorder(CalibrationSettings settings, RecordContent weight_record,
                                         std::string record_path,
                                         std::optional<std::vector<std::string>> output_layers)
    : settings_(std::move(settings)),
      record_(std::move(weight_record)),
      record_path_(std::move(record_path)),
      write_outputs_(output_layers.has_value()) {
  const std::vector<std::string> outputs = output_layers.value_or(std::vector<std::string>{});
  for (const auto& l : settings_.layers) {
    calibrators_.push_back(make_calibrator(l, settings_.batch_num));
    const bool measured = std::find(outputs.begin(), outputs.end(), l.name) != outputs.end();
    output_slot_.push_back(measured ? static_cast<int>(output_calibrators_.size()) : -1);
    if (measured) {
      output_calibrators_.push_back(make_calibrator(l, settings_.batch_num));
      outputs_.find_or_append(l.name);
    }
    hidden_slot_.push_back(is_rnn(l.type_name) ? static_cast<int>(hidden_calibrators_.size())
                                               : -1);
    if (is_rnn(l.type_name)) hidden_calibrators_.push_back(make_calibrator(l, settings_.batch_num));
  }
  calls_.assign(settings_.layers.size(), 0);
}

bool CalibrationRecorder::measures_output(size_t index) const {
  return index < output_slot_.size() && output_slot_[index] >= 0;
}

void CalibrationRecorder::add_output(size_t index, const at::Tensor& y) {
  if (!measures_output(index)) throw_value_error("calibration layer index without output scale");
  if (calls_[index] >= settings_.batch_num) return;
  const int slot = output_slot_[index];
  std::optional<alg::ActivationQuant> q =
      std::visit([&](auto& c) { return c.add_batch(y); }, output_calibrators_[slot]);
  if (!q) return;
  const LayerCalibrationSettings& l = settings_.layers[index];
  LayerRecord& r = outputs_.layers[slot];
  r.scale_d = settings_.force_fp16_quant ? fp16_scale(q->scale) : q->scale;
  r.offset_d = q->offset;
  r.act_type = int_type(l.act_num_bits);
  ++outputs_finished_;
}

bool CalibrationRecorder::calibrates_hidden(size_t index) const {
  return index < hidden_slot_.size() && hidden_slot_[index] >= 0;
}

void CalibrationRecorder::add_hidden(size_t index, const at::Tensor& h) {
  if (!calibrates_hidden(index)) throw_value_error("calibration layer index is no RNN layer");
  if (calls_[index] >= settings_.batch_num) return;
  std::optional<alg::ActivationQuant> q =
      std::visit([&](auto& c) { return c.add_batch(h); }, hidden_calibrators_[hidden_slot_[index]]);
  if (!q) return;
  LayerRecord& r = record_.find_or_append(settings_.layers[index].name);
  r.scale_h = settings_.force_fp16_quant ? fp16_scale(q->scale) : q->scale;
  r.offset_h = q->offset;
}

void CalibrationRecorder::add_batch(size_t index, const at::Tensor& x) {
  if (index >= calls_.size()) throw_value_error("calibration layer index out of range");
  if (calls_[index] >= settings_.batch_num) {
    ++calls_[index];
    return;  // later calls change nothing (§4.3)
  }
  std::optional<alg::ActivationQuant> q =
      std::visit([&](auto& c) { return c.add_batch(x); }, calibrators_[index]);
  ++calls_[index];
  if (!q) return;
  const LayerCalibrationSettings& l = settings_.layers[index];
  LayerRecord& r = record_.find_or_append(l.name);
  r.scale_d = settings_.force_fp16_quant ? fp16_scale(q->scale) : q->scale;
  r.offset_d = q->offset;
  r.act_type = int_type(l.act_num_bits);
  if (++finished_ == calls_.size()) {
    if (write_outputs_) {
      if (outputs_finished_ != output_calibrators_.size()) {
        throw_runtime_error("an output scale is missing when the record is complete (a bug in "
                            "OpenAMCT)");
      }
      write_file_atomically(output_scales_path(record_path_),
                            output_scales_text(outputs_, to_record_text(record_)), 0640);
    }
    write_record_file(record_path_, record_);
    complete_ = true;
  }
}

size_t CalibrationRecorder::kept_bytes() const {
  size_t n = 0;
  for (const auto* list : {&calibrators_, &output_calibrators_, &hidden_calibrators_}) {
    for (const auto& c : *list) {
      if (const auto* i = std::get_if<alg::IfmrCalibrator>(&c)) n += i->kept_bytes();
      if (const auto* h = std::get_if<alg::HfmgCalibrator>(&c)) n += h->counts().size() * 8;
    }
  }
  return n;
}

// ---- quantize_model ---------------------------------------------------------------

QuantizeModelFlow::QuantizeModelFlow(CalibrationSettings settings, std::string_view exported,
                                     const ExportedParams& params, std::string record_path,
                                     bool read_dmq_record)
    : settings_(std::move(settings)),
      model_(onnx_passes::parse_model(exported, "the exported model")),
      record_path_(resolved(record_path)) {
  {
    std::vector<at::Tensor> keep;
    onnx_passes::add_exported_initializers(&model_, view_exported_params(params, &keep));
  }
  onnx_passes::name_exported_model(&model_);
  if (!read_dmq_record || !settings_.any_dmq()) return;
  RecordContent existing;
  std::error_code ec;
  if (std::filesystem::is_regular_file(record_path_, ec)) existing = read_record_file(record_path_);
  if (existing.layers.empty()) {
    throw_runtime_error("config_file indicates dmq_balancer, but record_file is empty. please "
                        "check quant_preprocess and calibration is done!");
  }
  check_record(existing, record_graph_layers(model_.graph()), "the exported model",
               record_path_);
  record_ = std::move(existing);
}

std::vector<ConvBnPair> QuantizeModelFlow::fusion_candidates() const {
  std::vector<ConvBnPair> out;
  if (!settings_.do_fusion) return out;
  for (auto& p : find_conv_bn_pairs(model_.graph())) {
    bool skipped = false;
    for (const auto& s : settings_.skip_fusion_layers) skipped = skipped || s == p.conv;
    if (!skipped) out.push_back(p);
  }
  return out;
}

std::optional<FusedConv> QuantizeModelFlow::fuse(const ConvBnPair& pair,
                                                 const at::Tensor& conv_weight,
                                                 const std::optional<at::Tensor>& conv_bias,
                                                 const BatchNormFacts& bn) {
  if (!bn.fusable_kind) return std::nullopt;
  if (bn.training) {
    log_warning("Cannot do conv:'" + pair.conv + "' + bn:'" + pair.bn +
                "' fusion because training must be False! Call model.eval() before "
                "quantize_model to fuse it.");
    return std::nullopt;
  }
  alg::ConvBnFusion f = alg::fuse_conv_bn(conv_weight, conv_bias, bn.weight, bn.bias,
                                          bn.running_mean, bn.running_var, bn.eps, false);
  if (!f.fused) {
    log_warning("Conv+BN fusion for " + pair.conv +
                " skipped because data is non-finite after fusion.");
    return std::nullopt;
  }
  spec_.fused_batchnorms.push_back(pair.bn);
  set_parameter(pair.conv, "weight", f.weight);
  if (conv_bias) {
    set_parameter(pair.conv, "bias", f.bias);
  } else {
    const at::Tensor b = f.bias.to(at::kFloat).contiguous();
    spec_.new_conv_biases.push_back(
        {pair.conv, std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + b.numel())});
  }
  return FusedConv{f.weight, f.bias};
}

at::Tensor QuantizeModelFlow::weight_pass(const std::string& layer, const at::Tensor& weight,
                                          int64_t groups) {
  const LayerCalibrationSettings& l = layer_settings(settings_, layer);
  LayerRecord& r = record_.find_or_append(layer);
  if (l.type_name == "AvgPool2d") {
    r.scale_w = {1.0f};
    r.offset_w = {0};
    return at::Tensor();
  }
  if (is_rnn(l.type_name)) {
    throw_runtime_error("layer " + layer + " is an " + l.type_name + " layer: its weights go "
                        "through rnn_weight_pass (a bug in OpenAMCT)");
  }
  const at::Tensor w = balanced_weight(l, r, layer, weight, groups);
  if (l.wts_algo == WtsAlgo::kAda) {
    // §10: the KL initial scale, offsets 0; the soft weight comes later.
    r.scale_w = alg::ada_kl_scale(w, l.channel_wise, layout_of(l.type_name), groups);
    r.offset_w.assign(r.scale_w.size(), 0);
    r.wts_type = int_type(l.wts_num_bits);
    set_parameter(layer, "weight", w);
    return w;
  }
  alg::ArqOptions o;
  o.channel_wise = l.channel_wise;
  o.num_bits = l.wts_num_bits;
  o.layout = layout_of(l.type_name);
  o.groups = groups;
  alg::ArqResult q = alg::arq(w, o);
  r.scale_w = q.scale;
  r.offset_w = q.offset;
  r.wts_type = int_type(l.wts_num_bits);
  // K1: ConvTranspose keeps its float (balanced) weight during calibration.
  at::Tensor calibration = o.layout == alg::WeightLayout::kDeconv ? w : q.fake_quant_weight;
  if (o.layout == alg::WeightLayout::kDeconv) deconv_fake_quant_.push_back({layer, q.fake_quant_weight});
  set_parameter(layer, "weight", calibration);
  return calibration;
}

std::pair<at::Tensor, at::Tensor> QuantizeModelFlow::rnn_weight_pass(
    const std::string& layer, const at::Tensor& weight_ih, const at::Tensor& weight_hh) {
  const LayerCalibrationSettings& l = layer_settings(settings_, layer);
  if (!is_rnn(l.type_name)) {
    throw_value_error("rnn_weight_pass: layer " + layer + " is a " + l.type_name +
                      ", not an LSTM or GRU");
  }
  if (l.wts_algo != WtsAlgo::kArq) {
    throw_value_error("layer " + layer + " (" + l.type_name + ") has wts_algo " +
                      std::string(wts_algo_name(l.wts_algo)) + "; LSTM and GRU weights are "
                      "quantised by arq_quantize only");
  }
  LayerRecord& r = record_.find_or_append(layer);
  const alg::RnnKind kind = alg::parse_rnn_kind(l.type_name);
  const at::Tensor ih = balanced_weight(l, r, layer, weight_ih, 1);
  alg::ArqResult input = alg::rnn_arq(kind, ih, l.channel_wise, l.wts_num_bits);
  alg::ArqResult recurrent = alg::rnn_arq(kind, weight_hh, l.channel_wise, l.wts_num_bits);
  r.scale_w = input.scale;
  r.offset_w = input.offset;
  r.wts_type = int_type(l.wts_num_bits);
  r.scale_r = recurrent.scale;
  r.offset_r = recurrent.offset;
  set_parameter(layer, "weight_ih_l0", input.fake_quant_weight);
  set_parameter(layer, "weight_hh_l0", recurrent.fake_quant_weight);
  return {input.fake_quant_weight, recurrent.fake_quant_weight};
}

at::Tensor* QuantizeModelFlow::find_parameter(const std::string& layer, const std::string& param) {
  for (auto& [name, entry] : parameters_) {
    if (name == layer && entry.first == param) return &entry.second;
  }
  return nullptr;
}

void QuantizeModelFlow::set_parameter(const std::string& layer, const std::string& param,
                                      at::Tensor value) {
  if (at::Tensor* existing = find_parameter(layer, param)) {
    *existing = std::move(value);
  } else {
    parameters_.push_back({layer, {param, std::move(value)}});
  }
}

void QuantizeModelFlow::set_calibration_weight(const std::string& layer,
                                               const at::Tensor& weight) {
  at::Tensor* existing = find_parameter(layer, "weight");
  if (!existing) throw_runtime_error("layer " + layer + " has no weight pass to replace the weight of");
  if (!existing->sizes().equals(weight.sizes()))
    throw_runtime_error("layer " + layer + ": the calibration weight " + c10::str(weight.sizes()) +
                        " does not have the weight's shape " + c10::str(existing->sizes()));
  *existing = weight;
}

at::Tensor QuantizeModelFlow::round_with_hessian(const std::string& layer,
                                                 const at::Tensor& float_weight,
                                                 const at::Tensor& hessian, int64_t groups) {
  const LayerCalibrationSettings& l = layer_settings(settings_, layer);
  const std::string& t = l.type_name;
  if ((t != "Conv1d" && t != "Conv2d" && t != "Linear") || l.wts_algo == WtsAlgo::kAda)
    throw_value_error("hessian rounding: layer " + layer + " (" + t + ", " +
                      std::string(wts_algo_name(l.wts_algo)) +
                      ") is not a Conv1d, Conv2d or Linear layer with arq_quantize weights");
  const LayerRecord* r = record_.find(layer);
  if (!r) throw_runtime_error("layer " + layer + " has no weight pass to re-round");
  const at::Tensor w =
      balanced_weight(l, *r, layer, float_weight.detach().to(at::kFloat).contiguous(), groups);
  if (groups < 1 || w.dim() < 2 || w.size(0) % groups != 0)
    throw_value_error("hessian rounding: layer " + layer + ": weight " + c10::str(w.sizes()) +
                      " does not split into " + std::to_string(groups) + " groups");
  const int64_t cout = w.size(0);
  at::Tensor scale = at::tensor(r->scale_w, at::kFloat);
  scale = scale.numel() == 1 ? scale.expand({cout}) : scale;
  if (scale.numel() != cout)
    throw_runtime_error("hessian rounding: layer " + layer + " has " +
                        std::to_string(r->scale_w.size()) + " weight scales for " +
                        std::to_string(cout) + " output channels");
  alg::HessianRoundingOptions o;
  o.num_bits = l.wts_num_bits;
  const at::Tensor rows = w.reshape({groups, cout / groups, -1});
  const at::Tensor scales = scale.reshape({groups, cout / groups});
  const at::Tensor ints = alg::hessian_round(rows, hessian, scales, o);
  const at::Tensor calibration =
      (ints * scales.unsqueeze(2)).reshape(w.sizes()).to(float_weight.scalar_type()).contiguous();
  set_calibration_weight(layer, calibration);
  return calibration;
}

bool QuantizeModelFlow::set_bias(const std::string& layer, const at::Tensor& bias) {
  const at::Tensor b = bias.detach().cpu().contiguous();
  if (at::Tensor* existing = find_parameter(layer, "bias")) {
    *existing = b;
    return true;
  }
  const at::Tensor f = b.to(at::kFloat).contiguous();
  const std::vector<float> values(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  for (auto& [conv, fused_bias] : spec_.new_conv_biases) {
    if (conv == layer) {
      fused_bias = values;
      return true;
    }
  }
  const onnx::GraphProto& g = model_.graph();
  if (!parameter_initializer(g, layer, "bias").empty()) {
    set_parameter(layer, "bias", b);
    return true;
  }
  const int i = onnx_passes::find_node(g, layer);
  if (i < 0) return false;
  const onnx::NodeProto& node = g.node(i);
  const bool conv = node.op_type() == "Conv" || node.op_type() == "ConvTranspose";
  if (!conv || (node.input_size() > 2 && !node.input(2).empty())) return false;
  spec_.new_conv_biases.push_back({layer, values});
  return true;
}

at::Tensor QuantizeModelFlow::deconv_fake_quant_weight(const std::string& layer) const {
  for (const auto& [name, weight] : deconv_fake_quant_) {
    if (name == layer) return weight;
  }
  return at::Tensor();
}

std::vector<float> QuantizeModelFlow::weight_scale(const std::string& layer) const {
  const LayerRecord* r = record_.find(layer);
  if (!r) throw_runtime_error("layer " + layer + " has no record entry yet");
  return r->scale_w;
}

FollowingActivation QuantizeModelFlow::following_activation(const std::string& layer) const {
  return flow::following_activation(model_.graph(), layer);
}

int QuantizeModelFlow::graph_position(const std::string& layer) const {
  return node_position(model_.graph(), layer);
}

std::vector<float> QuantizeModelFlow::balance_factor(const std::string& layer) const {
  const LayerCalibrationSettings& l = layer_settings(settings_, layer);
  const LayerRecord* r = record_.find(layer);
  if (!l.dmq_balancer_param || !r) return {};
  return r->tensor_balance_factor;
}

void QuantizeModelFlow::write(const std::string& onnx_path,
                              const std::vector<std::pair<std::string, std::string>>& types) {
  onnx::GraphProto* g = model_.mutable_graph();
  for (const auto& [layer, param] : parameters_) write_parameter(g, layer, param.first, param.second);
  spec_.op_data_types = types;
  onnx_passes::finish_modified_model(&model_, spec_);
  if (measure_outputs_) {
    std::vector<std::string> names;
    for (const auto& l : settings_.layers) names.push_back(l.name);
    output_layers_ = onnx_passes::residual_output_layers(model_.graph(), names);
  }
  const onnx_passes::PreparedFile file =
      onnx_passes::prepare_model(&model_, resolved(onnx_path), "modified");
  std::error_code ec;
  const bool existed = std::filesystem::exists(record_path_, ec);
  onnx_passes::write_prepared(file);
  write_record_file(record_path_, record_, existed && !settings_.any_dmq());
  parameters_.clear();
}

std::shared_ptr<CalibrationRecorder> QuantizeModelFlow::recorder() const {
  std::optional<std::vector<std::string>> outputs;
  if (measure_outputs_) outputs = output_layers_;
  return std::make_shared<CalibrationRecorder>(settings_, record_, record_path_, outputs);
}

// ---- quantize_preprocess ------------------------------------------------------------

DmqRecorder::DmqRecorder(std::vector<std::string> layers, std::vector<std::string> types,
                         std::vector<double> strengths, std::string record_path)
    : layers_(std::move(layers)),
      types_(std::move(types)),
      strengths_(std::move(strengths)),
      record_path_(resolved(record_path)),
      seen_(layers_.size(), false) {}

void DmqRecorder::add_batch(size_t index, const at::Tensor& x, const at::Tensor& weight,
                            int64_t groups) {
  if (index >= layers_.size()) throw_value_error("DMQ layer index out of range");
  alg::DmqLayerResult r = alg::dmq_layer(dmq_type(types_[index]), x, weight,
                                         strengths_[index], groups, layers_[index]);
  if (r.warning) log_warning(*r.warning);
  if (written_ || seen_[index]) return;  // K4: the first complete forward counts
  const at::Tensor f = r.factor.contiguous();
  record_.find_or_append(layers_[index]).tensor_balance_factor =
      std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  seen_[index] = true;
  if (++seen_count_ == layers_.size()) {
    write_record_file(record_path_, record_);
    written_ = true;
  }
}

}  // namespace flow
}  // namespace openamct
