// The QDQ pass and the opset 11 → 13 upgrade on tiny hand-built graphs: what
// each rewrite writes, and the ops the upgrade refuses by name. Running the
// QDQ models of real flows in ONNX Runtime is tests/python/test_qdq.py.
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <map>
#include <string>
#include <vector>

#include "onnx/deploy_pass.h"
#include "onnx_test_layers.h"
#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "onnx/opset13.h"
#include "onnx/qdq_pass.h"
#include "onnx/quant_numerics.h"
#include "onnx/reader_quantizers.h"
#include "openamct/errors.h"

namespace op = openamct::onnx_passes;

namespace {

using op::test::conv_params;
using op::test::float_value;
using op::test::node;

// x[1,1,2,2] -> Conv c (weight w [2,1,1,1], bias b [2]) -> y[1,2,2,2], opset 11.
onnx::ModelProto conv_model() {
  onnx::ModelProto m = op::test::empty_model(11);
  onnx::GraphProto* g = m.mutable_graph();
  float_value(g->add_input(), "x", {1, 1, 2, 2});
  *g->add_node() = op::make_node("Conv", "c", {"x", "w", "b"}, {"y"});
  *g->add_initializer() = op::float_tensor("w", {2, 1, 1, 1}, {0.5f, -1.0f});
  *g->add_initializer() = op::float_tensor("b", {2}, {0.25f, 3.0f});
  float_value(g->add_output(), "y", {1, 2, 2, 2});
  return m;
}


onnx::ModelProto qdq_of(onnx::ModelProto m, const std::vector<op::LayerQuantParams>& layers) {
  op::upgrade_to_opset13(&m);
  op::make_deploy_graph(m.mutable_graph(), layers);
  op::order_nodes(m.mutable_graph());
  op::make_qdq_graph(m.mutable_graph(), layers);
  op::strip_op_data_type(m.mutable_graph());
  op::order_nodes(m.mutable_graph());
  return m;
}

}  // namespace

