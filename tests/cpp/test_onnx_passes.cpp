// Pass-level cases of core/onnx on tiny hand-built graphs: the §12.1 order,
// marker removal and naming, the deploy steps and their §13 numerics, quant
// fusion and the fake-quant rewrite. The kit's end-to-end files are compared
// in tests/python/test_onnx_passes.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "onnx/deploy_pass.h"
#include "onnx_test_layers.h"
#include "onnx/fake_quant_pass.h"
#include "onnx/modified_pass.h"
#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "onnx/quant_numerics.h"
#include "openamct/errors.h"

namespace op = openamct::onnx_passes;

namespace {

std::vector<std::string> node_names(const onnx::GraphProto& g) {
  std::vector<std::string> out;
  for (const auto& n : g.node()) out.push_back(n.name());
  return out;
}

onnx::NodeProto marker(const std::string& layer, const std::string& in, const std::string& out) {
  onnx::NodeProto n = op::make_node(op::kMarkerOp, "/" + layer + "/Marker", {in}, {out});
  n.set_domain(op::kMarkerDomain);
  op::set_string_attribute(&n, op::kMarkerLayerAttribute, layer);
  return n;
}

void add_output(onnx::GraphProto* g, const std::string& name) { g->add_output()->set_name(name); }

// x -> Conv c (weight w [2,1,1,1], bias b [2]) -> y (graph output)
onnx::GraphProto one_conv_graph() {
  onnx::GraphProto g;
  g.add_input()->set_name("x");
  *g.add_node() = op::make_node("Conv", "c", {"x", "w", "b"}, {"y"});
  *g.add_initializer() = op::float_tensor("w", {2, 1, 1, 1}, {0.5f, -1.0f});
  *g.add_initializer() = op::float_tensor("b", {2}, {0.25f, 3.0f});
  add_output(&g, "y");
  return g;
}

using op::test::conv_params;

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

}  // namespace

TEST(OnnxNodeOrder, ConstantsComeFirstThenTheFirstReadyNodeInListOrder) {
  onnx::GraphProto g;
  *g.add_node() = op::make_node("Relu", "late", {"a"}, {"b"});
  *g.add_node() = op::make_node("Relu", "first", {"x"}, {"a"});
  *g.add_node() = op::make_node("Constant", "k", {}, {"k_out"});
  *g.add_node() = op::make_node("Add", "sum", {"b", "k_out"}, {"y"});
  op::order_nodes(&g);
  EXPECT_EQ(node_names(g), (std::vector<std::string>{"k", "first", "late", "sum"}));
}

TEST(OnnxNodeOrder, ANodeInsertedAtTheFrontIsPlacedAsSoonAsItIsReady) {
  onnx::GraphProto g;
  *g.add_node() = op::make_node("Relu", "r1", {"x"}, {"a"});
  *g.add_node() = op::make_node("Relu", "r2", {"a"}, {"b"});
  op::prepend_node(&g, op::make_node("Neg", "inserted", {"a"}, {"c"}));
  op::order_nodes(&g);
  EXPECT_EQ(node_names(g), (std::vector<std::string>{"r1", "inserted", "r2"}));
}

TEST(OnnxNodeOrder, ACycleIsARuntimeError) {
  onnx::GraphProto g;
  *g.add_node() = op::make_node("Relu", "a", {"q"}, {"p"});
  *g.add_node() = op::make_node("Relu", "b", {"p"}, {"q"});
  EXPECT_THROW(op::order_nodes(&g), openamct::Error);
}

