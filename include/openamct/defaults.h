// Every default of the quantization config, in one place (spec §4.3): the
// C++ core, QuantConfigOptions, the CLI help, the Python signatures and
// docstrings (through openamct._C.DEFAULTS) all read these. Those the
// simple-config schema declares too (amct_config.proto) are pinned to it by
// tests/cpp/test_defaults.cpp; the ADA and DMQ parameters, which only a
// quant.cfg can ask for, come from the schema's defaults alone.
#pragma once

#include <cstdint>

namespace openamct {
namespace defaults {

// The config's root.
inline constexpr int64_t kVersion = 1;
inline constexpr int64_t kBatchNum = 1;
inline constexpr bool kActivationOffset = true;
inline constexpr bool kDoFusion = true;
// Activations and weights.
inline constexpr int64_t kNumBits = 8;
// IFMR (act_algo "ifmr"), as the schema's FMRQuantize.
inline constexpr double kMaxPercentile = 0.999999;
inline constexpr double kMinPercentile = 0.999999;
inline constexpr double kSearchRangeStart = 0.7;
inline constexpr double kSearchRangeEnd = 1.3;
inline constexpr double kSearchStep = 0.01;
// HFMG (act_algo "hfmg"), as the schema's HFMGQuantize.
inline constexpr int64_t kNumOfBins = 4096;

}  // namespace defaults
}  // namespace openamct
