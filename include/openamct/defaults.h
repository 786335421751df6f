// Every default of the quantization config, in one place (spec §4.3): the
// C++ core, QuantConfigOptions, the CLI help, the Python signatures and
// docstrings (through openamct._C.DEFAULTS) all read these. Those the
// simple-config schema declares too (amct_config.proto) are pinned to it by
// tests/cpp/test_defaults.cpp; the DMQ parameter, which only a quant.cfg can
// ask for, comes from the schema's default alone.
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
// AdaRound (wts_algo "ada_quantize"), as the schema's ADAquantize; the JSON
// config reader fills them in (calibration spec §3.3).
inline constexpr int64_t kAdaNumIteration = 10000;
inline constexpr double kAdaRegParam = 0.01;
inline constexpr double kAdaWarmStart = 0.2;
inline constexpr double kAdaBetaRangeStart = 20.0;
inline constexpr double kAdaBetaRangeEnd = 2.0;

}  // namespace defaults
}  // namespace openamct
