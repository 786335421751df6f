// The quantization config as a typed value: what `create_quant_config` writes
// and later stages read. Optional fields are written only when present; the
// key order of the file is fixed by to_ordered_json (spec §4.2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace openamct {

struct ActivationQuantParams {
  int64_t num_bits = 8;
  std::optional<double> max_percentile;
  std::optional<double> min_percentile;
  std::optional<std::array<double, 2>> search_range;
  std::optional<double> search_step;
  std::string act_algo = "ifmr";        // "ifmr" or "hfmg"
  std::optional<bool> asymmetric;
  std::optional<int64_t> num_of_bins;   // HFMG only
};

struct WeightQuantParams {
  int64_t num_bits = 8;
  std::optional<double> reg_param;      // ADA only
  std::optional<double> warm_start;     // ADA only
  std::optional<int64_t> num_iteration; // ADA only
  std::optional<std::array<double, 2>> beta_range;  // ADA only
  std::optional<bool> channel_wise;
  std::string wts_algo = "arq_quantize";  // or "ada_quantize"
};

struct LayerQuantConfig {
  std::string name;
  std::string type_name;  // not written; used by validation and logs
  bool quant_enable = true;
  std::optional<double> dmq_balancer_param;
  ActivationQuantParams activation;
  std::optional<WeightQuantParams> weight;  // absent: ADA on a non-ADA layer
};

struct QuantConfig {
  int64_t version = 1;
  int64_t batch_num = 1;
  std::string batch_num_digits;  // written instead of batch_num when set (a
                                 // number beyond int64, as its digits)
  bool activation_offset = true;
  bool do_fusion = true;
  // Only "FORCE_FP16_QUANT" is ever written; "DEFAULT" is dropped.
  std::optional<std::string> fakequant_precision_mode;
  std::vector<std::string> skip_fusion_layers;
  std::vector<LayerQuantConfig> layers;  // any order; written sorted by name
};

// The config as an ordered JSON document: root keys, then layers sorted by
// code point (spec §4.2).
nlohmann::ordered_json to_ordered_json(const QuantConfig& config);

// The exact bytes the reference writes for `config` (json.dump(indent=4,
// separators=(',', ':')), no trailing newline).
std::string to_config_text(const QuantConfig& config);

}  // namespace openamct