TEST(OnnxModifiedPass, MarkersGoAndTheirConsumersTakeTheModuleNames) {
  onnx::ModelProto m;
  m.add_opset_import()->set_version(11);
  auto* marker_opset = m.add_opset_import();
  marker_opset->set_domain(op::kMarkerDomain);
  marker_opset->set_version(1);
  onnx::GraphProto* g = m.mutable_graph();
  g->add_input()->set_name("in_data.1");
  g->add_input()->set_name("w");
  *g->add_node() = marker("act", "in_data.1", "m0");
  *g->add_node() = op::make_node("Relu", "/act/sub_module/Relu", {"m0"}, {"r0"});
  *g->add_node() = marker("act", "r0", "m1");  // the same module, second call
  *g->add_node() = op::make_node("Relu", "/act/sub_module_1/Relu", {"m1"}, {"r1"});
  *g->add_node() = marker("pool", "r1", "m2");
  *g->add_node() = op::make_node("Constant", "/pool/Constant", {}, {"pads"});
  *g->add_node() = op::make_node("Pad", "/pool/Pad", {"m2", "pads"}, {"p"});
  *g->add_node() = op::make_node("AveragePool", "/pool/AveragePool", {"p"}, {"y"});
  *g->add_initializer() = op::float_tensor("w", {1}, {1.0f});
  add_output(g, "y");
  op::ModifiedOnnxSpec spec;
  spec.op_data_types = {{"pool", "float"}};
  op::make_modified_model(&m, spec);
  EXPECT_EQ(node_names(*g),
            (std::vector<std::string>{"/pool/Constant", "act", "act1", "pool_pad", "pool"}));
  EXPECT_EQ(g->node(1).input(0), "in_data.1");
  EXPECT_EQ(g->node(3).input(0), "r1");
  ASSERT_EQ(g->input_size(), 1);  // w is an initializer
  EXPECT_EQ(g->input(0).name(), "in_data.1");
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(op::find_attribute(g->node(4), "op_data_type")->s(), "float");
  EXPECT_EQ(op::find_attribute(g->node(1), "op_data_type"), nullptr);
}

TEST(OnnxModifiedPass, ABatchNormWithoutFiveInputsIsTheReferencesError) {
  onnx::ModelProto m;
  onnx::GraphProto* g = m.mutable_graph();
  *g->add_node() = op::make_node("BatchNormalization", "bn", {"x", "s", "b"}, {"y"});
  op::ModifiedOnnxSpec spec;
  spec.fused_batchnorms = {"bn"};
  try {
    op::make_modified_model(&m, spec);
    FAIL() << "no error";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("BatchNorm node should only have 5 input actually have 3"),
              std::string::npos);
  }
}

TEST(OnnxNumerics, DequantWordOfTheWorkedExample) {
  // spec §12.5: conv1.dequant.param[0] = 0x3852C22B = float32(0.0040458245 × 0.0124199)
  EXPECT_EQ(op::dequant_word(0.0040458245f, 0.0124199f, 0), 0x3852C22Bull);
  EXPECT_EQ(op::dequant_word(1.0f, 1.0f, -1) >> 32, 0xFFull);  // uint8(offset_w), bits 32-39 (K3)
}

TEST(OnnxNumerics, QuantScaleIsTheReciprocalInDoubleRoundedOnce) {
  EXPECT_EQ(bits(op::quant_scale(0.0124199f)), bits(80.51594543457031f));
}

TEST(OnnxNumerics, RoundingIsHalfToEvenAndClamped) {
  auto weight = [](float w) {
    int32_t q = 0;
    EXPECT_TRUE(op::quantize_weight(w, 1.0f, 0, 8, &q));
    return q;
  };
  EXPECT_EQ(weight(2.5f), 2);
  EXPECT_EQ(weight(-3.5f), -4);
  EXPECT_EQ(weight(1000.0f), 127);
  EXPECT_EQ(weight(-1000.0f), -128);
  int32_t q = 0;
  EXPECT_FALSE(op::quantize_weight(0.0f, 0.0f, 0, 8, &q));  // 0/0
  EXPECT_TRUE(op::quantize_bias(0.5f, 1.0f, &q));
  EXPECT_EQ(q, 0);
  EXPECT_FALSE(op::quantize_bias(1.0f, 1e-30f, &q));
}

