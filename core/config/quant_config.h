// The quantization config as a typed value: what `create_quant_config` writes
// and later stages read. Optional fields are written only when present; the
// key order of the file is fixed by to_ordered_json (spec §4.2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "openamct/defaults.h"

namespace openamct {

// The calibration algorithms. Their names ("ifmr", "arq_quantize", ...) exist
// only where a config is read or written: the *_name/*_from_name pairs below.
enum class ActAlgo { kIfmr, kHfmg };
enum class WtsAlgo { kArq, kAda };

std::string_view act_algo_name(ActAlgo algo);     // "ifmr", "hfmg"
std::string_view wts_algo_name(WtsAlgo algo);     // "arq_quantize", "ada_quantize"
std::optional<ActAlgo> act_algo_from_name(std::string_view name);
std::optional<WtsAlgo> wts_algo_from_name(std::string_view name);

struct ActivationQuantParams {
  int64_t num_bits = defaults::kNumBits;
  std::optional<double> max_percentile;
  std::optional<double> min_percentile;
  std::optional<std::array<double, 2>> search_range;
  std::optional<double> search_step;
  ActAlgo act_algo = ActAlgo::kIfmr;
  std::optional<bool> asymmetric;
  std::optional<int64_t> num_of_bins;   // HFMG only
};

struct WeightQuantParams {
  int64_t num_bits = defaults::kNumBits;
  std::optional<double> reg_param;      // ADA only
  std::optional<double> warm_start;     // ADA only
  std::optional<int64_t> num_iteration; // ADA only
  std::optional<std::array<double, 2>> beta_range;  // ADA only
  std::optional<bool> channel_wise;
  WtsAlgo wts_algo = WtsAlgo::kArq;
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
  int64_t version = defaults::kVersion;
  int64_t batch_num = defaults::kBatchNum;
  std::string batch_num_digits;  // written instead of batch_num when set (a
                                 // number beyond int64, as its digits)
  bool activation_offset = defaults::kActivationOffset;
  bool do_fusion = defaults::kDoFusion;
  // Only "FORCE_FP16_QUANT" is ever written; "DEFAULT" is dropped.
  std::optional<std::string> fakequant_precision_mode;
  std::vector<std::string> skip_fusion_layers;
  std::vector<LayerQuantConfig> layers;  // any order; written sorted by name
};

// The keys of the config's root, in the order they are written; no layer may
// be named like one.
const std::vector<std::string_view>& root_keys();

// The config as an ordered JSON document: root keys, then layers sorted by
// code point (spec §4.2).
nlohmann::ordered_json to_ordered_json(const QuantConfig& config);

// The exact bytes the reference writes for `config` (json.dump(indent=4,
// separators=(',', ':')), no trailing newline).
std::string to_config_text(const QuantConfig& config);

}  // namespace openamct