TEST(QdqPass, ConvGetsQuantDequantPerChannelWeightsAndAnInt32Bias) {
  const onnx::ModelProto m = qdq_of(conv_model(), {conv_params()});
  const onnx::GraphProto& g = m.graph();
  EXPECT_NO_THROW(op::check_qdq_model(m));
  EXPECT_EQ(m.opset_import(0).version(), 13);

  const auto& q = node(g, "c.quant");
  EXPECT_EQ(q.op_type(), "QuantizeLinear");
  EXPECT_EQ(q.input(0), "x");
  EXPECT_EQ(op::raw_values<float>(*op::find_initializer(g, q.input(1))), std::vector<float>{0.1f});
  EXPECT_EQ(op::raw_values<int8_t>(*op::find_initializer(g, q.input(2))),
            std::vector<int8_t>{-3});

  const auto& conv = node(g, "c");
  EXPECT_EQ(conv.input(0), "c.input_dequant.output0");
  EXPECT_EQ(node(g, "c.input_dequant").input(0), q.output(0));
  // The layer writes the graph output itself again: no AscendDequant left.
  EXPECT_EQ(conv.output(0), "y");
  for (const auto& n : g.node()) EXPECT_NE(n.op_type().rfind("Ascend", 0), 0u) << n.name();
  EXPECT_EQ(op::find_initializer(g, "c.dequant.param"), nullptr);

  const auto& wdq = node(g, "c.weight_dequant");
  EXPECT_EQ(conv.input(1), wdq.output(0));
  EXPECT_EQ(op::int_attribute(wdq, "axis", -1), 0);
  const auto* w = op::find_initializer(g, "w");
  EXPECT_EQ(w->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(op::raw_values<int8_t>(*w), (std::vector<int8_t>{50, -50}));  // 0.5/0.01, -1/0.02
  EXPECT_EQ(op::raw_values<float>(*op::find_initializer(g, wdq.input(1))),
            (std::vector<float>{0.01f, 0.02f}));

  const auto& bdq = node(g, "c.bias_dequant");
  EXPECT_EQ(conv.input(2), bdq.output(0));
  EXPECT_EQ(op::int_attribute(bdq, "axis", -1), 0);
  const std::vector<float> deq = {op::dequant_scale(0.01f, 0.1f), op::dequant_scale(0.02f, 0.1f)};
  EXPECT_EQ(op::raw_values<float>(*op::find_initializer(g, bdq.input(1))), deq);
  const auto* b = op::find_initializer(g, "b");
  EXPECT_EQ(b->data_type(), onnx::TensorProto::INT32);
  int32_t b0 = 0, b1 = 0;
  ASSERT_TRUE(op::quantize_bias(0.25f, deq[0], &b0));
  ASSERT_TRUE(op::quantize_bias(3.0f, deq[1], &b1));
  EXPECT_EQ(op::raw_values<int32_t>(*b), (std::vector<int32_t>{b0, b1}));
  EXPECT_EQ(op::raw_values<int32_t>(*op::find_initializer(g, bdq.input(2))),
            (std::vector<int32_t>{0, 0}));
}

TEST(QdqPass, Int16ActivationsAreRefusedNamingTheLayer) {
  op::LayerQuantParams p = conv_params();
  p.act_bits = 16;
  try {
    qdq_of(conv_model(), {p});
    FAIL() << "INT16 activations accepted";
  } catch (const openamct::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'c' has INT16 activations"), std::string::npos)
        << e.what();
  }
}

TEST(Opset13, SqueezeAxesAndSplitSizesBecomeInputs) {
  onnx::ModelProto m = conv_model();
  onnx::GraphProto* g = m.mutable_graph();
  onnx::NodeProto sq = op::make_node("Squeeze", "sq", {"y"}, {"s"});
  auto* axes = sq.add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(0);
  *g->add_node() = sq;
  onnx::NodeProto split = op::make_node("Split", "sp", {"s"}, {"s0", "s1"});
  auto* sizes = split.add_attribute();
  sizes->set_name("split");
  sizes->set_type(onnx::AttributeProto::INTS);
  sizes->add_ints(1);
  sizes->add_ints(1);
  op::set_int_attribute(&split, "axis", 0);
  *g->add_node() = split;
  op::upgrade_to_opset13(&m);
  const auto& s13 = node(m.graph(), "sq");
  ASSERT_EQ(s13.input_size(), 2);
  EXPECT_EQ(op::find_attribute(s13, "axes"), nullptr);
  EXPECT_EQ(op::raw_values<int64_t>(*op::find_initializer(m.graph(), s13.input(1))),
            std::vector<int64_t>{0});
  const auto& sp13 = node(m.graph(), "sp");
  ASSERT_EQ(sp13.input_size(), 2);
  EXPECT_EQ(op::raw_values<int64_t>(*op::find_initializer(m.graph(), sp13.input(1))),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(m.opset_import(0).version(), 13);
}

TEST(Opset13, SoftmaxOverAnotherThanTheLastAxisIsSpelledOutAsOpset11Computes) {
  onnx::ModelProto m = conv_model();
  onnx::NodeProto sm = op::make_node("Softmax", "sm", {"y"}, {"p"});
  op::set_int_attribute(&sm, "axis", 1);  // rank 4: opset 11 flattens [1] x [2*2*2]
  *m.mutable_graph()->add_node() = sm;
  op::upgrade_to_opset13(&m);
  // Flatten(y, 1) -> Softmax(-1) -> Reshape(Shape(y)) -> p, in an order that runs.
  const onnx::GraphProto& g = m.graph();
  const auto& flat = node(g, "sm/flatten");
  const auto& shape = node(g, "sm/shape");
  const auto& soft = node(g, "sm");
  const auto& back = node(g, "sm/reshape");
  EXPECT_EQ(flat.op_type(), "Flatten");
  EXPECT_EQ(op::int_attribute(flat, "axis", 0), 1);
  EXPECT_EQ(flat.input(0), "y");
  EXPECT_EQ(shape.op_type(), "Shape");
  EXPECT_EQ(shape.input(0), "y");
  EXPECT_EQ(soft.input(0), flat.output(0));
  EXPECT_EQ(op::int_attribute(soft, "axis", 0), -1);
  EXPECT_EQ(back.op_type(), "Reshape");
  EXPECT_EQ(back.input(0), soft.output(0));
  EXPECT_EQ(back.input(1), shape.output(0));
  EXPECT_EQ(back.output(0), "p");
  std::map<std::string, int> position;
  for (int i = 0; i < g.node_size(); ++i) position[g.node(i).name()] = i;
  EXPECT_LT(position["sm/flatten"], position["sm"]);
  EXPECT_LT(position["sm/shape"], position["sm/reshape"]);
  EXPECT_LT(position["sm"], position["sm/reshape"]);
  EXPECT_NO_THROW(onnx::checker::check_model(m));
}

TEST(Opset13, SoftmaxOnTheLastAxisKeepsItsMeaning) {
  onnx::ModelProto m = conv_model();
  onnx::NodeProto sm = op::make_node("Softmax", "sm", {"y"}, {"p"});
  op::set_int_attribute(&sm, "axis", 3);
  *m.mutable_graph()->add_node() = sm;
  op::upgrade_to_opset13(&m);
  EXPECT_EQ(op::int_attribute(node(m.graph(), "sm"), "axis", 0), -1);
}

TEST(Opset13, AnOpOfAnotherDomainIsRefusedByName) {
  onnx::ModelProto m = conv_model();
  onnx::NodeProto n = op::make_node("Custom", "cu", {"y"}, {"z"});
  n.set_domain("com.example");
  *m.mutable_graph()->add_node() = n;
  EXPECT_THROW(op::upgrade_to_opset13(&m), openamct::Error);
}

namespace {

// x -> Q q (scale s, zero point z) -> two DQs -> two Relus; q's output read twice.
onnx::ModelProto shared_quantizer_model() {
  onnx::ModelProto m = op::test::empty_model(13);
  onnx::GraphProto* g = m.mutable_graph();
  float_value(g->add_input(), "x", {1, 2});
  *g->add_node() = op::make_node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
  *g->add_node() = op::make_node("DequantizeLinear", "d1", {"xq", "s", "z"}, {"a"});
  *g->add_node() = op::make_node("DequantizeLinear", "d2", {"xq", "s", "z"}, {"b"});
  *g->add_node() = op::make_node("Relu", "r1", {"a"}, {"y1"});
  *g->add_node() = op::make_node("Relu", "r2", {"b"}, {"y2"});
  *g->add_initializer() = op::float_tensor("s", {}, {0.5f});
  *g->add_initializer() = op::int8_tensor("z", {}, {-3});
  float_value(g->add_output(), "y1", {1, 2});
  float_value(g->add_output(), "y2", {1, 2});
  return m;
}

}  // namespace

TEST(ReaderQuantizers, EachReaderGetsItsOwnQuantizerWithItsOwnInitializers) {
  onnx::ModelProto m = shared_quantizer_model();
  op::give_each_reader_its_quantizer(m.mutable_graph());
  op::order_nodes(m.mutable_graph());
  const onnx::GraphProto& g = m.graph();
  ASSERT_EQ(g.node_size(), 6);
  const auto& q = node(g, "q");
  const auto& copy = node(g, "q/reader1");
  EXPECT_EQ(copy.op_type(), "QuantizeLinear");
  EXPECT_EQ(copy.input(0), "x");
  EXPECT_EQ(node(g, "d1").input(0), q.output(0));   // the first reader keeps q
  EXPECT_EQ(node(g, "d2").input(0), copy.output(0));
  EXPECT_NE(copy.output(0), q.output(0));
  // Own initializers, the same values: a runtime cannot merge the two Qs.
  EXPECT_NE(copy.input(1), "s");
  EXPECT_NE(copy.input(2), "z");
  EXPECT_EQ(op::raw_values<float>(*op::find_initializer(g, copy.input(1))),
            std::vector<float>{0.5f});
  EXPECT_EQ(op::raw_values<int8_t>(*op::find_initializer(g, copy.input(2))),
            std::vector<int8_t>{-3});
  // d2 still reads the original scale and zero point, which q still uses.
  EXPECT_EQ(node(g, "d2").input(1), "s");
  EXPECT_NO_THROW(onnx::checker::check_model(m));
}

TEST(ReaderQuantizers, AQuantizerWithOneReaderIsLeftAlone) {
  onnx::ModelProto m = shared_quantizer_model();
  onnx::GraphProto* g = m.mutable_graph();
  g->mutable_node()->DeleteSubrange(2, 1);  // no d2: r2 reads d1's output, xq one reader
  g->mutable_node(3)->set_input(0, "a");
  const std::string before = m.SerializeAsString();
  op::give_each_reader_its_quantizer(g);
  EXPECT_EQ(m.SerializeAsString(), before);
}
