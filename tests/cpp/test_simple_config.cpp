// Expanding quant.cfg over a model (spec §5.3-§5.5): the extraction checks,
// whole-block precedence, the asymmetric chain, the downgrades of
// common_config settings with their log lines, deviation D5, ADA clean-up,
// skip selection and the root values.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/quant_config.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "rules/layer_verdict.h"
#include "simple_config/simple_config.h"
#include "test_util.h"

namespace openamct {
namespace {

// One module of each kind the rules tell apart, in named_modules() order.
struct Net {
  Net() {
    auto gconv = module_record("gconv", "Conv2d", {8, 2, 3, 3});
    gconv.groups = 2;
    auto fc_nobias = module_record("fc_nobias", "Linear", {10, 16});
    fc_nobias.has_bias = false;
    auto lstm = module_record("lstm", "LSTM", {64, 16});
    lstm.hidden_size = 16;
    auto reused = module_record("reused", "Conv2d", {8, 4, 3, 3});
    reused.call_count = 2;
    table.modules = {module_record("", "Net"),
                     module_record("conv", "Conv2d", {8, 4, 3, 3}),
                     module_record("bn", "BatchNorm2d"),
                     module_record("relu", "ReLU"),
                     gconv,
                     module_record("conv3d", "Conv3d", {8, 4, 3, 3, 3}),
                     module_record("pool", "AvgPool2d"),
                     module_record("fc", "Linear", {10, 16}),
                     fc_nobias,
                     lstm,
                     module_record("conv1d", "Conv1d", {8, 3, 3}),  // odd Cin
                     reused};
    decisions = analyse_layers(table);
  }
  Net(const Net&) = delete;

  QuantConfig expand(const std::string& cfg) const {
    return SimpleConfig::parse(cfg).expand(table.entries(), decisions);
  }
  std::string error(const std::string& cfg, ErrorKind* kind = nullptr) const {
    return error_of([&] { expand(cfg); }, kind);
  }

  LayerTable table;
  std::vector<LayerDecision> decisions;
};

class LogCapture {
 public:
  LogCapture() {
    set_log_sink([this](LogLevel level, const std::string& m) { lines_.push_back({level, m}); });
  }
  ~LogCapture() { set_log_sink({}); }
  int count(LogLevel level, const std::string& part) const {
    int n = 0;
    for (const auto& [l, m] : lines_) n += l == level && m.find(part) != std::string::npos;
    return n;
  }
  bool has(LogLevel level, const std::string& message) const {
    for (const auto& [l, m] : lines_)
      if (l == level && m == message) return true;
    return false;
  }

 private:
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

std::string layer_override(const std::string& name, const std::string& block) {
  return "override_layer_configs { layer_name: \"" + name + "\" calibration_config { " + block +
         " } }\n";
}
std::string type_override(const std::string& type, const std::string& block) {
  return "override_layer_types { layer_type: \"" + type + "\" calibration_config { " + block +
         " } }\n";
}

// ---- root values and the layer set ---------------------------------------------------

TEST(SimpleConfigExpand, EmptyCfgGivesTheDefaults) {
  Net net;
  QuantConfig c = net.expand("");
  EXPECT_EQ(c.version, 1);
  EXPECT_EQ(c.batch_num, 1);
  EXPECT_TRUE(c.activation_offset);
  EXPECT_TRUE(c.do_fusion);
  EXPECT_FALSE(c.fakequant_precision_mode);
  EXPECT_TRUE(c.skip_fusion_layers.empty());
  std::vector<std::string> names;
  for (const auto& l : c.layers) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv", "gconv", "conv3d", "pool", "fc", "fc_nobias",
                                             "lstm", "conv1d"}));
  const LayerQuantConfig& conv = find_layer(c, "conv");
  EXPECT_TRUE(conv.quant_enable);
  EXPECT_FALSE(conv.dmq_balancer_param);
  EXPECT_EQ(conv.activation.act_algo, ActAlgo::kIfmr);
  EXPECT_EQ(conv.activation.asymmetric, true);
  EXPECT_EQ(conv.weight->channel_wise, true);
  EXPECT_EQ(find_layer(c, "fc").weight->channel_wise, false);
  EXPECT_EQ(find_layer(c, "pool").weight->channel_wise, false);
}

