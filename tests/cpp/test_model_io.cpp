// Writing and reading whole ONNX models (core/onnx/model_io.h): the model is
// serialised straight into its file in blocks, so the file must hold exactly
// the bytes SerializeToString gives, and a write that fails part-way must
// leave no partial file and an existing one unchanged; reading maps the file.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <set>
#include <string>

#include "onnx/model_io.h"
#include "openamct/errors.h"
#include "temp_dir.h"

namespace op = openamct::onnx_passes;
using openamct::TempDir;

namespace {

// A model of about 3.2 MB: several of the writer's 1 MiB blocks, with a
// tensor that straddles block boundaries.
onnx::ModelProto model_of_several_blocks() {
  onnx::ModelProto m;
  m.set_ir_version(6);
  m.add_opset_import()->set_version(11);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("g");
  for (int t = 0; t < 3; ++t) {
    onnx::TensorProto* init = g->add_initializer();
    init->set_name("w" + std::to_string(t));
    init->set_data_type(onnx::TensorProto::FLOAT);
    const int64_t n = 270000 + 12345 * t;
    init->add_dims(n);
    std::string raw(static_cast<size_t>(n) * 4, '\0');
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>((i * 7 + t) & 0xff);
    init->set_raw_data(raw);
  }
  onnx::NodeProto* n = g->add_node();
  n->set_op_type("Identity");
  n->add_input("w0");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.insert(e.path().filename());
  return out;
}

}  // namespace

TEST(ModelIo, TheWrittenFileHoldsExactlyTheSerialisedBytes) {
  TempDir dir;
  onnx::ModelProto m = model_of_several_blocks();
  std::string expected;
  ASSERT_TRUE(m.SerializeToString(&expected));
  ASSERT_GT(expected.size(), 3u << 20);
  op::write_prepared(op::prepare_model(&m, dir / "m.onnx", "test"));
  EXPECT_EQ(openamct::read_file(dir / "m.onnx"), expected);
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"m.onnx"});
}

TEST(ModelIo, AWriteFailingPartWayLeavesTheExistingFileAndNoTemporary) {
  for (std::size_t budget : {std::size_t{0}, std::size_t{100}, std::size_t{(1u << 20) + 7},
                             std::size_t{3u << 20}}) {
    TempDir dir;
    openamct::write_file_atomically(dir / "m.onnx", "old model");
    onnx::ModelProto m = model_of_several_blocks();
    try {
      op::write_prepared(op::prepare_model(&m, dir / "m.onnx", "test"),
                         openamct::disk_full_after(budget));
      ADD_FAILURE() << "no error after " << budget << " bytes";
    } catch (const openamct::Error& e) {
      EXPECT_EQ(e.kind(), openamct::ErrorKind::kOS);
      const std::string m = e.what();
      EXPECT_NE(m.find("No space left on device: '" + (dir / "m.onnx") +
                       "' (the file was not written; an existing file is left unchanged)"),
                std::string::npos)
          << m;
      EXPECT_EQ(m.find("config"), std::string::npos) << m;
    }
    EXPECT_EQ(openamct::read_file(dir / "m.onnx"), "old model") << budget;
    EXPECT_EQ(entries(dir.path()), std::set<std::string>{"m.onnx"}) << budget;
  }
}

TEST(ModelIo, AFileReadsBackAsTheModelThatWasWritten) {
  TempDir dir;
  onnx::ModelProto m = model_of_several_blocks();
  op::write_prepared(op::prepare_model(&m, dir / "m.onnx", "test"));
  const onnx::ModelProto back = op::parse_model_file(dir / "m.onnx", "the test model");
  std::string a, b;
  ASSERT_TRUE(m.SerializeToString(&a));
  ASSERT_TRUE(back.SerializeToString(&b));
  EXPECT_EQ(a, b);
}

TEST(ModelIo, ReadingAMissingOrDamagedFileIsTheReadersError) {
  TempDir dir;
  try {
    op::parse_model_file(dir / "none.onnx", "the test model");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("is not exist"), std::string::npos) << e.what();
  }
  openamct::write_file_atomically(dir / "bad.onnx", std::string("\xff\xff\xff\xff garbage", 12));
  try {
    op::parse_model_file(dir / "bad.onnx", "the test model");
    ADD_FAILURE() << "no error for a damaged file";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("the test model is not a valid ONNX model"),
              std::string::npos)
        << e.what();
  }
}

// A model over the limit (here: a test threshold) is written with side files
// and reads back as the whole model it was.
TEST(ModelIo, AModelWithSideFilesReadsBackWhole) {
  TempDir dir;
  onnx::ModelProto m = model_of_several_blocks();
  std::string whole;
  ASSERT_TRUE(m.SerializeToString(&whole));
  op::testing_hooks::set_external_data_threshold_for_testing(2u << 20);
  try {
    op::write_prepared(op::prepare_model(&m, dir / "m.onnx", "test"));
  } catch (...) {
    op::testing_hooks::set_external_data_threshold_for_testing(-1);
    throw;
  }
  op::testing_hooks::set_external_data_threshold_for_testing(-1);
  EXPECT_EQ(entries(dir.path()).count("w2_test.external"), 1u);
  const onnx::ModelProto back = op::parse_model_file(dir / "m.onnx", "the test model");
  std::string b;
  ASSERT_TRUE(back.SerializeToString(&b));
  EXPECT_EQ(b, whole);
}

TEST(ModelIo, ASideFileOutsideTheFolderOrTooShortIsARuntimeError) {
  for (const std::string& location : {std::string("../w.external"), std::string("/etc/passwd"),
                                      std::string("short.external")}) {
    TempDir dir;
    openamct::write_file_atomically(dir / "short.external", std::string(8, 'x'));
    onnx::ModelProto m = model_of_several_blocks();
    onnx::TensorProto* t = m.mutable_graph()->mutable_initializer(0);
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value(location);
    auto* len = t->add_external_data();
    len->set_key("length");
    len->set_value("64");
    op::write_prepared(op::prepare_model(&m, dir / "m.onnx", "test"));
    try {
      op::parse_model_file(dir / "m.onnx", "the test model");
      ADD_FAILURE() << "no error for " << location;
    } catch (const openamct::Error& err) {
      EXPECT_EQ(err.kind(), openamct::ErrorKind::kRuntime);
      const std::string msg = err.what();
      EXPECT_NE(msg.find("initializer 'w0'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(location == "short.external" ? "needs 64 bytes at offset 0"
                                                       : "must name a file next to the model"),
                std::string::npos)
          << msg;
    }
  }
}
