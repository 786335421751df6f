// The filling of defaults (the values: include/openamct/defaults.h) and the
// checks that the default path and the simple-config path share (spec §4.1,
// §5.5 step 1).
#pragma once

#include <string>
#include <vector>

#include "config/quant_config.h"
#include "openamct/defaults.h"
#include "openamct/layer_table.h"
#include "rules/layer_verdict.h"

namespace openamct {

// Fills what a layer's block left unset (spec §4.3): IFMR parameters unless
// the block is HFMG (then num_of_bins 4096), weight channel_wise from the
// type, wts_algo arq_quantize. `asymmetric` is resolved separately.
void fill_layer_defaults(LayerQuantConfig& layer, const LayerCapability& cap);

// skip_layers: no duplicates, every name a module, every module of a
// quantizable type. Throws ValueError with the reference's messages.
void check_skip_layers(const std::vector<ModuleEntry>& modules,
                       const std::vector<std::string>& skip_layers);

// Duplicate check with the reference's message:
// "Please delete repeated items in <what>, repeated items are [...] ".
void check_no_repeated_items(const std::vector<std::string>& items,
                             const std::string& what);

// The supported layers, in named_modules() order. Throws
// "No layer support quantization in the graph." when there is none and
// "<name> is a global parameter, can not be a layer name" on a clash.
std::vector<const LayerDecision*> supported_layers(
    const std::vector<LayerDecision>& decisions);

}  // namespace openamct