TEST(SimpleConfigExpand, RootValuesComeFromTheCfg) {
  Net net;
  QuantConfig c = net.expand(
      "batch_num: 5 activation_offset: false do_fusion: false "
      "fakequant_precision_mode: FORCE_FP16_QUANT skip_fusion_layers: \"conv\"");
  EXPECT_EQ(c.batch_num, 5);
  EXPECT_FALSE(c.activation_offset);
  EXPECT_FALSE(c.do_fusion);
  EXPECT_EQ(c.fakequant_precision_mode, "FORCE_FP16_QUANT");
  EXPECT_EQ(c.skip_fusion_layers, std::vector<std::string>{"conv"});
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, false);
  EXPECT_EQ(to_config_text(c).rfind("{\n    \"version\":1,\n    \"batch_num\":5,\n"
                                    "    \"activation_offset\":false,\n    \"do_fusion\":false,\n"
                                    "    \"fakequant_precision_mode\":\"FORCE_FP16_QUANT\",\n"
                                    "    \"skip_fusion_layers\":[\n        \"conv\"\n    ],\n",
                                    0),
            0u);
}

// ---- §5.3 step 1: globals --------------------------------------------------------------

TEST(SimpleConfigGlobals, RepeatedSkipLayers) {
  EXPECT_EQ(Net().error("skip_layers: \"fc\" skip_layers: \"fc\""),
            "Please delete repeated items in skip_layers, repeated items are ['fc'] ");
}

TEST(SimpleConfigGlobals, RepeatedSkipLayerTypes) {
  EXPECT_EQ(Net().error("skip_layer_types: \"Linear\" skip_layer_types: \"Linear\""),
            "Please delete repeated items in skip_layer_types, repeated items are ['Linear'] ");
}

TEST(SimpleConfigGlobals, RepeatedSkipFusionLayers) {
  EXPECT_EQ(Net().error("skip_fusion_layers: \"conv\" skip_fusion_layers: \"conv\""),
            "Please delete repeated items in skip_fusion_layers, repeated items are ['conv'] ");
}

TEST(SimpleConfigGlobals, GlobalChecksComeBeforeOverrideChecks) {
  EXPECT_EQ(Net().error("skip_layers: \"x\" skip_layers: \"x\"\n" +
                        layer_override("nope", "")),
            "Please delete repeated items in skip_layers, repeated items are ['x'] ");
}

// ---- §5.3 step 2: override_layer_configs ---------------------------------------------

TEST(SimpleConfigLayerOverride, RepeatedLayerName) {
  EXPECT_EQ(Net().error(layer_override("fc", "") + layer_override("fc", "")),
            "Please delete repeated items in override_layer_configs, repeated items are ['fc'] ");
}

TEST(SimpleConfigLayerOverride, UnknownLayerName) {
  EXPECT_EQ(Net().error(layer_override("does_not_exist", "")),
            "Layer does_not_exist does not exist in the graph.");
}

TEST(SimpleConfigLayerOverride, Conv3dAsymmetricTrue) {
  EXPECT_EQ(Net().error(layer_override("conv3d", "ifmr_quantize { asymmetric: true }")),
            "Layer conv3d can only set asymmetric be False ");
}

TEST(SimpleConfigLayerOverride, Conv3dAsymmetricFalseIsAccepted) {
  EXPECT_EQ(find_layer(Net().expand(layer_override("conv3d", "hfmg_quantize { asymmetric: false }")),
                       "conv3d")
                .activation.act_algo,
            ActAlgo::kHfmg);
}

TEST(SimpleConfigLayerOverride, ChannelWiseTrueOnLinear) {
  EXPECT_EQ(Net().error(layer_override("fc", "arq_quantize { channel_wise: true }")),
            "channel_wise can only be False for fc layer.");
}

TEST(SimpleConfigLayerOverride, ChannelWiseTrueOnLinearWithAdaFailsValidation) {
  EXPECT_EQ(Net().error(layer_override("fc", "ada_quantize { channel_wise: true }")),
            "The channel_wise must be False for layer type Linear in layer fc");
}

