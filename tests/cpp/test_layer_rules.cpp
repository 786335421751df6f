// One named test per constraint of spec §3.1: a tiny layer table, one verdict.
#include <gtest/gtest.h>

#include "rules/capability_table.h"
#include "rules/layer_verdict.h"

namespace openamct {
namespace {

ModuleRecord conv2d(const std::string& name) {
  ModuleRecord r;
  r.name = name;
  r.type_name = "Conv2d";
  r.call_count = 1;
  r.input_rank = 4;
  r.padding_mode = "zeros";
  r.dilation = {1, 1};
  r.has_bias = true;
  r.weight_shape = {8, 3, 3, 3};
  return r;
}

ModuleRecord with_weight(ModuleRecord r, int64_t id) {
  r.weight_id = id;
  return r;
}

LayerVerdict only_verdict(const LayerTable& t) {
  auto d = analyse_layers(t);
  EXPECT_EQ(d.size(), 1u);
  return d.at(0).verdict;
}

TEST(LayerRules, PlainConv2dIsQuantized) {
  LayerTable t{{conv2d("conv")}};
  EXPECT_EQ(only_verdict(t), LayerVerdict::kQuantize);
}

TEST(LayerRules, NonQuantizableTypesGetNoDecision) {
  ModuleRecord bn;
  bn.name = "bn";
  bn.type_name = "BatchNorm2d";
  ModuleRecord deconv3d = conv2d("deconv3d");
  deconv3d.type_name = "ConvTranspose3d";
  EXPECT_TRUE(analyse_layers(LayerTable{{bn, deconv3d}}).empty());
}

TEST(LayerRules, MatchingIsByExactClassName) {
  ModuleRecord sub = conv2d("myconv");
  sub.type_name = "MyConv";  // class MyConv(nn.Conv2d)
  ModuleRecord ndq = conv2d("out_proj");
  ndq.type_name = "NonDynamicallyQuantizableLinear";
  EXPECT_TRUE(analyse_layers(LayerTable{{sub, ndq}}).empty());
}

TEST(LayerRules, CircularPaddingConvIsExcluded) {
  auto r = conv2d("conv");
  r.padding_mode = "circular";
  auto d = analyse_layers(LayerTable{{r}});
  EXPECT_EQ(d[0].verdict, LayerVerdict::kUnsupportedPadding);
  EXPECT_NE(d[0].reason.find("'circular'"), std::string::npos);
}

TEST(LayerRules, ReflectPaddingConvTranspose1dIsExcluded) {
  auto r = conv2d("deconv");
  r.type_name = "ConvTranspose1d";
  r.input_rank = 3;
  r.padding_mode = "reflect";
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kUnsupportedPadding);
}

TEST(LayerRules, Conv3dWithDepthDilation2IsExcluded) {
  auto r = conv2d("c3");
  r.type_name = "Conv3d";
  r.input_rank = 5;
  r.dilation = {2, 1, 1};
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kUnsupportedDilation);
}

TEST(LayerRules, Conv3dWithSpatialDilationIsKept) {
  auto r = conv2d("c3");
  r.type_name = "Conv3d";
  r.input_rank = 5;
  r.dilation = {1, 2, 2};
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, Conv2dDilationIsNotRestricted) {
  auto r = conv2d("c");
  r.dilation = {3, 3};
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, ModuleNeverCalledIsExcluded) {
  auto r = conv2d("unused");
  r.call_count = 0;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kNotExecuted);
}

TEST(LayerRules, ModuleCalledTwiceIsExcluded) {
  auto r = conv2d("twice");
  r.call_count = 2;
  auto d = analyse_layers(LayerTable{{r}});
  EXPECT_EQ(d[0].verdict, LayerVerdict::kReused);
  EXPECT_NE(d[0].reason.find("called 2 times"), std::string::npos);
}

TEST(LayerRules, UnbatchedConv2dInputIsExcluded) {
  auto r = conv2d("c");
  r.input_rank = 3;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kReducedInputRank);
}

