// Spec §11.4 as a list of checks per entry: the key against the graph, the
// presence of the factors, the type strings, the value ranges, and the DMQ
// factors.
#include "record/record_validation.h"

#include <cfloat>
#include <cmath>
#include <string>
#include <optional>
#include <vector>

#include "openamct/errors.h"
#include "openamct/log.h"

namespace openamct {
namespace {

struct TypeName {
  const char* text;
  int bits;
};

// Accepted type strings and their bit widths (spec §11.4).
const std::vector<TypeName> kActTypes = {{"INT4", 4}, {"INT8", 8}, {"INT16", 16}};
const std::vector<TypeName> kWtsTypes = {{"INT4", 4}, {"INT6", 6}, {"INT7", 7}, {"INT8", 8}};
const std::vector<TypeName> kDstTypes = {{"INT4", 4}, {"INT8", 8}};

// A field of `type_field` ("act_type", ...) -> bits; absent -> 8 with a
// WARNING when `warn_if_absent`.
int type_bits(const std::optional<std::string>& value, const std::vector<TypeName>& accepted,
              const std::string& type_field, const std::string& key, bool warn_if_absent) {
  if (!value) {
    if (warn_if_absent)
      log_warning("There is no " + type_field + " of layer " + key +
                  " in record_file; it is quantized with 8 bits.");
    return 8;
  }
  for (const auto& t : accepted)
    if (*value == t.text) return t.bits;
  std::string names;
  for (const auto& t : accepted) names += std::string(names.empty() ? "" : ", ") + t.text;
  throw_runtime_error("Do not support " + type_field + " " + *value +
                      " in record file (accepted: " + names + ")");
}

bool positive_finite(float v) { return std::isfinite(v) && v > 0.0f; }

const RecordGraphLayer& find_graph_layer(const std::vector<RecordGraphLayer>& graph,
                                         const std::string& key, const std::string& onnx_path,
                                         const std::string& record_path) {
  for (const auto& g : graph)
    if (g.name == key) return g;
  throw_runtime_error("find " + key + " failure in " + onnx_path + ". Please match " +
                      onnx_path + " and " + record_path + ".");
}

// Whether the entry carries quantisation parameters: a set, non-zero scalar
// or a non-empty list among the activation, weight and RNN factors.
bool has_quant_params(const LayerRecord& r) {
  return r.scale_d.value_or(0.0f) != 0.0f || r.offset_d.value_or(0) != 0 || !r.scale_w.empty() ||
         !r.offset_w.empty() || !r.shift_bit.empty() || r.scale_h.value_or(0.0f) != 0.0f ||
         r.offset_h.value_or(0) != 0 || !r.scale_r.empty() || !r.offset_r.empty();
}

// One set of factors: an activation pair (scale_d / offset_d; an RNN's
// hidden state: scale_h / offset_h) and a weight list (scale_w / offset_w;
// an RNN's recurrent weights: scale_r / offset_r). `act` and `wts` are the
// field suffixes the messages name.
struct Factors {
  char act, wts;
  const std::optional<float>& scale;
  const std::optional<int32_t>& offset;
  const std::vector<float>& scales;
  const std::vector<int32_t>& offsets;
};

void require_factors(const Factors& f, const std::string& k) {
  if (!f.scale || !f.offset)
    throw_runtime_error(std::string("cannot find scale_") + f.act + " of layer " + k +
                        " in record_file, please check data calibration process!");
  if (f.scales.empty() || f.offsets.empty())
    throw_runtime_error(std::string("cannot find scale_") + f.wts + " of layer " + k +
                        " in record_file");
}

// The activation offset in [low, high], weight offsets 0, every scale finite
// and positive (the reference's messages, the weight one without a final dot).
void check_factor_values(const Factors& f, int32_t low, int32_t high, const std::string& k) {
  if (*f.offset < low || *f.offset > high)
    throw_value_error(std::string("offset_") + f.act + "'s value should be in [" +
                      std::to_string(low) + ", " + std::to_string(high) + "] in layer " + k +
                      ".");
  for (int32_t o : f.offsets)
    if (o != 0)
      throw_value_error(std::string("offset_") + f.wts + "'s value should be 0 in layer " + k +
                        ".");
  if (!positive_finite(*f.scale))
    throw_value_error(std::string("scale_") + f.act +
                      "'s value shoule be in positivate range of float32 in layer " + k + ".");
  for (float s : f.scales)
    if (!positive_finite(s))
      throw_value_error(std::string("scale_") + f.wts +
                        "'s value shoule be in positivate range of float32 in layer " + k);
}

void check_quant_params(const LayerRecord& r, CheckedLayerRecord& out, bool is_avg_pool,
                        bool is_rnn) {
  const std::string& k = r.key;
  const Factors layer{'d', 'w', r.scale_d, r.offset_d, r.scale_w, r.offset_w};
  require_factors(layer, k);
  if (!r.shift_bit.empty())
    throw_runtime_error("shift_bit is not support, please delete shift_bit of layer " + k +
                        " in record_file");
  out.act_bits = type_bits(r.act_type, kActTypes, "act_type", k, true);
  out.wts_bits = type_bits(r.wts_type, kWtsTypes, "wts_type", k, !is_avg_pool);
  if (r.dst_type) {
    const int dst_bits = type_bits(r.dst_type, kDstTypes, "dst_type", k, false);
    if (dst_bits == 4 && k.find("AvgPool") != std::string::npos)
      throw_runtime_error("Do not support dst_type INT4 in record file for layer " + k +
                          " (an AvgPool layer takes INT8)");
  }
  const int32_t low = out.act_bits == 16 ? -32768 : -128;
  const int32_t high = out.act_bits == 16 ? 32767 : 127;
  check_factor_values(layer, low, high, k);
  if (!is_rnn) return;
  // An LSTM / GRU entry's own factors (§15), checked like their counterparts.
  const Factors rnn{'h', 'r', r.scale_h, r.offset_h, r.scale_r, r.offset_r};
  require_factors(rnn, k);
  check_factor_values(rnn, low, high, k);
}

void check_balance_factors(const LayerRecord& r, const RecordGraphLayer& layer) {
  if (r.tensor_balance_factor.empty()) return;
  const std::string& k = r.key;
  if (layer.is_avg_pool)
    throw_runtime_error("tensor_balance_factor is not support, please delete "
                        "tensor_balance_factor of layer " + k + " in record_file");
  const int64_t n = static_cast<int64_t>(r.tensor_balance_factor.size());
  if (layer.input_channels >= 0 && n != layer.input_channels)
    throw_value_error("tensor_balance_factor's length: " + std::to_string(n) +
                      " should be equal tothe channel length of inputs of layer " + k + ": " +
                      std::to_string(layer.input_channels) + ".Cannot support to quantize " + k);
  for (float f : r.tensor_balance_factor)
    if (!(f >= FLT_EPSILON && f <= 1.0f / FLT_EPSILON))
      throw_value_error("tensor_balance_factor's value shoule be in range[FLT_EPSILON, "
                        "1/FLT_EPSILON] of float32 in layer " + k);
}

}  // namespace

std::vector<CheckedLayerRecord> check_record(const RecordContent& record,
                                             const std::vector<RecordGraphLayer>& graph,
                                             const std::string& onnx_path,
                                             const std::string& record_path) {
  std::vector<CheckedLayerRecord> out;
  out.reserve(record.layers.size());
  for (const LayerRecord& r : record.layers) {
    const RecordGraphLayer& layer = find_graph_layer(graph, r.key, onnx_path, record_path);
    if (!layer.quantizable) throw_runtime_error("layer " + r.key + " cannot be quantized ");
    CheckedLayerRecord checked;
    checked.record = &r;
    checked.has_quant_params = has_quant_params(r);
    if (checked.has_quant_params) check_quant_params(r, checked, layer.is_avg_pool, layer.is_rnn);
    check_balance_factors(r, layer);
    out.push_back(checked);
  }
  return out;
}

}  // namespace openamct
