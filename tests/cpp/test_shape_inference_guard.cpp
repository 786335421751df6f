// A damaged modified ONNX must not reach libonnx's shape inference with
// values that crash it (a stride of 0 divides by zero there).
#include <gtest/gtest.h>

#include <string>

#include "onnx/shape_inference_guard.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

onnx::NodeProto conv(const std::string& name, const std::string& attr, std::vector<int64_t> v) {
  onnx::NodeProto n;
  n.set_name(name);
  n.set_op_type("Conv");
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
  return n;
}

std::string error_of(const onnx::GraphProto& g) {
  try {
    check_shape_inference_inputs(g);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
    return e.what();
  }
  return "";
}

TEST(ShapeInferenceGuard, NonPositiveStridesDilationsKernelsAndGroupsAreRefused) {
  onnx::GraphProto g;
  *g.add_node() = conv("ok", "strides", {1, 2});
  EXPECT_EQ(error_of(g), "");
  for (const char* attr : {"strides", "dilations", "kernel_shape"}) {
    onnx::GraphProto bad = g;
    *bad.add_node() = conv("conv1", attr, {0, 1});
    EXPECT_EQ(error_of(bad), "node 'conv1' (Conv) has a non-positive " + std::string(attr) +
                                 "; the ONNX file is damaged, export it again");
  }
  onnx::GraphProto grouped = g;
  onnx::AttributeProto* group = grouped.mutable_node(0)->add_attribute();
  group->set_name("group");
  group->set_type(onnx::AttributeProto::INT);
  group->set_i(0);
  EXPECT_NE(error_of(grouped).find("non-positive group"), std::string::npos);
}

TEST(ShapeInferenceGuard, SubgraphsAreChecked) {
  onnx::GraphProto body;
  *body.add_node() = conv("inner", "strides", {-1});
  onnx::GraphProto g;
  onnx::NodeProto* branch = g.add_node();
  branch->set_name("if");
  branch->set_op_type("If");
  onnx::AttributeProto* a = branch->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = body;
  EXPECT_NE(error_of(g).find("node 'inner'"), std::string::npos);
}

}  // namespace
}  // namespace onnx_passes
}  // namespace openamct
