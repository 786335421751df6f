// The record file: Python protobuf's text byte for byte (every record of the
// calibration kit re-written identically), float32 formatting at its edges,
// string escapes, parse errors, and the atomic write (D11). Expected texts
// come from python3-protobuf 4.21 text_format.MessageToString(as_utf8=True).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>

#include "text/atomic_file.h"
#include "text/float_repr.h"
#include "openamct/errors.h"
#include "record/python_text_printer.h"
#include "record/record_file.h"
#include "temp_dir.h"

namespace openamct {
namespace {

namespace fs = std::filesystem;

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// ---- float32 as text_format prints it ---------------------------------------------

TEST(ProtobufFloatRepr, IntegralValuesKeepPointZero) {
  EXPECT_EQ(protobuf_float_repr(1.0f), "1.0");
  EXPECT_EQ(protobuf_float_repr(100.0f), "100.0");
  EXPECT_EQ(protobuf_float_repr(16777216.0f), "16777216.0");
}

TEST(ProtobufFloatRepr, KitScalesPrintAsTheReferenceWrites) {
  EXPECT_EQ(protobuf_float_repr(0.5f), "0.5");
  EXPECT_EQ(protobuf_float_repr(0.01305298f), "0.01305298");
  EXPECT_EQ(protobuf_float_repr(0.0040458245f), "0.0040458245");
  EXPECT_EQ(protobuf_float_repr(9.403035e-06f), "9.403035e-06");
}

TEST(ProtobufFloatRepr, TenToTheMinusFourIsPositionalAndBelowIsExponent) {
  EXPECT_EQ(protobuf_float_repr(1e-4f), "0.0001");
  EXPECT_EQ(protobuf_float_repr(9.99999e-5f), "9.99999e-05");
  EXPECT_EQ(protobuf_float_repr(1e-5f), "1e-05");
  EXPECT_EQ(protobuf_float_repr(7e-05f), "7e-05");
}

TEST(ProtobufFloatRepr, TenToTheSixteenIsExponentAndBelowIsPositional) {
  EXPECT_EQ(protobuf_float_repr(1e15f), "1000000000000000.0");
  EXPECT_EQ(protobuf_float_repr(from_bits(0x5a0e1bc9)), "9999999000000000.0");
  EXPECT_EQ(protobuf_float_repr(1e16f), "1e+16");
  EXPECT_EQ(protobuf_float_repr(from_bits(0x5a0e1bcb)), "1.0000001e+16");
  EXPECT_EQ(protobuf_float_repr(1e20f), "1e+20");
}

TEST(ProtobufFloatRepr, SignedZeros) {
  EXPECT_EQ(protobuf_float_repr(0.0f), "0.0");
  EXPECT_EQ(protobuf_float_repr(-0.0f), "-0.0");
}

TEST(ProtobufFloatRepr, DenormalsStartAtSixDigitsNotAtTheShortest) {
  // The shortest round-trip text of the smallest denormal is "1e-45";
  // Python's ToShortestFloat starts at six digits.
  EXPECT_EQ(protobuf_float_repr(from_bits(0x00000001)), "1.4013e-45");
  EXPECT_EQ(protobuf_float_repr(from_bits(0x00000003)), "4.2039e-45");
  EXPECT_EQ(protobuf_float_repr(from_bits(0x007fffff)), "1.1754942e-38");
  EXPECT_EQ(protobuf_float_repr(std::numeric_limits<float>::min()), "1.1754944e-38");
}

TEST(ProtobufFloatRepr, SixToNineSignificantDigits) {
  EXPECT_EQ(protobuf_float_repr(0.1f), "0.1");                // 6 digits suffice
  EXPECT_EQ(protobuf_float_repr(1234567.0f), "1234567.0");    // 7
  EXPECT_EQ(protobuf_float_repr(123456789.0f), "123456790.0");  // 8, not the exact 123456792
  EXPECT_EQ(protobuf_float_repr(0.1234567891f), "0.12345679");  // 8
  EXPECT_EQ(protobuf_float_repr(16777218.0f), "16777218.0");  // 8
  EXPECT_EQ(protobuf_float_repr(std::numeric_limits<float>::max()), "3.4028235e+38");
}

TEST(ProtobufFloatRepr, NonFiniteValuesAsPythonStr) {
  EXPECT_EQ(protobuf_float_repr(std::numeric_limits<float>::infinity()), "inf");
  EXPECT_EQ(protobuf_float_repr(-std::numeric_limits<float>::infinity()), "-inf");
  EXPECT_EQ(protobuf_float_repr(std::numeric_limits<float>::quiet_NaN()), "nan");
}

// ---- the text -----------------------------------------------------------------

LayerRecord conv_entry() {
  LayerRecord l;
  l.key = "conv1";
  l.scale_d = 0.0124199f;
  l.offset_d = -8;
  l.scale_w = {0.0040458245f, 0.005165194f};
  l.offset_w = {0, 0};
  l.act_type = "INT8";
  l.wts_type = "INT8";
  return l;
}

TEST(RecordText, EmptyRecordIsAnEmptyFile) {
  EXPECT_EQ(to_record_text(RecordContent{}), "");
}

TEST(RecordText, FieldsInFieldNumberOrderIndentedTwoAndFour) {
  RecordContent content;
  LayerRecord l = conv_entry();
  l.tensor_balance_factor = {1.5f};  // field 6: between offset_w and act_type
  content.layers.push_back(l);
  EXPECT_EQ(to_record_text(content),
            "record {\n"
            "  key: \"conv1\"\n"
            "  value {\n"
            "    scale_d: 0.0124199\n"
            "    offset_d: -8\n"
            "    scale_w: 0.0040458245\n"
            "    scale_w: 0.005165194\n"
            "    offset_w: 0\n"
            "    offset_w: 0\n"
            "    tensor_balance_factor: 1.5\n"
            "    act_type: \"INT8\"\n"
            "    wts_type: \"INT8\"\n"
            "  }\n"
            "}\n");
}

TEST(RecordText, EntryWithoutFieldsKeepsAnEmptyValue) {
  RecordContent content;
  content.find_or_append("fc");
  EXPECT_EQ(to_record_text(content), "record {\n  key: \"fc\"\n  value {\n  }\n}\n");
}

TEST(RecordText, KeysEscapedAsPythonWithUtf8Output) {
  RecordContent content;
  content.find_or_append("a\"b\\c\nd\te\rf'g\x01h\xc3\xa9\xe4\xb8\xad");
  const std::string text = to_record_text(content);
  EXPECT_EQ(text.substr(0, text.find("\n  value")),
            "record {\n  key: \"a\\\"b\\\\c\\nd\\te\\rf\\'g\x01h\xc3\xa9\xe4\xb8\xad\"");
  EXPECT_EQ(parse_record_text(text, "r.txt"), content);
}

TEST(RecordText, BytesThatAreNotUtf8BecomeOctalEscapesAndReadBack) {
  RecordContent content;
  content.find_or_append(std::string("x\xff", 2));
  const std::string text = to_record_text(content);
  EXPECT_NE(text.find("key: \"x\\377\""), std::string::npos) << text;
  EXPECT_EQ(parse_record_text(text, "r.txt"), content);
}

TEST(RecordText, NulInAKeyIsEscapedSoThatItReadsBack) {
  // Python writes NUL raw; libprotobuf's tokenizer would stop there.
  RecordContent content;
  content.find_or_append(std::string("a\0b", 3));
  const std::string text = to_record_text(content);
  EXPECT_NE(text.find("key: \"a\\000b\""), std::string::npos) << text;
  EXPECT_EQ(parse_record_text(text, "r.txt"), content);
}

TEST(RecordText, FindOrAppendKeepsFileOrder) {
  RecordContent content;
  content.find_or_append("b").scale_w = {1.0f};
  content.find_or_append("a");
  content.find_or_append("b").offset_w = {0};
  ASSERT_EQ(content.layers.size(), 2u);
  EXPECT_EQ(content.layers[0].key, "b");
  EXPECT_EQ(content.layers[0].offset_w, std::vector<int32_t>{0});
  EXPECT_EQ(content.find("zz"), nullptr);
}

// ---- every record of the calibration kit ---------------------------------------------

std::vector<std::string> kit_record_files() {
  std::vector<std::string> out;
  const fs::path e2e = fs::path(OPENAMCT_SOURCE_DIR) / ".." / "shared" / "calibration" / "e2e";
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(e2e, ec))
    for (const char* name : {"record.txt", "record_after_preprocess.txt"})
      if (fs::exists(dir.path() / name)) out.push_back((dir.path() / name).string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(KitRecords, EveryRecordParsesAndIsRewrittenByteForByte) {
  const std::vector<std::string> files = kit_record_files();
  if (files.empty()) GTEST_SKIP() << "the calibration kit is not next to the source tree";
  EXPECT_GE(files.size(), 20u);  // 17 cases, 4 of them DMQ
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    const std::string bytes = read_file(path);
    const RecordContent content = read_record_file(path);
    EXPECT_FALSE(content.layers.empty());
    EXPECT_EQ(to_record_text(content), bytes);

    AMCTPytorchProto::ScaleOffsetRecord proto;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(bytes, &proto));
    EXPECT_EQ(python_text_format(proto), bytes);
  }
}

// ---- reading errors ----------------------------------------------------------------

TEST(RecordRead, TextThatIsNotARecordIsTheReferencesRuntimeError) {
  try {
    parse_record_text("record {\n  key: \"a\"\n  nonsense: 1\n}\n", "/w/r.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("the record_file{/w/r.txt} cannot be parsered, please ensure it matches "
                      "with scale_offset_record.proto!",
                      0),
              0u)
        << m;
    EXPECT_NE(m.find("line 3"), std::string::npos) << m;
  }
}

