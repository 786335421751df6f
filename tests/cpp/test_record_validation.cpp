// The checks a record must pass before save_model uses it (spec §11.4): one
// named test per rule, over a record and a plain list of graph layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "openamct/errors.h"
#include "openamct/log.h"
#include "record/record_file.h"
#include "record/record_validation.h"

namespace openamct {
namespace {

std::vector<RecordGraphLayer> graph() {
  return {{"conv1", true, false, 3}, {"pool", true, true, -1}, {"relu", false, false, -1},
          {"fc", true, false, 96}, {"rnn", true, false, 8, true}};
}

// An LSTM entry as quantize_model writes it (H = 1: four gate rows).
LayerRecord complete_rnn() {
  LayerRecord r;
  r.key = "rnn";
  r.scale_d = 0.02f;
  r.offset_d = 3;
  r.scale_w = {0.01f, 0.02f, 0.03f, 0.04f};
  r.offset_w = {0, 0, 0, 0};
  r.act_type = "INT8";
  r.wts_type = "INT8";
  r.scale_h = 0.008f;
  r.offset_h = -1;
  r.scale_r = {0.05f, 0.06f, 0.07f, 0.08f};
  r.offset_r = {0, 0, 0, 0};
  return r;
}

LayerRecord complete(const std::string& key) {
  LayerRecord r;
  r.key = key;
  r.scale_d = 0.0124199f;
  r.offset_d = -8;
  r.scale_w = {0.004f, 0.005f};
  r.offset_w = {0, 0};
  r.act_type = "INT8";
  r.wts_type = "INT8";
  return r;
}

std::pair<ErrorKind, std::string> error_of(const LayerRecord& r) {
  RecordContent content;
  content.layers.push_back(r);
  try {
    check_record(content, graph(), "/w/m.onnx", "/w/r.txt");
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  ADD_FAILURE() << "no error for " << r.key;
  return {ErrorKind::kValue, ""};
}

class RecordCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_sink([this](LogLevel level, const std::string& m) {
      if (level == LogLevel::kWarning) warnings.push_back(m);
    });
  }
  void TearDown() override { set_log_sink(nullptr); }
  std::vector<std::string> warnings;
};

TEST_F(RecordCheck, CompleteEntriesPassWithTheirBitWidths) {
  RecordContent content;
  content.layers.push_back(complete("conv1"));
  LayerRecord pool = complete("pool");
  pool.scale_w = {1.0f};
  pool.offset_w = {0};
  pool.wts_type.reset();  // AvgPool2d has no wts_type: no warning
  pool.act_type = "INT16";
  pool.offset_d = 300;
  content.layers.push_back(pool);
  const auto checked = check_record(content, graph(), "m.onnx", "r.txt");
  ASSERT_EQ(checked.size(), 2u);
  EXPECT_TRUE(checked[0].has_quant_params);
  EXPECT_EQ(checked[1].act_bits, 16);
  EXPECT_EQ(checked[1].wts_bits, 8);
  EXPECT_TRUE(warnings.empty());
}

TEST_F(RecordCheck, KeyThatIsNotInTheGraph) {
  EXPECT_EQ(error_of(complete("conv9")),
            std::make_pair(ErrorKind::kRuntime,
                           std::string("find conv9 failure in /w/m.onnx. Please match /w/m.onnx "
                                       "and /w/r.txt.")));
}

TEST_F(RecordCheck, NodeThatCannotBeQuantized) {
  EXPECT_EQ(error_of(complete("relu")),
            std::make_pair(ErrorKind::kRuntime, std::string("layer relu cannot be quantized ")));
}

TEST_F(RecordCheck, EntryWithOnlyBalanceFactorsHasNoQuantParams) {
  LayerRecord r;
  r.key = "conv1";
  r.tensor_balance_factor = {1.5f, 1.4f, 1.3f};
  RecordContent content;
  content.layers.push_back(r);
  EXPECT_FALSE(check_record(content, graph(), "m", "r")[0].has_quant_params);
}

TEST_F(RecordCheck, MissingActivationFactorsAfterTooFewBatches) {
  LayerRecord r = complete("conv1");
  r.scale_d.reset();
  r.offset_d.reset();
  EXPECT_EQ(error_of(r).second,
            "cannot find scale_d of layer conv1 in record_file, please check data calibration "
            "process!");
}

TEST_F(RecordCheck, MissingWeightFactors) {
  LayerRecord r = complete("conv1");
  r.scale_w.clear();
  EXPECT_EQ(error_of(r).second, "cannot find scale_w of layer conv1 in record_file");
}

TEST_F(RecordCheck, ShiftBitIsRejected) {
  LayerRecord r = complete("conv1");
  r.shift_bit = {3};
  EXPECT_EQ(error_of(r).second,
            "shift_bit is not support, please delete shift_bit of layer conv1 in record_file");
}

TEST_F(RecordCheck, UnknownTypesAndMissingActTypeWarns) {
  LayerRecord r = complete("conv1");
  r.act_type = "INT9";
  EXPECT_EQ(error_of(r).first, ErrorKind::kRuntime);
  EXPECT_EQ(error_of(r).second.rfind("Do not support act_type INT9 in record file", 0), 0u);
  r = complete("conv1");
  r.wts_type = "INT16";
  EXPECT_EQ(error_of(r).second.rfind("Do not support wts_type INT16 in record file", 0), 0u);
  r = complete("conv1");
  r.act_type.reset();
  RecordContent content;
  content.layers.push_back(r);
  EXPECT_EQ(check_record(content, graph(), "m", "r")[0].act_bits, 8);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("act_type of layer conv1"), std::string::npos) << warnings[0];
}

