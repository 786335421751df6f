// The validation table of spec §5.6, one named test per rule: through a
// quant.cfg where the cfg can reach the rule, on a typed config otherwise.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "config/config_validation.h"
#include "config/quant_config.h"
#include "openamct/errors.h"
#include "rules/layer_verdict.h"
#include "simple_config/simple_config.h"
#include "test_util.h"

namespace openamct {
namespace {

// named_modules() order is deliberately not sorted: "zconv" comes first.
struct Model {
  Model() {
    table.modules = {module_record("", "Net", {}), module_record("zconv", "Conv2d", {8, 4, 3, 3}),
                     module_record("bn", "BatchNorm2d", {}), module_record("conv", "Conv2d", {8, 4, 3, 3}),
                     module_record("fc", "Linear", {10, 16})};
    auto reused = module_record("reused", "Conv2d", {8, 4, 3, 3});
    reused.call_count = 2;
    table.modules.push_back(reused);
    decisions = analyse_layers(table);
    modules = table.entries();
  }
  Model(const Model&) = delete;

  // The error of expanding `cfg`, with its kind (ValueError expected).
  std::string cfg_error(const std::string& cfg) const {
    ErrorKind kind = ErrorKind::kRuntime;
    std::string m = error_of(
        [&] { SimpleConfig::parse(cfg).expand(modules, decisions); }, &kind);
    EXPECT_EQ(kind, ErrorKind::kValue) << m;
    return m;
  }
  bool cfg_ok(const std::string& cfg) const { return error_of([&] {
    SimpleConfig::parse(cfg).expand(modules, decisions); }) == "<no error>"; }

  std::string config_error(const QuantConfig& c) const {
    return error_of([&] { validate_quant_config(c, modules, decisions); });
  }