TEST(RecordRead, MissingFileIsFileNotFoundError) {
  try {
    read_record_file("/nonexistent-openamct-dir/record.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFileNotFound);
    EXPECT_EQ(std::string(e.what()).rfind(
                  "[Errno 2] No such file or directory: '/nonexistent-openamct-dir/record.txt'", 0),
              0u)
        << e.what();
  }
}

// ---- writing (D11) -------------------------------------------------------------------

class RecordWrite : public ::testing::Test {
 protected:
  TempDir tmp_{"record"};
  std::string dir_ = tmp_.path();
};

TEST_F(RecordWrite, WritesMode0640AndReadsBackTheSameContent) {
  RecordContent content;
  content.layers.push_back(conv_entry());
  const std::string path = dir_ + "/sub/record.txt";
  const mode_t old_umask = ::umask(022);
  write_record_file(path, content);
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(read_record_file(path), content);
  EXPECT_EQ(read_file(path), to_record_text(content));
}

TEST_F(RecordWrite, AFailedWriteLeavesTheOldFileAndNoTemporaryFile) {
  const std::string path = dir_ + "/record.txt";
  RecordContent old_content;
  old_content.layers.push_back(conv_entry());
  write_record_file(path, old_content);
  const std::string before = read_file(path);

  RecordContent new_content = old_content;
  new_content.layers[0].scale_d = 2.0f;
  try {
    write_record_file(path, new_content, false, disk_full_after(10));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOS);
    const std::string m = e.what();
    EXPECT_NE(m.find("(the file was not written; an existing file is left unchanged)"),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find("config"), std::string::npos) << m;
  }
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(RecordWrite, APathWithConfigInItsNameIsQuotedUnchanged) {
  const std::string folder = dir_ + "/config file";
  fs::create_directory(folder);
  try {
    RecordContent content;
    content.layers.push_back(conv_entry());
    write_record_file(folder + "/r.txt", content, false, disk_full_after(0));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/config file/r.txt'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace openamct