// The vectorised loop of save_model against the one-weight rule, on ties,
// signed zeros, the clamp ends, Inf and a NaN (reported, not cast).
TEST(OnnxNumerics, WeightRunsQuantiseAsTheOneWeightRule) {
  std::vector<float> w = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -0.0f, 0.0f, 126.5f, 127.5f, -128.5f,
                          1e30f, -1e30f, INFINITY, -INFINITY, 0.049999997f, 3.75f, -7.25f};
  for (int i = 0; i < 40; ++i) w.push_back(std::ldexp(static_cast<float>(i) - 19.5f, -3));
  const int n = static_cast<int>(w.size());
  std::vector<float> scales(n);
  std::vector<int32_t> offsets(n);
  for (int i = 0; i < n; ++i) {
    scales[i] = i % 3 == 0 ? 0.1f : (i % 3 == 1 ? 1.0f : 0.25f);
    offsets[i] = i % 4 == 0 ? -3 : (i % 4 == 1 ? 2 : 0);
  }
  for (int bits : {4, 7, 8}) {
    std::vector<int8_t> got(n);
    ASSERT_TRUE(op::quantize_weights_int8(w.data(), n, scales.data(), offsets.data(), 1, bits,
                                          got.data()));
    std::vector<int8_t> shared(n);
    ASSERT_TRUE(op::quantize_weights_int8(w.data(), n, scales.data(), offsets.data(), 0, bits,
                                          shared.data()));
    for (int i = 0; i < n; ++i) {
      int32_t want = 0;
      ASSERT_TRUE(op::quantize_weight(w[i], scales[i], offsets[i], bits, &want));
      EXPECT_EQ(got[i], want) << w[i] << " / " << scales[i] << " + " << offsets[i] << ", " << bits;
      ASSERT_TRUE(op::quantize_weight(w[i], scales[0], offsets[0], bits, &want));
      EXPECT_EQ(shared[i], want) << w[i] << ", " << bits;
    }
  }
  w[5] = NAN;
  std::vector<int8_t> out(n);
  EXPECT_FALSE(op::quantize_weights_int8(w.data(), n, scales.data(), offsets.data(), 1, 8,
                                         out.data()));
  const float zero = 0.0f;
  const int32_t offset = 0;
  EXPECT_FALSE(op::quantize_weights_int8(&zero, 1, &zero, &offset, 0, 8, out.data()));  // 0/0
}

// Each weight layout quantises every element with its output channel's
// scale: Conv (Cout first), grouped ConvTranspose (Cin, Cout/g, k), Gemm
// with transB (Cout, Cin) and MatMul (Cin, Cout); channel c's scale is c + 1
// and every weight is 12, so element i must hold rne(12 / (c(i) + 1)).
TEST(OnnxDeployPass, EveryWeightLayoutUsesItsOutputChannelsScale) {
  struct Case {
    const char* op;
    std::vector<int64_t> dims;
    int64_t groups;
    bool trans_b;
    std::function<int64_t(int64_t)> channel;
  };
  const std::vector<Case> cases = {
      {"Conv", {3, 2, 2, 2}, 1, false, [](int64_t i) { return i / 8; }},
      // ConvTranspose, 4 in channels in 2 groups, 3 outputs per group, kernel 2:
      // element (ci, j, k) is output channel (ci / 2) * 3 + j.
      {"ConvTranspose", {4, 3, 2}, 2, false,
       [](int64_t i) { return ((i / 6) / 2) * 3 + (i / 2) % 3; }},
      {"Gemm", {3, 5}, 1, true, [](int64_t i) { return i / 5; }},
      {"MatMul", {5, 3}, 1, false, [](int64_t i) { return i % 3; }},
  };
  for (const Case& c : cases) {
    onnx::GraphProto g;
    g.add_input()->set_name("x");
    *g.add_node() = op::make_node(c.op, "l", {"x", "w"}, {"y"});
    if (c.groups > 1) op::set_int_attribute(g.mutable_node(0), "group", c.groups);
    if (c.trans_b) op::set_int_attribute(g.mutable_node(0), "transB", 1);
    int64_t count = 1;
    for (int64_t d : c.dims) count *= d;
    *g.add_initializer() = op::float_tensor("w", c.dims, std::vector<float>(count, 12.0f));
    add_output(&g, "y");
    const int64_t cout = std::string(c.op) == "ConvTranspose" ? 6 : 3;
    op::LayerQuantParams p;
    p.layer = "l";
    p.scale_d = 1.0f;
    for (int64_t ch = 0; ch < cout; ++ch) {
      p.scale_w.push_back(static_cast<float>(ch + 1));
      p.offset_w.push_back(0);
    }
    op::make_deploy_graph(&g, {p});
    auto w = op::raw_values<int8_t>(*op::find_initializer(g, "w"));
    if (c.trans_b) {  // the deploy pass stores a Gemm weight transposed: (Cin, Cout)
      std::vector<int8_t> back(w.size());
      for (int64_t r = 0; r < 5; ++r)
        for (int64_t ch = 0; ch < 3; ++ch) back[ch * 5 + r] = w[r * 3 + ch];
      w = back;
    }
    ASSERT_EQ(static_cast<int64_t>(w.size()), count) << c.op;
    for (int64_t i = 0; i < count; ++i)
      EXPECT_EQ(w[i], static_cast<int8_t>(std::nearbyint(12.0f / (c.channel(i) + 1))))
          << c.op << " element " << i;
  }
}