  LayerTable table;
  std::vector<LayerDecision> decisions;
  std::vector<ModuleEntry> modules;
};

// A valid config of the Model: conv and fc with filled defaults.
QuantConfig valid_config() {
  QuantConfig c;
  for (auto [name, type, cw] : {std::tuple<const char*, const char*, bool>{"conv", "Conv2d", true},
                                {"fc", "Linear", false}}) {
    LayerQuantConfig l;
    l.name = name;
    l.type_name = type;
    l.activation.max_percentile = 0.999999;
    l.activation.min_percentile = 0.999999;
    l.activation.search_range = std::array<double, 2>{0.7, 1.3};
    l.activation.search_step = 0.01;
    l.activation.asymmetric = true;
    l.weight = WeightQuantParams{};
    l.weight->channel_wise = cw;
    c.layers.push_back(l);
  }
  return c;
}

std::string common(const std::string& block) { return "common_config { " + block + " }"; }

TEST(ConfigValidation, ValidConfigPasses) {
  Model m;
  EXPECT_EQ(m.config_error(valid_config()), "<no error>");
}

// ---- root ------------------------------------------------------------------------------

TEST(ConfigValidation, VersionMustBe1) {
  QuantConfig c = valid_config();
  c.version = 2;
  EXPECT_EQ(Model().config_error(c), "The version must be 1.");
}

TEST(ConfigValidation, BatchNumMustBeGreaterThanZero) {
  EXPECT_EQ(Model().cfg_error("batch_num: 0"), "The batch_num must be greater than zero.");
}

TEST(ConfigValidation, FakequantPrecisionModeMustBeKnown) {
  QuantConfig c = valid_config();
  c.fakequant_precision_mode = "FP32";
  EXPECT_EQ(Model().config_error(c),
            "Type of fakequant_precision_mode should be ['DEFAULT', 'FORCE_FP16_QUANT'], but is "
            "FP32");
  c.fakequant_precision_mode = "DEFAULT";
  EXPECT_EQ(Model().config_error(c), "<no error>");
}

TEST(ConfigValidation, SkipFusionLayersMustNotRepeat) {
  QuantConfig c = valid_config();
  c.skip_fusion_layers = {"conv", "conv"};
  EXPECT_EQ(Model().config_error(c),
            "Please delete repeated items in skip_fusion_layers, repeated items are ['conv'] ");
}

TEST(ConfigValidation, SkipFusionLayerMustExist) {
  EXPECT_EQ(Model().cfg_error("skip_fusion_layers: \"nope\""),
            "Layer \"nope\" in skip_fusion_layers does not exist in the graph.");
}

TEST(ConfigValidation, SkipFusionLayerMustBeOfAFusableType) {
  EXPECT_EQ(Model().cfg_error("skip_fusion_layers: \"bn\""),
            "Skip fusion layer \"bn\"'s type not in supported list ['Conv2d', 'Conv3d', 'Conv1d']");
}

TEST(ConfigValidation, RootIsCheckedBeforeLayers) {
  EXPECT_EQ(Model().cfg_error("batch_num: 0 " + common("dmq_balancer { migration_strength: 0.1 }")),
            "The batch_num must be greater than zero.");
}

// ---- layer keys ------------------------------------------------------------------------

TEST(ConfigValidation, LayerKeyMustBeAModule) {
  QuantConfig c = valid_config();
  c.layers[0].name = "nope";
  EXPECT_EQ(Model().config_error(c), "nope is an invalid layer name or parameter.");
}

TEST(ConfigValidation, LayerKeyMustBeASupportedLayer) {
  QuantConfig c = valid_config();
  c.layers[0].name = "reused";
  EXPECT_EQ(Model().config_error(c), "layer reused does not support quant.");
}

TEST(ConfigValidation, ErrorsNameTheFirstLayerInModuleOrder) {
  EXPECT_EQ(Model().cfg_error(common("ifmr_quantize { max_percentile: 0.4 }")),
            "The max_percentile must be greater than 0.5 and less than or equal to 1.0 in layer "
            "zconv");
}

// ---- dmq_balancer_param ----------------------------------------------------------------

TEST(ConfigValidation, DmqBalancerParamRange) {
  Model m;
  EXPECT_EQ(m.cfg_error(common("dmq_balancer { migration_strength: 0.1 }")),
            "The dmq_balancer_param must be in range [0.2, 0.8] in layer zconv");
  EXPECT_EQ(m.cfg_error(common("dmq_balancer { migration_strength: 0.9 }")),
            "The dmq_balancer_param must be in range [0.2, 0.8] in layer zconv");
  EXPECT_TRUE(m.cfg_ok(common("dmq_balancer { migration_strength: 0.2 }")));
  EXPECT_TRUE(m.cfg_ok(common("dmq_balancer { migration_strength: 0.8 }")));
}

// ---- activation_quant_params --------------------------------------------------------------

TEST(ConfigValidation, IfmrAndHfmgKeysDoNotMix) {
  QuantConfig c = valid_config();
  c.layers[0].activation.num_of_bins = 4096;
  EXPECT_EQ(Model().config_error(c),
            "['search_step', 'search_range', 'min_percentile', 'max_percentile'] and "
            "['num_of_bins'] can not appear at same time in layer conv");
}

TEST(ConfigValidation, ActivationNumBits) {
  QuantConfig c = valid_config();
  c.layers[1].activation.num_bits = 12;
  EXPECT_EQ(Model().config_error(c), "activation num_bits is not in [4, 8, 16] in layer fc");
}

TEST(ConfigValidation, MaxPercentileRange) {
  Model m;
  EXPECT_EQ(m.cfg_error(common("ifmr_quantize { max_percentile: 0.5 }")),
            "The max_percentile must be greater than 0.5 and less than or equal to 1.0 in layer "
            "zconv");
  EXPECT_TRUE(m.cfg_ok(common("ifmr_quantize { max_percentile: 1.0 }")));
}

TEST(ConfigValidation, MinPercentileRange) {
  EXPECT_EQ(Model().cfg_error(common("ifmr_quantize { min_percentile: 1.5 }")),
            "The min_percentile must be greater than 0.5 and less than or equal to 1.0 in layer "
            "zconv");
}

TEST(ConfigValidation, SearchRangeStartMustBePositive) {
  EXPECT_EQ(Model().cfg_error(common("ifmr_quantize { search_range_start: 0.0 }")),
            "search_range[0] must be greater than zero in layer zconv");
}

TEST(ConfigValidation, SearchRangeStartMustBeBelowEnd) {
  EXPECT_EQ(Model().cfg_error(
                common("ifmr_quantize { search_range_start: 1.3 search_range_end: 0.7 }")),
            "search_range[0] must be less than search_range[1] in layer zconv");
}

TEST(ConfigValidation, SearchStepMustBePositive) {
  EXPECT_EQ(Model().cfg_error(common("ifmr_quantize { search_step: 0 }")),
            "The search_step must be greater than zero in layer zconv");
}

TEST(ConfigValidation, SearchStepAtMostTheRangeWidthInExactDecimal) {
  Model m;
  // 0.3 - 0.1 < 0.2 in binary floating point, == 0.2 in decimal.
  EXPECT_TRUE(m.cfg_ok(common(
      "ifmr_quantize { search_range_start: 0.1 search_range_end: 0.3 search_step: 0.2 }")));
  EXPECT_EQ(m.cfg_error(common(
                "ifmr_quantize { search_range_start: 0.1 search_range_end: 0.3 search_step: 0.21 }")),
            "The search_step must be less than or equal to (search_range[1] - search_range[0]) in "
            "layer zconv");
}

TEST(ConfigValidation, SearchStepFitsRangeHelper) {
  EXPECT_TRUE(search_step_fits_range(0.2, 0.1, 0.3));
  EXPECT_TRUE(search_step_fits_range(0.6, 0.7, 1.3));
  EXPECT_FALSE(search_step_fits_range(0.6000000000000001, 0.7, 1.3));
  EXPECT_TRUE(search_step_fits_range(1e-07, 0.7, 1.3));
  EXPECT_TRUE(search_step_fits_range(1e20, -1e20, 1e20));
  EXPECT_FALSE(search_step_fits_range(0.5, 1.3, 0.7));
  // The difference is rounded to 28 significant digits, as Decimal does.
  EXPECT_TRUE(search_step_fits_range(1e20, 1e-20, 1e20));
}

// The typed config cannot hold another algorithm; a reader meets the name.
TEST(ConfigValidation, ActAlgoMustBeIfmrOrHfmg) {
  EXPECT_EQ(read_act_algo("ifmr", "conv"), ActAlgo::kIfmr);
  EXPECT_EQ(read_act_algo("hfmg", "conv"), ActAlgo::kHfmg);
  try {
    read_act_algo("kl", "conv");
    ADD_FAILURE() << "act_algo 'kl' was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_STREQ(e.what(), "act_algo must be ifmr or hfmg in layer conv");
  }
}

TEST(ConfigValidation, NumOfBinsMustBeAKnownSize) {
  EXPECT_EQ(Model().cfg_error(common("hfmg_quantize { num_of_bins: 1000 }")),
            "num_of_bins 1000 must be in [1024, 2048, 4096, 8192] in layer zconv");
}

// ---- weight_quant_params --------------------------------------------------------------------

TEST(ConfigValidation, ArqTakesNoAdaKeys) {
  QuantConfig c = valid_config();
  c.layers[0].weight->reg_param = 0.01;
  EXPECT_EQ(Model().config_error(c),
            "reg_param is not valid param of quantize arq_quantize in layer conv");
}

TEST(ConfigValidation, WeightNumBits) {
  Model m;
  EXPECT_EQ(m.cfg_error(common("arq_quantize { quant_bits: 5 }")),
            "weight num_bits is not in [4, 6, 7, 8] in layer zconv");
  EXPECT_EQ(m.cfg_error(common("arq_quantize { quant_bits: 16 }")),
            "weight num_bits is not in [4, 6, 7, 8] in layer zconv");
}

TEST(ConfigValidation, RegParamBetweenZeroAndOne) {
  EXPECT_EQ(Model().cfg_error(common("ada_quantize { reg_param: 0 }")),
            "reg_param must be less than 1 and larger than 0 in layer zconv");
}

TEST(ConfigValidation, WarmStartBetweenZeroAndOne) {
  EXPECT_EQ(Model().cfg_error(common("ada_quantize { warm_start: 1.5 }")),
            "warm_start must be less than 1 and larger than 0 in layer zconv");
}

TEST(ConfigValidation, NumIterationNotNegative) {
  QuantConfig c = valid_config();
  WeightQuantParams& w = *c.layers[0].weight;
  w.wts_algo = WtsAlgo::kAda;
  w.num_iteration = -1;
  EXPECT_EQ(Model().config_error(c), "num_iteration must be larger or equal to 0 in layer conv");
}

TEST(ConfigValidation, BetaRangeStartAboveEnd) {
  EXPECT_EQ(Model().cfg_error(common("ada_quantize { beta_range_start: 2 beta_range_end: 20 }")),
            "beta_range beta_range_start must large than beta_range_end in layer zconv");
}

TEST(ConfigValidation, BetaRangeEndAboveZero) {
  EXPECT_EQ(Model().cfg_error(common("ada_quantize { beta_range_start: 2 beta_range_end: 0 }")),
            "beta_range beta_range_end must large than 0 in layer zconv");
}

TEST(ConfigValidation, ChannelWiseOnlyForChannelWiseTypes) {
  QuantConfig c = valid_config();
  c.layers[1].weight->channel_wise = true;
  EXPECT_EQ(Model().config_error(c), "The channel_wise must be False for layer type Linear in layer fc");
}

TEST(ConfigValidation, WtsAlgoMustBeArqOrAda) {
  EXPECT_EQ(read_wts_algo("arq_quantize", "conv"), WtsAlgo::kArq);
  EXPECT_EQ(read_wts_algo("ada_quantize", "conv"), WtsAlgo::kAda);
  try {
    read_wts_algo("nuq", "conv");
    ADD_FAILURE() << "wts_algo 'nuq' was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_STREQ(e.what(), "wts_algo must be arq_quantize or ada_quantize in layer conv");
  }
}

}  // namespace
}  // namespace openamct
