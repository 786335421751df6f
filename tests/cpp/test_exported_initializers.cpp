// add_exported_initializers (core/onnx/exported_initializers.cpp): the
// exporter's parameters become initializers in graph-input order, whatever
// order they are handed over in, with their dims, type and raw bytes; a
// parameter that names no graph input, a name given twice, or a model that
// already has initializers is a RuntimeError.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "onnx/model_io.h"
#include "openamct/errors.h"

namespace op = openamct::onnx_passes;

namespace {

onnx::ModelProto model_with_inputs(const std::vector<std::string>& names) {
  onnx::ModelProto m;
  m.set_ir_version(6);
  m.add_opset_import()->set_version(11);
  for (const auto& n : names) m.mutable_graph()->add_input()->set_name(n);
  return m;
}

// The kind of error `f` throws (the test fails when it throws none).
template <typename F>
openamct::ErrorKind error_kind(F f, std::string* message = nullptr) {
  try {
    f();
  } catch (const openamct::Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return openamct::ErrorKind::kType;
}

op::ExportedInitializer value(const std::string& name, int32_t type,
                              std::vector<int64_t> dims, const std::string& bytes) {
  op::ExportedInitializer v;
  v.name = name;
  v.data_type = type;
  v.dims = std::move(dims);
  v.data = bytes.data();
  v.bytes = bytes.size();
  return v;
}

}  // namespace

TEST(ExportedInitializers, FollowTheGraphInputsOrder) {
  onnx::ModelProto m = model_with_inputs({"x", "fc.weight", "fc.bias", "onnx::Conv_7"});
  const std::string w(24, '\x01'), b(8, '\x02'), c(4, '\x03');
  op::add_exported_initializers(
      &m, {value("onnx::Conv_7", onnx::TensorProto::INT64, {}, c + c),
           value("fc.bias", onnx::TensorProto::FLOAT, {2}, b),
           value("fc.weight", onnx::TensorProto::FLOAT, {2, 3}, w)});
  const auto& g = m.graph();
  ASSERT_EQ(g.initializer_size(), 3);
  EXPECT_EQ(g.initializer(0).name(), "fc.weight");
  EXPECT_EQ(g.initializer(1).name(), "fc.bias");
  EXPECT_EQ(g.initializer(2).name(), "onnx::Conv_7");
  EXPECT_EQ(g.initializer(0).dims_size(), 2);
  EXPECT_EQ(g.initializer(0).dims(1), 3);
  EXPECT_EQ(g.initializer(0).raw_data(), w);
  EXPECT_EQ(g.initializer(2).data_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(g.initializer(2).dims_size(), 0);
  EXPECT_EQ(g.initializer(2).raw_data(), c + c);
  // The graph inputs stay as they were (keep_initializers_as_inputs).
  EXPECT_EQ(g.input_size(), 4);
}

TEST(ExportedInitializers, AnEmptyTensorStillHasItsRawDataField) {
  onnx::ModelProto m = model_with_inputs({"x", "nothing"});
  op::add_exported_initializers(&m, {value("nothing", onnx::TensorProto::FLOAT, {0}, "")});
  ASSERT_EQ(m.graph().initializer_size(), 1);
  EXPECT_TRUE(m.graph().initializer(0).has_raw_data());
  EXPECT_TRUE(m.graph().initializer(0).raw_data().empty());
}

TEST(ExportedInitializers, AParameterForNoGraphInputIsARuntimeError) {
  onnx::ModelProto m = model_with_inputs({"x", "a"});
  const std::string bytes(4, '\0');
  std::string message;
  EXPECT_EQ(error_kind([&] {
              op::add_exported_initializers(
                  &m, {value("a", onnx::TensorProto::FLOAT, {1}, bytes),
                       value("stray", onnx::TensorProto::FLOAT, {1}, bytes)});
            }, &message),
            openamct::ErrorKind::kRuntime);
  EXPECT_NE(message.find("no graph input named 'stray'"), std::string::npos) << message;
}

TEST(ExportedInitializers, ANameGivenTwiceIsARuntimeError) {
  onnx::ModelProto m = model_with_inputs({"x", "a"});
  const std::string bytes(4, '\0');
  EXPECT_EQ(error_kind([&] {
              op::add_exported_initializers(&m, {value("a", onnx::TensorProto::FLOAT, {1}, bytes),
                                                 value("a", onnx::TensorProto::FLOAT, {1}, bytes)});
            }),
            openamct::ErrorKind::kRuntime);
}

TEST(ExportedInitializers, AModelExportedWithItsParametersIsARuntimeError) {
  onnx::ModelProto m = model_with_inputs({"x", "a"});
  m.mutable_graph()->add_initializer()->set_name("a");
  const std::string bytes(4, '\0');
  EXPECT_EQ(error_kind([&] {
              op::add_exported_initializers(&m, {value("a", onnx::TensorProto::FLOAT, {1}, bytes)});
            }),
            openamct::ErrorKind::kRuntime);
}