TEST(LayerRules, UnknownInputRankIsNotHeldAgainstTheLayer) {
  auto r = conv2d("c");
  r.input_rank = -1;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, LinearOnAnyRankIsKept) {
  ModuleRecord r;
  r.name = "fc";
  r.type_name = "Linear";
  r.call_count = 1;
  r.input_rank = 3;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, TwoLinearsSharingOneWeightAreBothExcluded) {
  ModuleRecord a;
  a.name = "fc_a";
  a.type_name = "Linear";
  a.call_count = 1;
  a.weight_id = 7;
  ModuleRecord b = a;
  b.name = "fc_b";
  auto d = analyse_layers(LayerTable{{a, b}});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].verdict, LayerVerdict::kSharedWeight);
  EXPECT_EQ(d[1].verdict, LayerVerdict::kSharedWeight);
  EXPECT_NE(d[0].reason.find("fc_b"), std::string::npos);
}

TEST(LayerRules, Conv1dSharingOneWeightIsExcludedDeviationD4) {
  auto a = with_weight(conv2d("a"), 1);
  a.type_name = "Conv1d";
  a.input_rank = 3;
  auto b = a;
  b.name = "b";
  auto d = analyse_layers(LayerTable{{a, b}});
  EXPECT_EQ(d[0].verdict, LayerVerdict::kSharedWeight);
  EXPECT_EQ(d[1].verdict, LayerVerdict::kSharedWeight);
}

TEST(LayerRules, WeightSharedWithConvTranspose3dCounts) {
  auto a = with_weight(conv2d("a"), 1);
  auto b = with_weight(conv2d("b"), 1);
  b.type_name = "ConvTranspose3d";
  auto d = analyse_layers(LayerTable{{a, b}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].verdict, LayerVerdict::kSharedWeight);
}

TEST(LayerRules, WeightSharedWithAnEmbeddingDoesNotCount) {
  ModuleRecord fc;
  fc.name = "lm_head";
  fc.type_name = "Linear";
  fc.call_count = 1;
  fc.weight_id = 3;
  ModuleRecord emb;
  emb.name = "embed";
  emb.type_name = "Embedding";
  emb.weight_id = 3;
  EXPECT_EQ(only_verdict(LayerTable{{fc, emb}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, DistinctWeightsWithEqualValuesAreNotSharedDeviationD7) {
  auto a = with_weight(conv2d("a"), 1);
  auto b = with_weight(conv2d("b"), 2);
  auto d = analyse_layers(LayerTable{{a, b}});
  EXPECT_EQ(d[0].verdict, LayerVerdict::kQuantize);
  EXPECT_EQ(d[1].verdict, LayerVerdict::kQuantize);
}

ModuleRecord lstm() {
  ModuleRecord r;
  r.name = "lstm";
  r.type_name = "LSTM";
  r.call_count = 1;
  r.input_rank = 3;
  r.hidden_size = 16;
  r.weight_shape = {64, 8};
  return r;
}

TEST(LayerRules, TwoLayerLstmIsExcluded) {
  auto r = lstm();
  r.num_layers = 2;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kRnnMultiLayer);
}

TEST(LayerRules, BidirectionalGruIsExcluded) {
  auto r = lstm();
  r.type_name = "GRU";
  r.bidirectional = true;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kRnnBidirectional);
}

TEST(LayerRules, LstmWithDropoutIsExcluded) {
  auto r = lstm();
  r.dropout = 0.5;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kRnnDropout);
}

TEST(LayerRules, LstmWithProjectionIsExcluded) {
  auto r = lstm();
  r.proj_size = 4;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kRnnProjection);
}

TEST(LayerRules, PlainLstmIsQuantized) {
  EXPECT_EQ(only_verdict(LayerTable{{lstm()}}), LayerVerdict::kQuantize);
}

