// Validation of an assembled QuantConfig (spec §5.6, the reference's
// `root.check`): root values, then every layer's values, with the reference's
// exception kinds and messages. Errors raised for a layer get
// " in layer <name>" appended. The simple-config expansion calls it on the
// config it built; a reader of JSON configs can call it on what it read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/quant_config.h"
#include "openamct/layer_table.h"
#include "rules/layer_verdict.h"

namespace openamct {

// Everything, in the reference's order: root keys, then each layer of
// `config.layers` in the order given (the caller decides: named_modules()
// order for the simple config, file order for a reader).
void validate_quant_config(const QuantConfig& config,
                           const std::vector<ModuleEntry>& modules,
                           const std::vector<LayerDecision>& decisions);

// version, batch_num, fakequant_precision_mode and skip_fusion_layers (no
// duplicates; each a module of a fusable type).
void validate_root(const QuantConfig& config, const std::vector<ModuleEntry>& modules);

// A layer key must name a module ("<k> is an invalid layer name or
// parameter.") that is a supported layer ("layer <n> does not support
// quant.").
void validate_layer_name(const std::string& name, const std::vector<ModuleEntry>& modules,
                         const std::vector<LayerDecision>& decisions);

// The values of one layer (dmq_balancer_param, activation and weight
// blocks); the layer's capability comes from `layer.type_name`. Errors carry
// " in layer <name>".
void validate_layer_values(const LayerQuantConfig& layer);

// The algorithm named in a config file, for a reader: throws ValueError with
// the reference's message ("act_algo must be ifmr or hfmg in layer conv")
// when the name is not one of them.
ActAlgo read_act_algo(std::string_view name, const std::string& layer_name);
WtsAlgo read_wts_algo(std::string_view name, const std::string& layer_name);

// search_step <= search_range[1] - search_range[0], computed as the reference
// does: Python's Decimal on str() of each value (28 significant digits for
// the difference), so that 0.6 fits [0.7, 1.3] although 1.3 - 0.7 < 0.6 in
// binary floating point.
bool search_step_fits_range(double step, double start, double end);

}  // namespace openamct
