// Reading a config that a user may have edited by hand (spec §3): the checks
// of the reference's parse_config_file in its order, deviation D12 (a
// malformed layer entry is a ValueError naming the layer and the key, never
// an AttributeError / KeyError), the defaults and the fallback to the root,
// and the result as typed settings per enabled layer, in module order, for
// the calibration flow.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "openamct/layer_table.h"

#include "config/quant_config.h"

namespace openamct {

// One enabled layer, every value resolved (defaults filled, `asymmetric`
// taken from the root's activation_offset when the layer has none).
struct LayerCalibrationSettings {
  std::string name;
  std::string type_name;

  // activation_quant_params
  int act_num_bits = 8;
  bool asymmetric = true;
  ActAlgo act_algo = ActAlgo::kIfmr;
  double max_percentile = 0.0;    // IFMR only (0 for HFMG)
  double min_percentile = 0.0;
  double search_range_start = 0.0;
  double search_range_end = 0.0;
  double search_step = 0.0;
  int num_of_bins = 0;            // HFMG only (0 for IFMR)

  // weight_quant_params
  int wts_num_bits = 8;
  WtsAlgo wts_algo = WtsAlgo::kArq;
  bool channel_wise = false;
  // ada_quantize only (the defaults otherwise)
  int64_t num_iteration = 0;
  double reg_param = 0.0;
  double warm_start = 0.0;
  double beta_range_start = 0.0;
  double beta_range_end = 0.0;

  // DMQ migration strength α; absent: no DMQ for the layer.
  std::optional<double> dmq_balancer_param;
};

struct CalibrationSettings {
  int64_t batch_num = 1;
  bool activation_offset = true;
  bool do_fusion = true;
  bool force_fp16_quant = false;  // fakequant_precision_mode "FORCE_FP16_QUANT"
  std::vector<std::string> skip_fusion_layers;
  std::vector<LayerCalibrationSettings> layers;  // enabled layers, module order

  bool any_dmq() const {
    for (const auto& l : layers)
      if (l.dmq_balancer_param) return true;
    return false;
  }
};

// Reads the config text `text` of the file `config_path` (resolved; used in
// messages) for the model whose layer table is `table` (the same capture
// create_quant_config analyses). Throws ValueError / TypeError with the
// reference's messages (spec §3.1-3.2), and RuntimeError "No quant enable
// layer in quant config file, please check the quant config file." (after an
// ERROR log) when no layer is enabled.
CalibrationSettings read_calibration_config(const std::string& text,
                                            const std::string& config_path,
                                            const LayerTable& table);

// Reads the file first: a missing file is OSError("file (<path>) does not
// exist!"), as quantize_preprocess says it.
CalibrationSettings read_calibration_config_file(const std::string& config_path,
                                                 const LayerTable& table);

}  // namespace openamct