TEST(SimpleConfigLayerOverride, DmqOnAvgPool) {
  EXPECT_EQ(Net().error(layer_override("pool", "dmq_balancer { migration_strength: 0.5 }")),
            "dmq_balancer not support for pool layer");
}

TEST(SimpleConfigLayerOverride, DmqOnAModuleThatIsNotALayer) {
  EXPECT_EQ(Net().error(layer_override("bn", "dmq_balancer { }")),
            "dmq_balancer not support for bn layer");
}

TEST(SimpleConfigLayerOverride, DmqOnLstmIsAccepted) {
  EXPECT_EQ(find_layer(Net().expand(layer_override("lstm", "dmq_balancer { }")), "lstm")
                .dmq_balancer_param,
            0.5);
}

TEST(SimpleConfigLayerOverride, Int16OnLinearWithoutBias) {
  EXPECT_EQ(Net().error(layer_override("fc_nobias", "ifmr_quantize { dst_type: INT16 }")),
            "int16_quantizable not support for fc_nobias layer");
}

TEST(SimpleConfigLayerOverride, Int16OnConv3d) {
  EXPECT_EQ(Net().error(layer_override("conv3d", "hfmg_quantize { dst_type: INT16 }")),
            "int16_quantizable not support for conv3d layer");
}

TEST(SimpleConfigLayerOverride, AdaOnConv1d) {
  EXPECT_EQ(Net().error(layer_override("conv1d", "ada_quantize { }")),
            "ada_quantizable not support for conv1d layer");
}

TEST(SimpleConfigLayerOverride, QuantBits6OnLinear) {
  EXPECT_EQ(Net().error(layer_override("fc", "arq_quantize { quant_bits: 6 }")),
            "quant_bits 6 not support for fc layer");
}

TEST(SimpleConfigLayerOverride, QuantBits7OnConv2dIsKept) {
  EXPECT_EQ(find_layer(Net().expand(layer_override("conv", "arq_quantize { quant_bits: 7 }")),
                       "conv")
                .weight->num_bits,
            7);
}

TEST(SimpleConfigLayerOverride, ModuleThatIsNotALayerWarnsOnceAndChangesNothing) {
  Net net;
  LogCapture log;
  QuantConfig c = net.expand(layer_override("bn", "ifmr_quantize { search_step: 0.02 }"));
  EXPECT_EQ(to_config_text(c), to_config_text(net.expand("")));
  EXPECT_EQ(log.count(LogLevel::kWarning, "'bn'"), 1);
  EXPECT_EQ(log.count(LogLevel::kWarning, "no effect"), 1);
}

TEST(SimpleConfigLayerOverride, ExcludedLayerWarnsOnceAndChangesNothing) {
  Net net;
  LogCapture log;
  QuantConfig c = net.expand(layer_override("reused", "ifmr_quantize { search_step: 0.02 }"));
  EXPECT_EQ(to_config_text(c), to_config_text(net.expand("")));
  EXPECT_EQ(log.count(LogLevel::kWarning, "override_layer_configs for layer 'reused' has no effect"),
            1);
}

// ---- §5.3 step 3: override_layer_types -------------------------------------------------

TEST(SimpleConfigTypeOverride, RepeatedType) {
  EXPECT_EQ(Net().error(type_override("Linear", "") + type_override("Linear", "")),
            "Please delete repeated items in override_layer_types, repeated items are ['Linear'] ");
}

TEST(SimpleConfigTypeOverride, TypeThatIsNotQuantizable) {
  EXPECT_EQ(Net().error(type_override("BatchNorm2d", "")),
            "Layer type BatchNorm2d does not support quantize.");
}

TEST(SimpleConfigTypeOverride, Conv3dAsymmetricTrue) {
  EXPECT_EQ(Net().error(type_override("Conv3d", "ifmr_quantize { asymmetric: true }")),
            "Layer type Conv3d can only set asymmetric be False ");
}

TEST(SimpleConfigTypeOverride, ChannelWiseTrueOnAvgPool) {
  EXPECT_EQ(Net().error(type_override("AvgPool2d", "arq_quantize { channel_wise: true }")),
            "channel_wise can only be False for AvgPool2d type");
}

