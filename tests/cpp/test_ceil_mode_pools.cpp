// pad_ceil_mode_pools_before_quantizing on hand-built QDQ graphs: which pools
// it rewrites and that it leaves every other one byte for byte. That ONNX
// Runtime then computes the pool as the fake-quant model does is
// tests/python/test_qdq.py (test_ceil_mode_average_pools_run_like_fake_quant).
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <string>

#include "onnx/ceil_mode_pools.h"
#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "onnx_test_layers.h"

namespace op = openamct::onnx_passes;

namespace {

using op::test::float_value;
using op::test::node;

// x[1,1,5,5] -> Q q -> DQ d -> Pad p (pads 1) -> AveragePool a (k3 s2 ceil) -> y[1,1,3,3]:
// on the padded 7, windows start at 0, 2 and 4, the last before the end padding.
onnx::ModelProto pool_model(int64_t ceil_mode = 1, int64_t kernel = 3) {
  onnx::ModelProto m = op::test::empty_model(13);
  onnx::GraphProto* g = m.mutable_graph();
  float_value(g->add_input(), "x", {1, 1, 5, 5});
  *g->add_initializer() = op::float_tensor("s", {}, {0.5f});
  *g->add_initializer() = op::int8_tensor("z", {}, {-3});
  *g->add_initializer() = op::int64_tensor("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  *g->add_node() = op::make_node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
  *g->add_node() = op::make_node("DequantizeLinear", "d", {"xq", "s", "z"}, {"xd"});
  onnx::NodeProto pad = op::make_node("Pad", "p", {"xd", "pads"}, {"xp"});
  op::set_string_attribute(&pad, "mode", "constant");
  *g->add_node() = pad;
  onnx::NodeProto pool = op::make_node("AveragePool", "a", {"xp"}, {"y"});
  op::set_int_attribute(&pool, "ceil_mode", ceil_mode);
  auto* k = pool.add_attribute();
  k->set_name("kernel_shape");
  k->set_type(onnx::AttributeProto::INTS);
  k->add_ints(kernel);
  k->add_ints(kernel);
  auto* st = pool.add_attribute();
  st->set_name("strides");
  st->set_type(onnx::AttributeProto::INTS);
  st->add_ints(2);
  st->add_ints(2);
  *g->add_node() = pool;
  const int64_t out = kernel == 3 ? 3 : 4;  // ceil((7 - k) / 2) + 1
  float_value(g->add_output(), "y", {1, 1, out, out});
  return m;
}

void expect_unchanged(onnx::ModelProto m) {
  const std::string before = m.SerializeAsString();
  op::pad_ceil_mode_pools_before_quantizing(&m);
  EXPECT_EQ(m.SerializeAsString(), before);
}

}  // namespace

TEST(CeilModePools, ThePadMovesInFrontOfTheQuantizer) {
  onnx::ModelProto m = pool_model();
  op::pad_ceil_mode_pools_before_quantizing(&m);
  op::order_nodes(m.mutable_graph());
  const onnx::GraphProto& g = m.graph();
  ASSERT_EQ(g.node_size(), 4);
  EXPECT_EQ(node(g, "p").input(0), "x");
  EXPECT_EQ(node(g, "p").input(1), "pads");
  EXPECT_EQ(node(g, "q").input(0), node(g, "p").output(0));
  EXPECT_EQ(node(g, "d").input(0), node(g, "q").output(0));
  EXPECT_EQ(node(g, "a").input(0), node(g, "d").output(0));
  EXPECT_EQ(node(g, "a").output(0), "y");
  // In order, and valid: Pad, Q, DQ, pool.
  EXPECT_EQ(g.node(0).name(), "p");
  EXPECT_EQ(g.node(3).name(), "a");
  EXPECT_NO_THROW(onnx::checker::check_model(m));
}

TEST(CeilModePools, APoolWithoutCeilModeStaysAsItIs) { expect_unchanged(pool_model(0)); }

TEST(CeilModePools, APoolWithAWindowStartingInTheEndPaddingStaysAsItIs) {
  // k2 s2 on the padded 7: windows at 0, 2, 4 and 6, the last inside the end padding,
  // which torch drops and a pool on the padded tensor keeps.
  expect_unchanged(pool_model(1, 2));
}

TEST(CeilModePools, APoolOfUnknownSpatialSizeStaysAsItIs) {
  onnx::ModelProto m = pool_model();
  auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
                   ->mutable_shape();
  dims->mutable_dim(2)->set_dim_param("h");
  expect_unchanged(m);
  dims->mutable_dim(2)->set_dim_value(5);  // a dynamic batch alone does not matter
  dims->mutable_dim(0)->set_dim_param("batch");
  op::pad_ceil_mode_pools_before_quantizing(&m);
  EXPECT_EQ(node(m.graph(), "p").input(0), "x");
}

TEST(CeilModePools, APadOfAnotherValueOrModeStaysAsItIs) {
  onnx::ModelProto valued = pool_model();
  *valued.mutable_graph()->add_initializer() = op::float_tensor("one", {}, {1.0f});
  valued.mutable_graph()->mutable_node(2)->add_input("one");
  expect_unchanged(valued);

  onnx::ModelProto reflect = pool_model();
  op::set_string_attribute(reflect.mutable_graph()->mutable_node(2), "mode", "reflect");
  expect_unchanged(reflect);

  onnx::ModelProto zero = pool_model();  // an explicit 0 is the default: moved
  *zero.mutable_graph()->add_initializer() = op::float_tensor("zero", {}, {0.0f});
  zero.mutable_graph()->mutable_node(2)->add_input("zero");
  op::pad_ceil_mode_pools_before_quantizing(&zero);
  EXPECT_EQ(node(zero.graph(), "p").input(0), "x");
}

TEST(CeilModePools, ATensorWithAnotherReaderStaysAsItIs) {
  // Another reader of the dequantized, padded or quantized tensor would see the change.
  for (const char* tensor : {"xd", "xp", "xq"}) {
    onnx::ModelProto m = pool_model();
    *m.mutable_graph()->add_node() = op::make_node("Relu", "other", {tensor}, {"o"});
    expect_unchanged(m);
  }
  onnx::ModelProto out = pool_model();  // a graph output is a reader too
  float_value(out.mutable_graph()->add_output(), "xp", {1, 1, 7, 7});
  expect_unchanged(out);
}

TEST(CeilModePools, APadOfAFloatTensorStaysAsItIs) {
  onnx::ModelProto m = pool_model();
  onnx::GraphProto* g = m.mutable_graph();
  g->mutable_node(2)->set_input(0, "x");  // Pad reads the graph input: no Q/DQ before it
  g->mutable_node()->DeleteSubrange(0, 2);
  expect_unchanged(m);
}