// The reference maps an RNN's name straight to its RNN node, so an unbatched
// (sequence, feature) input does not count as a reduced one.
TEST(LayerRules, UnbatchedLstmAndGruAreQuantized) {
  for (const char* type : {"LSTM", "GRU"}) {
    auto r = lstm();
    r.type_name = type;
    r.input_rank = 2;
    EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize) << type;
  }
}

TEST(LayerRules, AvgPool2dAttributesAreNotChecked) {
  ModuleRecord r;
  r.name = "pool";
  r.type_name = "AvgPool2d";
  r.call_count = 1;
  r.input_rank = 3;
  EXPECT_EQ(only_verdict(LayerTable{{r}}), LayerVerdict::kQuantize);
}

TEST(LayerRules, DecisionsFollowTableOrder) {
  LayerTable t{{conv2d("b"), conv2d("a"), conv2d("c")}};
  auto d = analyse_layers(t);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].name(), "b");
  EXPECT_EQ(d[1].name(), "a");
  EXPECT_EQ(d[2].name(), "c");
}

TEST(LayerCapabilities, LinearWithoutBiasCannotTakeInt16) {
  ModuleRecord r;
  r.name = "fc";
  r.type_name = "Linear";
  r.call_count = 1;
  LayerTable t{{r}};
  EXPECT_FALSE(supports_int16(analyse_layers(t)[0]));
  t.modules[0].has_bias = true;
  EXPECT_TRUE(supports_int16(analyse_layers(t)[0]));
}

TEST(LayerCapabilities, GroupedOrOddCinConvCannotBeInt4Packed) {
  LayerTable t{{conv2d("odd_cin")}};  // weight {8, 3, 3, 3}: Cin 3
  EXPECT_FALSE(int4_packable(analyse_layers(t)[0]));
  t.modules[0].weight_shape = {8, 4, 3, 3};
  EXPECT_TRUE(int4_packable(analyse_layers(t)[0]));
  t.modules[0].groups = 2;
  EXPECT_FALSE(int4_packable(analyse_layers(t)[0]));
}

TEST(LayerCapabilities, TableHoldsTheNineTypesInReferenceOrder) {
  EXPECT_EQ(quantizable_type_names(),
            (std::vector<std::string>{"Conv2d", "Conv3d", "Linear", "ConvTranspose2d",
                                      "AvgPool2d", "Conv1d", "ConvTranspose1d", "GRU", "LSTM"}));
  EXPECT_EQ(fusable_type_names(), (std::vector<std::string>{"Conv2d", "Conv3d", "Conv1d"}));
}

// Cout is the first axis of a convolution's, a Linear's and an RNN's weight,
// the second of a transposed convolution's; Cin the other one.
TEST(LayerCapabilities, KindsAndChannelAxesOfEachType) {
  struct Expected {
    const char* type;
    LayerKind kind;
    int out_axis;
    int in_axis;
  };
  for (const Expected& e : {Expected{"Conv1d", LayerKind::kConv, 0, 1},
                            Expected{"Conv2d", LayerKind::kConv, 0, 1},
                            Expected{"Conv3d", LayerKind::kConv, 0, 1},
                            Expected{"ConvTranspose1d", LayerKind::kDeconv, 1, 0},
                            Expected{"ConvTranspose2d", LayerKind::kDeconv, 1, 0},
                            Expected{"Linear", LayerKind::kLinear, 0, 1},
                            Expected{"AvgPool2d", LayerKind::kPool, -1, -1},
                            Expected{"GRU", LayerKind::kRnn, 0, 1},
                            Expected{"LSTM", LayerKind::kRnn, 0, 1}}) {
    const LayerCapability* cap = find_capability(e.type);
    ASSERT_NE(cap, nullptr) << e.type;
    EXPECT_EQ(cap->kind, e.kind) << e.type;
    EXPECT_EQ(cap->out_channel_axis, e.out_axis) << e.type;
    EXPECT_EQ(cap->in_channel_axis, e.in_axis) << e.type;
    EXPECT_EQ(cap->is_convolution(), cap->checks_padding_mode) << e.type;
  }
}

}  // namespace
}  // namespace openamct