TEST(SimpleConfigTypeOverride, DmqOnLstmType) {
  EXPECT_EQ(Net().error(type_override("LSTM", "dmq_balancer { }")),
            "dmq_balancer not support for LSTM type");
}

TEST(SimpleConfigTypeOverride, Int16OnAvgPool) {
  EXPECT_EQ(Net().error(type_override("AvgPool2d", "ifmr_quantize { dst_type: INT16 }")),
            "int16_quantizable not support for AvgPool2d type");
}

TEST(SimpleConfigTypeOverride, AdaOnAvgPoolSaysLayer) {
  EXPECT_EQ(Net().error(type_override("AvgPool2d", "ada_quantize { num_iteration: 100 }")),
            "ada_quantizable not support for AvgPool2d layer");
}

TEST(SimpleConfigTypeOverride, QuantBits7OnLinear) {
  EXPECT_EQ(Net().error(type_override("Linear", "arq_quantize { quant_bits: 7 }")),
            "quant_bits 7 not support for Linear type");
}

TEST(SimpleConfigTypeOverride, TypeAbsentFromTheModelWarnsOnce) {
  Net net;
  LogCapture log;
  QuantConfig c = net.expand(type_override("ConvTranspose2d", "ifmr_quantize { search_step: 0.02 }"));
  EXPECT_EQ(to_config_text(c), to_config_text(net.expand("")));
  EXPECT_EQ(log.count(LogLevel::kWarning,
                      "override_layer_types for type 'ConvTranspose2d' has no effect"),
            1);
}

TEST(SimpleConfigTypeOverride, LayerOverridesAreCheckedBeforeTypeOverrides) {
  EXPECT_EQ(Net().error(type_override("Conv4d", "") + layer_override("nope", "")),
            "Layer nope does not exist in the graph.");
}

// ---- §5.5 step 1: skip_layers, skip_layer_types ------------------------------------------

TEST(SimpleConfigSkip, SkipLayerThatDoesNotExist) {
  EXPECT_EQ(Net().error("skip_layers: \"nope\"").rfind("Layer nope does not exist in the graph.", 0),
            0u);
}

TEST(SimpleConfigSkip, SkipLayerThatIsNotQuantizable) {
  EXPECT_EQ(Net().error("skip_layers: \"bn\"").rfind("Layer bn does not support quantization.", 0),
            0u);
}

TEST(SimpleConfigSkip, SkipTypeThatIsNotQuantizable) {
  EXPECT_EQ(Net().error("skip_layer_types: \"Foo\""), "Layer type Foo does not support quantize.");
}

TEST(SimpleConfigSkip, SkippingEveryType) {
  std::string cfg;
  for (const char* t : {"Conv2d", "Conv3d", "Linear", "ConvTranspose2d", "AvgPool2d", "Conv1d",
                        "ConvTranspose1d", "GRU", "LSTM"})
    cfg += std::string("skip_layer_types: \"") + t + "\"\n";
  EXPECT_EQ(Net().error(cfg), "Except skip_types, no type need to quantize.");
}

TEST(SimpleConfigSkip, SkippingEveryLayer) {
  EXPECT_EQ(Net().error("skip_layer_types: [\"Conv2d\", \"Conv3d\", \"Linear\", \"AvgPool2d\", "
                        "\"Conv1d\"] skip_layers: \"lstm\""),
            "Except skip_layers or skip_types, no layer need to quantize.");
}

TEST(SimpleConfigSkip, SkippedLayersStayWithQuantEnableFalse) {
  QuantConfig c = Net().expand("skip_layers: \"conv\" skip_layer_types: \"Linear\"");
  EXPECT_FALSE(find_layer(c, "conv").quant_enable);
  EXPECT_FALSE(find_layer(c, "fc").quant_enable);
  EXPECT_FALSE(find_layer(c, "fc_nobias").quant_enable);
  EXPECT_TRUE(find_layer(c, "gconv").quant_enable);
  EXPECT_EQ(c.layers.size(), 8u);
}

// ---- §5.5 steps 3-4: whole-block precedence -----------------------------------------------