TEST(OnnxDeployPass, OneConvGetsQuantInt8WeightsInt32BiasAndDequant) {
  onnx::GraphProto g = one_conv_graph();
  const auto p = conv_params();
  op::make_deploy_graph(&g, {p});
  op::order_nodes(&g);
  EXPECT_EQ(node_names(g), (std::vector<std::string>{"c.quant", "c", "c.dequant"}));
  const auto& q = g.node(0);
  EXPECT_EQ(bits(op::find_attribute(q, "scale")->f()), bits(op::quant_scale(0.1f)));
  EXPECT_EQ(op::find_attribute(q, "offset")->f(), -3.0f);
  EXPECT_EQ(op::find_attribute(q, "dst_type")->s(), "INT8");
  // The graph output keeps its name on the dequant; the conv output is renamed.
  EXPECT_EQ(g.node(1).output(0), "c_output0");
  EXPECT_EQ(g.node(2).output(0), "y");
  EXPECT_EQ(op::int_attribute(g.node(2), "dtype", -1), 0);
  const auto w = op::raw_values<int8_t>(*op::find_initializer(g, "w"));
  EXPECT_EQ(w, (std::vector<int8_t>{50, -50}));
  const auto b = op::raw_values<int32_t>(*op::find_initializer(g, "b"));
  EXPECT_EQ(b, (std::vector<int32_t>{static_cast<int32_t>(std::nearbyint(0.25f / (0.01f * 0.1f))),
                                     static_cast<int32_t>(std::nearbyint(3.0f / (0.02f * 0.1f)))}));
  const auto words = op::raw_values<uint64_t>(*op::find_initializer(g, "c.dequant.param"));
  EXPECT_EQ(words, (std::vector<uint64_t>{op::dequant_word(0.01f, 0.1f, 0),
                                          op::dequant_word(0.02f, 0.1f, 0)}));
}

