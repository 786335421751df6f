// One CalibrationConfig block of quant.cfg (common_config, or the
// calibration_config of an override) mapped to config fields (spec §5.4).
#pragma once

#include <optional>

#include "amct_config.pb.h"
#include "config/quant_config.h"

namespace openamct {

struct CalibrationBlock {
  std::optional<double> dmq_balancer_param;  // dmq_balancer given
  // ifmr_quantize / hfmg_quantize given: algorithm, num_bits and the
  // algorithm's parameters (proto defaults for unset ones); `asymmetric` only
  // if set. Neither given: 8-bit IFMR with nothing set (defaults later).
  ActivationQuantParams activation;
  // arq_quantize: channel_wise and num_bits only if set; ada_quantize: its
  // parameters (proto defaults for unset ones) and channel_wise if set.
  WeightQuantParams weight;

  bool ada() const { return weight.wts_algo == WtsAlgo::kAda; }
  // Python truthiness of the values the override checks look at.
  bool asymmetric_true() const { return activation.asymmetric.value_or(false); }
  bool channel_wise_true() const { return weight.channel_wise.value_or(false); }
  bool dmq_truthy() const { return dmq_balancer_param && *dmq_balancer_param != 0.0; }
};

// Floats go through float32_to_python_float (spec §4.5).
CalibrationBlock to_calibration_block(const AMCTPytorchProto::CalibrationConfig& config);

}  // namespace openamct