TEST(SimpleConfigPrecedence, LayerBlockThenTypeBlockThenCommonWithoutMerging) {
  QuantConfig c = Net().expand(
      "common_config { ifmr_quantize { search_step: 0.05 } arq_quantize { quant_bits: 7 }"
      " dmq_balancer { migration_strength: 0.3 } }\n" +
      type_override("Conv2d", "arq_quantize { channel_wise: false }") +
      layer_override("conv", "ifmr_quantize { search_step: 0.02 }"));
  const LayerQuantConfig& conv = find_layer(c, "conv");  // layer block only
  EXPECT_EQ(conv.activation.search_step, 0.02);
  EXPECT_EQ(conv.weight->num_bits, 8);
  EXPECT_EQ(conv.weight->channel_wise, true);
  EXPECT_FALSE(conv.dmq_balancer_param);
  const LayerQuantConfig& gconv = find_layer(c, "gconv");  // type block only
  EXPECT_EQ(gconv.activation.search_step, 0.01);
  EXPECT_EQ(gconv.weight->num_bits, 8);
  EXPECT_EQ(gconv.weight->channel_wise, false);
  EXPECT_FALSE(gconv.dmq_balancer_param);
  const LayerQuantConfig& fc = find_layer(c, "fc");  // common block
  EXPECT_EQ(fc.activation.search_step, 0.05);
  EXPECT_EQ(fc.weight->num_bits, 8);  // 7 is Conv2d-only: downgraded
  EXPECT_EQ(fc.dmq_balancer_param, 0.3);
}

TEST(SimpleConfigPrecedence, HfmgBlockHasNoIfmrKeys) {
  const std::string text = to_config_text(Net().expand(type_override("Linear", "hfmg_quantize { }")));
  EXPECT_NE(text.find("    \"fc\":{\n        \"quant_enable\":true,\n"
                      "        \"activation_quant_params\":{\n"
                      "            \"num_bits\":8,\n            \"act_algo\":\"hfmg\",\n"
                      "            \"asymmetric\":true,\n            \"num_of_bins\":4096\n"
                      "        },\n"),
            std::string::npos)
      << text;
}

TEST(SimpleConfigPrecedence, AdaBlockUsesTheProtoDefaults) {
  const std::string text = to_config_text(Net().expand(layer_override("conv", "ada_quantize { }")));
  EXPECT_NE(text.find("        \"weight_quant_params\":{\n            \"num_bits\":8,\n"
                      "            \"reg_param\":0.01,\n            \"warm_start\":0.2,\n"
                      "            \"num_iteration\":10000,\n            \"beta_range\":[\n"
                      "                20.0,\n                2.0\n            ],\n"
                      "            \"channel_wise\":true,\n"
                      "            \"wts_algo\":\"ada_quantize\"\n        }\n"),
            std::string::npos)
      << text;
}

// ---- §5.5 step 10: the asymmetric chain -------------------------------------------------

const std::string kThreeLevels =
    "activation_offset: true\n"
    "common_config { ifmr_quantize { asymmetric: false } }\n";

TEST(SimpleConfigAsymmetric, LayerBlockWinsOverTypeBlockAndCommon) {
  QuantConfig c = Net().expand(kThreeLevels +
                               type_override("Conv2d", "ifmr_quantize { asymmetric: false }") +
                               layer_override("conv", "ifmr_quantize { asymmetric: true }"));
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, true);
  EXPECT_EQ(find_layer(c, "gconv").activation.asymmetric, false);
}

TEST(SimpleConfigAsymmetric, TypeBlockWinsOverCommon) {
  QuantConfig c = Net().expand(kThreeLevels +
                               type_override("Linear", "ifmr_quantize { asymmetric: true }") +
                               layer_override("conv", "ifmr_quantize { search_step: 0.02 }"));
  EXPECT_EQ(find_layer(c, "fc").activation.asymmetric, true);
  EXPECT_EQ(find_layer(c, "lstm").activation.asymmetric, false);  // common
}

