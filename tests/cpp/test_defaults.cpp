// The one source of defaults (include/openamct/defaults.h) pinned to the
// reference: to the simple-config schema where it declares the same value
// (a quant.cfg that leaves a field unset must mean what the default path
// writes), to the spec's literal values where only the spec has them, and
// to every struct that starts from them.
#include <gtest/gtest.h>

#include "amct_config.pb.h"
#include "config/quant_config.h"
#include "openamct/defaults.h"
#include "openamct/openamct.h"
#include "text/float_repr.h"

namespace openamct {
namespace {

// A float field of the schema as the config writes it (spec §4.5).
double as_written(float proto_value) { return float32_to_python_float(proto_value); }

TEST(Defaults, RootMatchesTheSchema) {
  const auto& cfg = AMCTPytorchProto::AMCTConfig::default_instance();
  EXPECT_EQ(defaults::kBatchNum, static_cast<int64_t>(cfg.batch_num()));
  EXPECT_EQ(defaults::kActivationOffset, cfg.activation_offset());
  EXPECT_EQ(defaults::kDoFusion, cfg.do_fusion());
}

TEST(Defaults, IfmrMatchesTheSchema) {
  const auto& ifmr = AMCTPytorchProto::FMRQuantize::default_instance();
  EXPECT_EQ(defaults::kMaxPercentile, as_written(ifmr.max_percentile()));
  EXPECT_EQ(defaults::kMinPercentile, as_written(ifmr.min_percentile()));
  EXPECT_EQ(defaults::kSearchRangeStart, as_written(ifmr.search_range_start()));
  EXPECT_EQ(defaults::kSearchRangeEnd, as_written(ifmr.search_range_end()));
  EXPECT_EQ(defaults::kSearchStep, as_written(ifmr.search_step()));
  EXPECT_EQ(ifmr.dst_type(), AMCTPytorchProto::FMRQuantize::INT8);  // kNumBits 8
}

TEST(Defaults, HfmgMatchesTheSchema) {
  const auto& hfmg = AMCTPytorchProto::HFMGQuantize::default_instance();
  EXPECT_EQ(defaults::kNumOfBins, static_cast<int64_t>(hfmg.num_of_bins()));
  EXPECT_EQ(hfmg.dst_type(), AMCTPytorchProto::HFMGQuantize::INT8);
}

// The two the schema does not declare: spec §4.3's values.
TEST(Defaults, AdaRoundMatchesTheSchema) {
  const AMCTPytorchProto::ADAquantize ada;
  EXPECT_EQ(ada.num_iteration(), defaults::kAdaNumIteration);
  // The schema's fields are float32: the double defaults round to them.
  EXPECT_EQ(ada.reg_param(), static_cast<float>(defaults::kAdaRegParam));
  EXPECT_EQ(ada.warm_start(), static_cast<float>(defaults::kAdaWarmStart));
  EXPECT_EQ(ada.beta_range_start(), static_cast<float>(defaults::kAdaBetaRangeStart));
  EXPECT_EQ(ada.beta_range_end(), static_cast<float>(defaults::kAdaBetaRangeEnd));
}

TEST(Defaults, VersionAndNumBitsAreTheSpecs) {
  EXPECT_EQ(defaults::kVersion, 1);
  EXPECT_EQ(defaults::kNumBits, 8);
}

TEST(Defaults, StructsStartFromThem) {
  const QuantConfigOptions options;
  EXPECT_EQ(options.batch_num, defaults::kBatchNum);
  EXPECT_EQ(options.activation_offset, defaults::kActivationOffset);
  const QuantConfig config;
  EXPECT_EQ(config.version, defaults::kVersion);
  EXPECT_EQ(config.batch_num, defaults::kBatchNum);
  EXPECT_EQ(config.activation_offset, defaults::kActivationOffset);
  EXPECT_EQ(config.do_fusion, defaults::kDoFusion);
  EXPECT_EQ(ActivationQuantParams{}.num_bits, defaults::kNumBits);
  EXPECT_EQ(ActivationQuantParams{}.act_algo, ActAlgo::kIfmr);
  EXPECT_EQ(WeightQuantParams{}.num_bits, defaults::kNumBits);
  EXPECT_EQ(WeightQuantParams{}.wts_algo, WtsAlgo::kArq);
}

TEST(Defaults, AlgorithmNamesRoundTrip) {
  for (ActAlgo a : {ActAlgo::kIfmr, ActAlgo::kHfmg})
    EXPECT_EQ(act_algo_from_name(act_algo_name(a)), a);
  for (WtsAlgo w : {WtsAlgo::kArq, WtsAlgo::kAda})
    EXPECT_EQ(wts_algo_from_name(wts_algo_name(w)), w);
  EXPECT_EQ(act_algo_name(ActAlgo::kHfmg), "hfmg");
  EXPECT_EQ(wts_algo_name(WtsAlgo::kAda), "ada_quantize");
  EXPECT_FALSE(act_algo_from_name("IFMR").has_value());
  EXPECT_FALSE(wts_algo_from_name("arq").has_value());
}

}  // namespace
}  // namespace openamct
