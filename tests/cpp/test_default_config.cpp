// The default path (spec §4): defaults, key order, skip layers, and the
// argument checks shared with the simple-config path.
#include <gtest/gtest.h>

#include "config/config_defaults.h"
#include "config/default_config.h"
#include "openamct/errors.h"
#include "test_util.h"

namespace openamct {
namespace {

ModuleRecord layer(const std::string& name, const std::string& type) {
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  r.call_count = 1;
  r.padding_mode = "zeros";
  r.dilation = {1, 1, 1};
  return r;
}

const std::vector<ModuleEntry> kModules = {
    {"", "Net"}, {"conv", "Conv2d"}, {"bn", "BatchNorm2d"}, {"fc", "Linear"}};

TEST(DefaultConfig, WritesTheReferenceLayoutForConvAndLinear) {
  LayerTable t{{layer("fc", "Linear"), layer("conv", "Conv2d")}};
  auto decisions = analyse_layers(t);
  QuantConfig c = build_default_config(decisions, {"fc"}, 2, true);
  const std::string expected_conv =
      "    \"conv\":{\n"
      "        \"quant_enable\":true,\n"
      "        \"activation_quant_params\":{\n"
      "            \"num_bits\":8,\n"
      "            \"max_percentile\":0.999999,\n"
      "            \"min_percentile\":0.999999,\n"
      "            \"search_range\":[\n"
      "                0.7,\n"
      "                1.3\n"
      "            ],\n"
      "            \"search_step\":0.01,\n"
      "            \"act_algo\":\"ifmr\",\n"
      "            \"asymmetric\":true\n"
      "        },\n"
      "        \"weight_quant_params\":{\n"
      "            \"num_bits\":8,\n"
      "            \"channel_wise\":true,\n"
      "            \"wts_algo\":\"arq_quantize\"\n"
      "        }\n"
      "    },\n";
  const std::string text = to_config_text(c);
  EXPECT_EQ(text.rfind("{\n    \"version\":1,\n    \"batch_num\":2,\n    \"activation_offset\":true,\n"
                       "    \"do_fusion\":true,\n    \"skip_fusion_layers\":[],\n",
                       0),
            0u);
  EXPECT_NE(text.find(expected_conv), std::string::npos) << text;
  EXPECT_NE(text.find("\"fc\":{\n        \"quant_enable\":false,"), std::string::npos);
  EXPECT_NE(text.find("\"channel_wise\":false,"), std::string::npos);
  EXPECT_EQ(text.back(), '}');  // no trailing newline
}

// A Python int has no bound: a batch_num beyond int64 comes as its digits and
// is written as the number it is, as the reference's json.dump writes it.
TEST(DefaultConfig, BatchNumBeyondInt64IsWrittenFromItsDigits) {
  LayerTable t{{layer("fc", "Linear")}};
  auto decisions = analyse_layers(t);
  QuantConfig c = build_default_config(decisions, {}, INT64_MAX, true);
  c.batch_num_digits = "18446744073709551621";
  const std::string text = to_config_text(c);
  EXPECT_EQ(text.rfind("{\n    \"version\":1,\n    \"batch_num\":18446744073709551621,\n"
                       "    \"activation_offset\":true,\n", 0),
            0u)
      << text;
  c.batch_num_digits.clear();
  c.batch_num = 7;
  EXPECT_NE(to_config_text(c).find("\"batch_num\":7,\n"), std::string::npos);
}

TEST(DefaultConfig, LayersAreSortedByCodePoint) {
  LayerTable t{{layer("fc.2", "Linear"), layer("fc.10", "Linear"), layer("conv1", "Conv2d"),
                layer("Conv_up", "Conv2d"), layer("avg_pool", "AvgPool2d"),
                layer("conv1.sub", "Conv2d")}};
  auto text = to_config_text(build_default_config(analyse_layers(t), {}, 1, true));
  std::vector<size_t> pos;
  for (const char* n : {"\"Conv_up\"", "\"avg_pool\"", "\"conv1\"", "\"conv1.sub\"", "\"fc.10\"",
                        "\"fc.2\""})
    pos.push_back(text.find(n));
  for (size_t i = 1; i < pos.size(); ++i) EXPECT_LT(pos[i - 1], pos[i]);
}

TEST(DefaultConfig, Conv3dIsAlwaysSymmetric) {
  LayerTable t{{layer("c3", "Conv3d")}};
  t.modules[0].input_rank = 5;
  auto c = build_default_config(analyse_layers(t), {}, 1, true);
  EXPECT_EQ(c.layers[0].activation.asymmetric, false);
  EXPECT_TRUE(c.activation_offset);
}

TEST(DefaultConfig, ActivationOffsetFalseMakesLayersSymmetric) {
  LayerTable t{{layer("conv", "Conv2d")}};
  auto c = build_default_config(analyse_layers(t), {}, 1, false);
  EXPECT_EQ(c.layers[0].activation.asymmetric, false);
}

TEST(DefaultConfig, AvgPool2dGetsAWeightBlockWithoutChannelWise) {
  LayerTable t{{layer("pool", "AvgPool2d")}};
  auto c = build_default_config(analyse_layers(t), {}, 1, true);
  ASSERT_TRUE(c.layers[0].weight.has_value());
  EXPECT_EQ(c.layers[0].weight->channel_wise, false);
}

TEST(DefaultConfig, SkippingEveryLayerIsAnError) {
  LayerTable t{{layer("fc", "Linear")}};
  auto d = analyse_layers(t);
  EXPECT_EQ(error_of([&] { build_default_config(d, {"fc"}, 1, true); }),
            "Except skip_layers, no layer needs to quantize.");
}

TEST(DefaultConfig, NoSupportedLayerIsAnError) {
  LayerTable t{{layer("fc", "Linear")}};
  t.modules[0].call_count = 0;
  auto d = analyse_layers(t);
  EXPECT_EQ(error_of([&] { build_default_config(d, {}, 1, true); }),
            "No layer support quantization in the graph.");
}

TEST(DefaultConfig, LayerNamedLikeAGlobalKeyIsAnError) {
  LayerTable t{{layer("batch_num", "Linear")}};
  auto d = analyse_layers(t);
  EXPECT_EQ(error_of([&] { build_default_config(d, {}, 1, true); }),
            "batch_num is a global parameter, can not be a layer name");
}

TEST(SkipLayers, RepeatedNameIsRejectedWithTheReferenceText) {
  ErrorKind kind{};
  EXPECT_EQ(error_of([&] { check_skip_layers(kModules, {"fc", "fc"}); }, &kind),
            "Please delete repeated items in skip_layers, repeated items are ['fc'] ");
  EXPECT_EQ(kind, ErrorKind::kValue);
}

TEST(SkipLayers, UnknownNameIsRejectedWithAHint) {
  auto msg = error_of([&] { check_skip_layers(kModules, {"fcc"}); });
  EXPECT_EQ(msg.rfind("Layer fcc does not exist in the graph.", 0), 0u) << msg;
  EXPECT_NE(msg.find("Did you mean 'fc'?"), std::string::npos) << msg;
}

TEST(SkipLayers, NonQuantizableModuleIsRejected) {
  auto msg = error_of([&] { check_skip_layers(kModules, {"bn"}); });
  EXPECT_EQ(msg.rfind("Layer bn does not support quantization.", 0), 0u) << msg;
}

TEST(SkipLayers, RootModuleIsRejected) {
  auto msg = error_of([&] { check_skip_layers(kModules, {""}); });
  EXPECT_EQ(msg.rfind("Layer  does not support quantization.", 0), 0u) << msg;
}

TEST(SkipLayers, ValidNamesPass) {
  EXPECT_NO_THROW(check_skip_layers(kModules, {"conv", "fc"}));
}

}  // namespace
}  // namespace openamct