TEST(SimpleConfigAsymmetric, UnsetInOverrideFallsBackToCommonOfTheSameAlgorithm) {
  QuantConfig c = Net().expand(kThreeLevels +
                               type_override("Conv2d", "arq_quantize { quant_bits: 8 }") +
                               layer_override("conv", "ifmr_quantize { search_step: 0.02 }"));
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, false);
  EXPECT_EQ(find_layer(c, "gconv").activation.asymmetric, false);  // no act block: ifmr
}

TEST(SimpleConfigAsymmetric, UnsetInOverrideOfAnotherAlgorithmFallsBackToActivationOffset) {
  QuantConfig c = Net().expand(kThreeLevels + layer_override("conv", "hfmg_quantize { }"));
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, true);
  EXPECT_EQ(find_layer(c, "fc").activation.asymmetric, false);
}

TEST(SimpleConfigAsymmetric, CommonWithoutAsymmetricFallsBackToActivationOffset) {
  QuantConfig c = Net().expand("activation_offset: false common_config { ifmr_quantize { } }\n" +
                               type_override("Linear", "ifmr_quantize { asymmetric: true }"));
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, false);
  EXPECT_EQ(find_layer(c, "fc").activation.asymmetric, true);
}

TEST(SimpleConfigAsymmetric, Conv3dIsAlwaysSymmetricWithAnInfoLine) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { ifmr_quantize { asymmetric: true } }");
  EXPECT_EQ(find_layer(c, "conv3d").activation.asymmetric, false);
  EXPECT_TRUE(log.has(LogLevel::kInfo, "Layer conv3d does not support asymmetric quant, set symmetric"));
}

// ---- §5.5 steps 5-9: downgrades of common_config settings ----------------------------------

TEST(SimpleConfigDowngrade, CommonDmqIsRemovedFromAvgPoolWithAWarning) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { dmq_balancer { migration_strength: 0.3 } }");
  EXPECT_FALSE(find_layer(c, "pool").dmq_balancer_param);
  EXPECT_EQ(find_layer(c, "conv").dmq_balancer_param, 0.3);
  EXPECT_EQ(find_layer(c, "lstm").dmq_balancer_param, 0.3);
  EXPECT_TRUE(log.has(LogLevel::kWarning,
                      "Layer pool does not support dmq_balancer, remove dmq_balancer in config file"));
  EXPECT_EQ(log.count(LogLevel::kWarning, "no layer in graph support dmq_balancer"), 0);
}

TEST(SimpleConfigDowngrade, CommonDmqWithOnlyAvgPoolQuantizedWarns) {
  LogCapture log;
  Net().expand("skip_layer_types: [\"Conv2d\", \"Conv3d\", \"Linear\", \"Conv1d\", \"LSTM\"]\n"
               "common_config { dmq_balancer { } }");
  EXPECT_TRUE(log.has(LogLevel::kWarning,
                      "Except skip_layers or skip_types, no layer in graph support dmq_balancer, "
                      "please remove dmq_balancer in config file."));
}

TEST(SimpleConfigDowngrade, CommonInt16BecomesInt8WhereUnsupported) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { ifmr_quantize { dst_type: INT16 } }");
  for (const char* name : {"conv", "gconv", "fc", "lstm", "conv1d"})
    EXPECT_EQ(find_layer(c, name).activation.num_bits, 16) << name;
  for (const char* name : {"conv3d", "pool", "fc_nobias"}) {
    EXPECT_EQ(find_layer(c, name).activation.num_bits, 8) << name;
    EXPECT_TRUE(log.has(LogLevel::kWarning, std::string("Layer ") + name +
                                                " does not support int16_quantizable, set int8"));
  }
}

TEST(SimpleConfigDowngrade, Int16FromATypeOverrideIsNotDowngradedWithoutCommonInt16) {
  // The reference only downgrades when common_config asks for INT16.
  QuantConfig c = Net().expand(type_override("Linear", "ifmr_quantize { dst_type: INT16 }"));
  EXPECT_EQ(find_layer(c, "fc_nobias").activation.num_bits, 16);
}