TEST_F(RecordCheck, OffsetRanges) {
  LayerRecord r = complete("conv1");
  r.offset_d = 128;
  EXPECT_EQ(error_of(r), std::make_pair(ErrorKind::kValue,
                                        std::string("offset_d's value should be in [-128, 127] "
                                                    "in layer conv1.")));
  r = complete("conv1");
  r.act_type = "INT16";
  r.offset_d = -32769;
  EXPECT_EQ(error_of(r).second, "offset_d's value should be in [-32768, 32767] in layer conv1.");
  r = complete("conv1");
  r.offset_w = {0, 1};
  EXPECT_EQ(error_of(r).second, "offset_w's value should be 0 in layer conv1.");
}

TEST_F(RecordCheck, ScalesMustBePositiveAndFinite) {
  LayerRecord r = complete("conv1");
  r.scale_d = std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_of(r), std::make_pair(ErrorKind::kValue,
                                        std::string("scale_d's value shoule be in positivate "
                                                    "range of float32 in layer conv1.")));
  r = complete("conv1");
  r.scale_w = {0.004f, -0.0f};
  EXPECT_EQ(error_of(r).second,
            "scale_w's value shoule be in positivate range of float32 in layer conv1");
}

TEST_F(RecordCheck, RnnEntriesNeedTheirHiddenAndRecurrentFactors) {
  RecordContent ok;
  ok.layers.push_back(complete_rnn());
  EXPECT_EQ(check_record(ok, graph(), "/w/m.onnx", "/w/r.txt").size(), 1u);
  LayerRecord r = complete_rnn();
  r.scale_h.reset();
  EXPECT_EQ(error_of(r), std::make_pair(ErrorKind::kRuntime,
                                        std::string("cannot find scale_h of layer rnn in "
                                                    "record_file, please check data calibration "
                                                    "process!")));
  r = complete_rnn();
  r.scale_r.clear();
  EXPECT_EQ(error_of(r), std::make_pair(ErrorKind::kRuntime,
                                        std::string("cannot find scale_r of layer rnn in "
                                                    "record_file")));
  r = complete_rnn();
  r.offset_h = 128;
  EXPECT_EQ(error_of(r).second, "offset_h's value should be in [-128, 127] in layer rnn.");
  r = complete_rnn();
  r.offset_r = {0, 0, 1, 0};
  EXPECT_EQ(error_of(r).second, "offset_r's value should be 0 in layer rnn.");
  r = complete_rnn();
  r.scale_h = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(error_of(r).second,
            "scale_h's value shoule be in positivate range of float32 in layer rnn.");
  r = complete_rnn();
  r.scale_r = {0.05f, 0.0f, 0.07f, 0.08f};
  EXPECT_EQ(error_of(r).second,
            "scale_r's value shoule be in positivate range of float32 in layer rnn");
  // The balance factors of an RNN follow W's input axis.
  r = complete_rnn();
  r.tensor_balance_factor = {1.0f, 1.0f};
  EXPECT_EQ(error_of(r).first, ErrorKind::kValue);
  // A non-RNN layer does not need them.
  RecordContent conv;
  conv.layers.push_back(complete("conv1"));
  EXPECT_NO_THROW(check_record(conv, graph(), "/w/m.onnx", "/w/r.txt"));
}

