// Every default of the config in one place (spec §4.3), and the checks that
// the default path and the simple-config path share (spec §4.1, §5.5 step 1).
#pragma once

#include <string>
#include <vector>

#include "config/quant_config.h"
#include "openamct/layer_table.h"
#include "rules/layer_verdict.h"

namespace openamct {

namespace defaults {
inline constexpr int64_t kVersion = 1;
inline constexpr int64_t kBatchNum = 1;
inline constexpr bool kActivationOffset = true;
inline constexpr bool kDoFusion = true;
inline constexpr int64_t kNumBits = 8;
inline constexpr double kMaxPercentile = 0.999999;
inline constexpr double kMinPercentile = 0.999999;
inline constexpr double kSearchRangeStart = 0.7;
inline constexpr double kSearchRangeEnd = 1.3;
inline constexpr double kSearchStep = 0.01;
inline constexpr int64_t kNumOfBins = 4096;
inline constexpr double kDmqMigrationStrength = 0.5;
// ADA (ada_quantize) weight defaults, as the proto declares them.
inline constexpr int64_t kAdaNumIteration = 10000;
inline constexpr double kAdaRegParam = 0.01;
inline constexpr double kAdaBetaRangeStart = 20.0;
inline constexpr double kAdaBetaRangeEnd = 2.0;
inline constexpr double kAdaWarmStart = 0.2;
}  // namespace defaults

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
