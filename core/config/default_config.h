// The default path (no simple config, spec §4): every supported layer with the
// default IFMR/ARQ parameters; layers named in skip_layers stay in the config
// with quant_enable false.
#pragma once

#include <string>
#include <vector>

#include "config/quant_config.h"
#include "rules/layer_verdict.h"

namespace openamct {

// `skip_layers` must have passed check_skip_layers.
QuantConfig build_default_config(const std::vector<LayerDecision>& decisions,
                                 const std::vector<std::string>& skip_layers,
                                 int64_t batch_num, bool activation_offset);

}  // namespace openamct