TEST_F(RecordCheck, BalanceFactorLengthAndRange) {
  LayerRecord r = complete("conv1");
  r.tensor_balance_factor = {1.0f, 1.0f};
  EXPECT_EQ(error_of(r), std::make_pair(ErrorKind::kValue,
                                        std::string("tensor_balance_factor's length: 2 should be "
                                                    "equal tothe channel length of inputs of "
                                                    "layer conv1: 3.Cannot support to quantize "
                                                    "conv1")));
  r.tensor_balance_factor = {1.0f, 1e-8f, 1.0f};
  EXPECT_EQ(error_of(r).second,
            "tensor_balance_factor's value shoule be in range[FLT_EPSILON, 1/FLT_EPSILON] of "
            "float32 in layer conv1");
  r = complete("pool");
  r.tensor_balance_factor = {1.0f};
  EXPECT_EQ(error_of(r).first, ErrorKind::kRuntime);
  EXPECT_EQ(error_of(r).second.rfind("tensor_balance_factor is not support", 0), 0u);
}

// ---- every record of the kit against its modified ONNX graph --------------------------

// The graph's layers as the ONNX passes will list them, from the kit's
// summary of modified.onnx: quantisable ops and their input channels.
std::vector<RecordGraphLayer> graph_from_summary(const std::string& path) {
  std::ifstream in(path);
  const nlohmann::json summary = nlohmann::json::parse(in);
  std::map<std::string, std::vector<int64_t>> dims;
  for (const auto& init : summary["initializers"])
    dims[init["name"].get<std::string>()] = init["dims"].get<std::vector<int64_t>>();
  std::vector<RecordGraphLayer> out;
  for (const auto& node : summary["nodes"]) {
    RecordGraphLayer l;
    l.name = node["name"].get<std::string>();
    const std::string op = node["op"].get<std::string>();
    const nlohmann::json attrs = node.value("attrs", nlohmann::json::object());
    const auto& inputs = node["inputs"];
    const std::vector<int64_t> w =
        inputs.size() > 1 && dims.count(inputs[1].get<std::string>())
            ? dims[inputs[1].get<std::string>()]
            : std::vector<int64_t>{};
    l.quantizable = op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul" ||
                    op == "AveragePool";
    l.is_avg_pool = op == "AveragePool";
    if (op == "Conv" && w.size() > 1) l.input_channels = w[1] * attrs.value("group", 1);
    if ((op == "ConvTranspose" || op == "MatMul") && !w.empty()) l.input_channels = w[0];
    if (op == "Gemm" && w.size() == 2) l.input_channels = w[attrs.value("transB", 0) ? 1 : 0];
    out.push_back(l);
  }
  return out;
}

TEST_F(RecordCheck, EveryKitRecordPassesAgainstItsModifiedOnnxGraph) {
  namespace fs = std::filesystem;
  const fs::path e2e = fs::path(OPENAMCT_SOURCE_DIR) / ".." / "shared" / "calibration" / "e2e";
  std::error_code ec;
  int records = 0;
  for (const auto& dir : fs::directory_iterator(e2e, ec)) {
    const fs::path summary = dir.path() / "modified.onnx_summary.json";
    if (!fs::exists(summary)) continue;
    SCOPED_TRACE(dir.path().string());
    const std::vector<RecordGraphLayer> g = graph_from_summary(summary.string());
    const RecordContent final_record = read_record_file((dir.path() / "record.txt").string());
    const auto checked = check_record(final_record, g, "m.onnx", "record.txt");
    ASSERT_EQ(checked.size(), final_record.layers.size());
    for (const auto& c : checked) EXPECT_TRUE(c.has_quant_params) << c.record->key;
    ++records;
    const fs::path preprocess = dir.path() / "record_after_preprocess.txt";
    if (fs::exists(preprocess)) {
      const RecordContent factors = read_record_file(preprocess.string());
      for (const auto& c : check_record(factors, g, "m.onnx", "r.txt"))
        EXPECT_FALSE(c.has_quant_params) << c.record->key;  // tensor_balance_factor only
      ++records;
    }
  }
  if (records == 0) GTEST_SKIP() << "the calibration kit is not next to the source tree";
  EXPECT_EQ(records, 20);
  EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace openamct
