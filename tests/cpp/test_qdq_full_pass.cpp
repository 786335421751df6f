// The qdq_full pass on a tiny hand-built residual graph: which layers get an
// output quantizer, how the Add reads its inputs, and the refusal when the
// output scales lack a layer. ONNX Runtime's fusion of the result is
// tests/python/test_qdq_full.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "onnx/deploy_pass.h"
#include "onnx_test_layers.h"
#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "onnx/opset13.h"
#include "onnx/qdq_full_pass.h"
#include "onnx/qdq_pass.h"
#include "openamct/errors.h"

namespace op = openamct::onnx_passes;

namespace {

using op::test::float_value;
using op::test::node;

// x[1,2,2,2] -> Conv c -> Add a (+ x) -> Relu r -> Conv d -> y, plus an Add of
// a constant (bias-like) after d; opset 11.
onnx::ModelProto residual_model() {
  onnx::ModelProto m = op::test::empty_model(11);
  onnx::GraphProto* g = m.mutable_graph();
  float_value(g->add_input(), "x", {1, 2, 2, 2});
  *g->add_node() = op::make_node("Conv", "c", {"x", "wc"}, {"c_out"});
  *g->add_node() = op::make_node("Add", "a", {"c_out", "x"}, {"a_out"});
  *g->add_node() = op::make_node("Relu", "r", {"a_out"}, {"r_out"});
  *g->add_node() = op::make_node("Conv", "d", {"r_out", "wd"}, {"d_out"});
  *g->add_node() = op::make_node("Add", "k", {"d_out", "kb"}, {"y"});
  *g->add_initializer() = op::float_tensor("wc", {2, 2, 1, 1}, {0.5f, -1.0f, 0.25f, 1.0f});
  *g->add_initializer() = op::float_tensor("wd", {2, 2, 1, 1}, {1.0f, 0.5f, -0.5f, 2.0f});
  *g->add_initializer() = op::float_tensor("kb", {1, 2, 1, 1}, {1.0f, 2.0f});
  float_value(g->add_output(), "y", {1, 2, 2, 2});
  return m;
}

const std::vector<op::LayerQuantParams> kLayers = {op::test::conv_params(),
                                                     op::test::layer_params("d", 0.2f, -128)};

onnx::ModelProto qdq_full_of(const std::vector<op::OutputQuantParams>& outputs) {
  onnx::ModelProto m = residual_model();
  op::upgrade_to_opset13(&m);
  op::make_deploy_graph(m.mutable_graph(), kLayers);
  op::order_nodes(m.mutable_graph());
  op::make_qdq_graph(m.mutable_graph(), kLayers);
  op::make_qdq_full_graph(m.mutable_graph(), {"c", "d"}, outputs);
  op::strip_op_data_type(m.mutable_graph());
  op::order_nodes(m.mutable_graph());
  return m;
}

}  // namespace

TEST(QdqFullPass, OnlyLayersThatFeedAnAddOfTwoActivationsNeedAnOutputScale) {
  const onnx::ModelProto m = residual_model();
  EXPECT_EQ(op::residual_output_layers(m.graph(), {"c", "d"}), std::vector<std::string>{"c"});
  EXPECT_TRUE(op::is_residual_add(m.graph(), node(m.graph(), "a")));
  EXPECT_FALSE(op::is_residual_add(m.graph(), node(m.graph(), "k")));  // + initializer
}

TEST(QdqFullPass, TheAddReadsTheOutputQuantizerAndTheNextLayersQuantizer) {
  const onnx::ModelProto m = qdq_full_of({{"c", 0.05f, -2}});
  const onnx::GraphProto& g = m.graph();
  EXPECT_NO_THROW(op::check_qdq_model(m));

  const auto& q = node(g, "c.output_quant");
  EXPECT_EQ(q.op_type(), "QuantizeLinear");
  EXPECT_EQ(q.input(0), node(g, "c").output(0));
  EXPECT_EQ(op::raw_values<float>(*op::find_initializer(g, q.input(1))),
            std::vector<float>{0.05f});
  EXPECT_EQ(op::raw_values<int8_t>(*op::find_initializer(g, q.input(2))),
            std::vector<int8_t>{-2});

  const auto& add = node(g, "a");
  EXPECT_EQ(add.input(0), "a.input0_dequant.output0");
  EXPECT_EQ(add.input(1), "a.input1_dequant.output0");
  const auto& dq0 = node(g, "a.input0_dequant");
  EXPECT_EQ(dq0.op_type(), "DequantizeLinear");
  EXPECT_EQ(dq0.input(0), q.output(0));
  EXPECT_EQ(dq0.input(1), q.input(1));
  // x is quantized already (c's input): the Add dequantizes that quantizer.
  const auto& dq1 = node(g, "a.input1_dequant");
  EXPECT_EQ(dq1.input(0), node(g, "c.quant").output(0));
  EXPECT_EQ(dq1.input(1), node(g, "c.quant").input(1));
  // The Relu's output keeps d's quantizer as its only reader; c's output only its own.
  EXPECT_EQ(op::find_consumers(g, "r_out").size(), 1u);
  EXPECT_EQ(op::find_consumers(g, node(g, "c").output(0)).size(), 1u);
  // The Add of a constant is left alone.
  EXPECT_EQ(node(g, "k").input(1), "kb");
}

TEST(QdqFullPass, OutputScalesWithoutANeededLayerAreRefusedNamingIt) {
  try {
    qdq_full_of({{"d", 0.05f, -2}});
    FAIL() << "expected a RuntimeError";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("layer 'c' feeds a residual Add"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("qdq_full=True"), std::string::npos) << e.what();
  }
}

TEST(QdqFullPass, AnOffsetOutsideInt8IsRefused) {
  EXPECT_THROW(qdq_full_of({{"c", 0.05f, 200}}), openamct::Error);
}