TEST(OnnxDeployPass, GemmWeightIsTransposedAndTransBCleared) {
  onnx::GraphProto g;
  *g.add_node() = op::make_node("Gemm", "fc", {"x", "w"}, {"y"});
  op::set_int_attribute(g.mutable_node(0), "transB", 1);
  *g.add_initializer() = op::float_tensor("w", {2, 3}, {1, 2, 3, 4, 5, 6});
  add_output(&g, "y");
  op::LayerQuantParams p;
  p.layer = "fc";
  p.scale_d = 1.0f;
  p.scale_w = {1.0f};
  p.offset_w = {0};
  op::make_deploy_graph(&g, {p});
  const auto* w = op::find_initializer(g, "w");
  EXPECT_EQ(std::vector<int64_t>(w->dims().begin(), w->dims().end()),
            (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(op::raw_values<int8_t>(*w), (std::vector<int8_t>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(op::int_attribute(g.node(op::find_node(g, "fc")), "transB", -1), 0);
}

TEST(OnnxDeployPass, QuantsOfOneTensorWithEqualParametersFuseIntoTheFirstInRecordOrder) {
  onnx::GraphProto g;
  *g.add_node() = op::make_node("Conv", "a", {"x", "wa"}, {"ya"});
  *g.add_node() = op::make_node("Conv", "b", {"x", "wb"}, {"yb"});
  *g.add_initializer() = op::float_tensor("wa", {1, 1, 1, 1}, {1.0f});
  *g.add_initializer() = op::float_tensor("wb", {1, 1, 1, 1}, {1.0f});
  add_output(&g, "ya");
  add_output(&g, "yb");
  op::LayerQuantParams a = conv_params(), b = conv_params();
  a.layer = "a";
  b.layer = "b";
  a.scale_w = b.scale_w = {1.0f};
  a.offset_w = b.offset_w = {0};
  op::make_deploy_graph(&g, {a, b});
  EXPECT_EQ(op::find_node(g, "b.quant"), -1);
  EXPECT_EQ(g.node(op::find_node(g, "b")).input(0), "a.quant.output0");
}

TEST(OnnxDeployPass, ARecordLayerWithoutANodeIsARuntimeErrorNamingIt) {
  onnx::GraphProto g = one_conv_graph();
  auto p = conv_params();
  p.layer = "missing";
  EXPECT_THROW(op::make_deploy_graph(&g, {p}), openamct::Error);
}

TEST(OnnxFakeQuantPass, QuantBecomesMulRoundAddClipSubAndDequantAMul) {
  onnx::GraphProto g = one_conv_graph();
  const auto p = conv_params();
  op::make_deploy_graph(&g, {p});
  op::order_nodes(&g);
  op::make_fake_quant_graph(&g, {p});
  op::order_nodes(&g);
  EXPECT_EQ(node_names(g),
            (std::vector<std::string>{
                "c.fakedequant.dqscale", "c.quant.fakequant.max_val", "c.quant.fakequant.min_val",
                "c.quant.fakequant.offset", "c.quant.fakequant.scale", "c.quant.fakequant.mul",
                "c.quant.fakequant.round", "c.quant.fakequant.add", "c.quant.fakequant.clip",
                "c.quant.fakequant.sub", "c", "c.fakedequant.mul"}));
  EXPECT_EQ(g.node(11).output(0), "y");
  EXPECT_EQ(op::find_initializer(g, "c.dequant.param"), nullptr);
  const auto* w = op::find_initializer(g, "w");
  EXPECT_EQ(w->data_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(op::float_values(*w), (std::vector<float>{50.0f, -50.0f}));
  const auto& dq = g.node(0).attribute(0).t();
  EXPECT_EQ(std::vector<int64_t>(dq.dims().begin(), dq.dims().end()),
            (std::vector<int64_t>{1, 2, 1, 1}));
}

// A NaN weight leaves the vectorised runs for the element-by-element rule,
// whose error names the layer and the element.
TEST(OnnxDeployPass, ANaNWeightIsARuntimeErrorNamingTheElement) {
  onnx::GraphProto g = one_conv_graph();
  *op::find_initializer(&g, "w") = op::float_tensor("w", {2, 1, 1, 1}, {0.5f, NAN});
  try {
    op::make_deploy_graph(&g, {conv_params()});
    FAIL() << "no error";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("the weight of layer 'c' quantises to NaN (element 1"),
              std::string::npos)
        << e.what();
  }
}