TEST(SimpleConfigDowngrade, CommonQuantBits7BecomesInt8OutsideConv2d) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { arq_quantize { quant_bits: 7 } }");
  EXPECT_EQ(find_layer(c, "conv").weight->num_bits, 7);
  EXPECT_EQ(find_layer(c, "gconv").weight->num_bits, 7);
  for (const char* name : {"conv3d", "pool", "fc", "lstm", "conv1d"})
    EXPECT_EQ(find_layer(c, name).weight->num_bits, 8) << name;
  EXPECT_TRUE(log.has(LogLevel::kInfo, "Layer fc does not support weight num bits 7, set int8"));
}

TEST(SimpleConfigDowngrade, QuantBits4BecomesInt8ForGroupedConvAndOddCin) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { arq_quantize { quant_bits: 4 } }");
  for (const char* name : {"conv", "pool", "fc", "lstm"})
    EXPECT_EQ(find_layer(c, name).weight->num_bits, 4) << name;
  for (const char* name : {"gconv", "conv1d"}) {
    EXPECT_EQ(find_layer(c, name).weight->num_bits, 8) << name;
    EXPECT_TRUE(log.has(LogLevel::kWarning,
                        std::string("Layer ") + name +
                            " weight cannot be INT4-packed along Cin (grouped conv or odd Cin), "
                            "downgraded to INT8 (A8W4)."));
  }
}

TEST(SimpleConfigDowngrade, CommonAdaDropsWeightParamsOfLayersWithoutAda) {
  QuantConfig c = Net().expand("common_config { ada_quantize { channel_wise: false } }");
  for (const char* name : {"conv", "gconv", "fc", "fc_nobias"})
    EXPECT_EQ(find_layer(c, name).weight->wts_algo, WtsAlgo::kAda) << name;
  for (const char* name : {"conv3d", "pool", "lstm", "conv1d"})
    EXPECT_FALSE(find_layer(c, name).weight) << name;
}

// ---- deviation D5 ------------------------------------------------------------------------

TEST(SimpleConfigD5, CommonChannelWiseTrueBecomesFalseForLinearAndAvgPool) {
  LogCapture log;
  QuantConfig c = Net().expand("common_config { arq_quantize { channel_wise: true } }");
  EXPECT_EQ(find_layer(c, "conv").weight->channel_wise, true);
  for (const char* name : {"fc", "fc_nobias", "pool"}) {
    EXPECT_EQ(find_layer(c, name).weight->channel_wise, false) << name;
    EXPECT_EQ(log.count(LogLevel::kInfo, std::string("Layer ") + name + " ("), 1) << name;
  }
}

TEST(SimpleConfigD5, CommonAdaChannelWiseTrueBecomesFalseForLinear) {
  QuantConfig c = Net().expand("common_config { ada_quantize { channel_wise: true } }");
  EXPECT_EQ(find_layer(c, "conv").weight->channel_wise, true);
  EXPECT_EQ(find_layer(c, "fc").weight->channel_wise, false);
}

TEST(SimpleConfigD5, ChannelWiseTrueInATypeOverrideIsStillAnError) {
  EXPECT_EQ(Net().error("common_config { arq_quantize { channel_wise: true } }\n" +
                        type_override("Linear", "arq_quantize { channel_wise: true }")),
            "channel_wise can only be False for Linear type");
}

// ---- skip_fusion_layers ---------------------------------------------------------------------

TEST(SimpleConfigFusion, SkipFusionLayerThatDoesNotExist) {
  EXPECT_EQ(Net().error("skip_fusion_layers: \"nope\""),
            "Layer \"nope\" in skip_fusion_layers does not exist in the graph.");
}

TEST(SimpleConfigFusion, SkipFusionLayerOfANonFusableType) {
  EXPECT_EQ(Net().error("skip_fusion_layers: \"fc\""),
            "Skip fusion layer \"fc\"'s type not in supported list ['Conv2d', 'Conv3d', 'Conv1d']");
}

TEST(SimpleConfigFusion, SkipFusionLayersOfFusableTypes) {
  QuantConfig c = Net().expand("do_fusion: false skip_fusion_layers: [\"conv1d\", \"conv3d\", \"reused\"]");
  EXPECT_EQ(c.skip_fusion_layers, (std::vector<std::string>{"conv1d", "conv3d", "reused"}));
}

}  // namespace
}  // namespace openamct
