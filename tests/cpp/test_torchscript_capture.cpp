// TorchScriptSource on traced and scripted fixtures (tests/models/
// make_fixtures.py): call counts, input ranks, padding modes, dilation,
// groups, bias, weight identity, RNN settings, and that the model is left as
// it was. Every test runs on both the traced and the scripted file.
#include <gtest/gtest.h>

#include <torch/script.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "../models/fixtures.h"
#include "capture/torchscript_source.h"
#include "openamct/errors.h"
#include "openamct/openamct.h"
#include "temp_dir.h"

namespace openamct {
namespace {

namespace fs = std::filesystem;

// Inputs as the CLI makes them: manual_seed(1), one randn per shape.
std::vector<c10::IValue> random_inputs(const std::vector<std::vector<int64_t>>& shapes) {
  torch::manual_seed(1);
  std::vector<c10::IValue> out;
  for (const auto& s : shapes) out.emplace_back(torch::randn(s));
  return out;
}

class TorchScriptCapture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why_not;
    dir_ = testing::torchscript_fixture_dir(&why_not);
    if (dir_.empty()) GTEST_SKIP() << "skipped: " << why_not;
  }

  torch::jit::Module load(const std::string& model) const {
    return torch::jit::load(dir_ + "/" + model + "_" + GetParam() + ".pt");
  }

  // Captures `model` and indexes the records by name.
  std::map<std::string, ModuleRecord> capture(const std::string& model,
                                              const std::vector<std::vector<int64_t>>& shapes) {
    torch::jit::Module m = load(model);
    TorchScriptSource source(m, random_inputs(shapes));
    std::map<std::string, ModuleRecord> by_name;
    for (auto& r : source.capture().modules) by_name[r.name] = r;
    return by_name;
  }

  std::string dir_;
};

const std::vector<std::vector<int64_t>> kImage = {{1, 3, 8, 8}};

TEST_P(TorchScriptCapture, ModulesFollowNamedModules) {
  torch::jit::Module m = load("calls");
  TorchScriptSource source(m, random_inputs(kImage));
  std::vector<std::string> names, types;
  for (const auto& e : source.modules()) {
    names.push_back(e.name);
    types.push_back(e.type_name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"", "stem", "twice", "looped", "unused",
                                             "unbatched", "head"}));
  EXPECT_EQ(types, (std::vector<std::string>{"Calls", "Conv2d", "Conv2d", "Linear", "Linear",
                                             "Conv2d", "Linear"}));
}

TEST_P(TorchScriptCapture, ModuleCalledTwiceCountsTwo) {
  auto t = capture("calls", kImage);
  EXPECT_EQ(t["stem"].call_count, 1);
  EXPECT_EQ(t["twice"].call_count, 2);
  EXPECT_EQ(t["head"].call_count, 1);
}

TEST_P(TorchScriptCapture, ModuleInALoopCountsEveryIteration) {
  EXPECT_EQ(capture("calls", kImage)["looped"].call_count, 3);
}

TEST_P(TorchScriptCapture, UnusedModuleCountsZero) {
  auto t = capture("calls", kImage);
  EXPECT_EQ(t["unused"].call_count, 0);
  EXPECT_EQ(t["unused"].input_rank, -1);
}

TEST_P(TorchScriptCapture, ModuleInABranchNotTakenCountsZero) {
  auto t = capture("branch", {{2, 4}});
  EXPECT_EQ(t["taken"].call_count, 1);
  EXPECT_EQ(t["not_taken"].call_count, 0);
}

TEST_P(TorchScriptCapture, InputRankIsTheFirstInputsRank) {
  auto t = capture("calls", kImage);
  EXPECT_EQ(t["stem"].input_rank, 4);
  EXPECT_EQ(t["looped"].input_rank, 2);
  EXPECT_EQ(t["unbatched"].input_rank, 3);  // y[0]: an unbatched Conv2d input
}

TEST_P(TorchScriptCapture, OnlyQuantizableTypesAreObserved) {
  // As the Python producer: the root is not a quantizable type.
  auto t = capture("calls", kImage);
  EXPECT_EQ(t[""].call_count, 0);
  EXPECT_EQ(t[""].type_name, "Calls");
}

TEST_P(TorchScriptCapture, PaddingModes) {
  auto t = capture("padding", {{1, 3, 8, 8}, {1, 1, 6, 6, 6}});
  EXPECT_EQ(t["c_zeros"].padding_mode, "zeros");
  EXPECT_EQ(t["c_reflect"].padding_mode, "reflect");
  EXPECT_EQ(t["c_replicate"].padding_mode, "replicate");
  EXPECT_EQ(t["c_circular"].padding_mode, "circular");
  EXPECT_EQ(t["deconv"].padding_mode, "zeros");
}

TEST_P(TorchScriptCapture, Conv3dDilationDepthFirst) {
  auto t = capture("padding", {{1, 3, 8, 8}, {1, 1, 6, 6, 6}});
  EXPECT_EQ(t["d_depth"].dilation, (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ(t["d_hw"].dilation, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(t["d_depth"].input_rank, 5);
}

TEST_P(TorchScriptCapture, GroupsDilationAndWeightShape) {
  auto t = capture("padding", {{1, 3, 8, 8}, {1, 1, 6, 6, 6}});
  EXPECT_EQ(t["c_grouped"].groups, 2);
  EXPECT_EQ(t["c_grouped"].dilation, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t["c_grouped"].weight_shape, (std::vector<int64_t>{4, 2, 3, 3}));
  EXPECT_EQ(t["c_zeros"].groups, 1);
  EXPECT_EQ(t["c_zeros"].dilation, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(t["deconv"].weight_shape, (std::vector<int64_t>{4, 4, 2, 2}));
}

TEST_P(TorchScriptCapture, Bias) {
  auto t = capture("padding", {{1, 3, 8, 8}, {1, 1, 6, 6, 6}});
  EXPECT_TRUE(t["c_zeros"].has_bias);
  EXPECT_FALSE(t["c_circular"].has_bias);
  EXPECT_FALSE(t["deconv"].has_bias);
}

TEST_P(TorchScriptCapture, SharedParameterGivesOneWeightId) {
  auto t = capture("shared", kImage);
  EXPECT_GE(t["fc_a"].weight_id, 0);
  EXPECT_EQ(t["fc_a"].weight_id, t["fc_b"].weight_id);
  EXPECT_EQ(t["c1_a"].weight_id, t["c1_b"].weight_id);
  EXPECT_NE(t["fc_a"].weight_id, t["fc_c"].weight_id);
  EXPECT_NE(t["fc_a"].weight_id, t["c1_a"].weight_id);
  EXPECT_NE(t["conv"].weight_id, t["fc_c"].weight_id);
}

TEST_P(TorchScriptCapture, WeightIdsNumberedInFirstSeenOrder) {
  auto t = capture("shared", kImage);
  EXPECT_EQ(t["conv"].weight_id, 0);
  EXPECT_EQ(t["fc_a"].weight_id, 1);
  EXPECT_EQ(t["c1_a"].weight_id, 2);
  EXPECT_EQ(t["fc_c"].weight_id, 3);
}

TEST_P(TorchScriptCapture, ModuleUnderTwoNamesIsListedOnceUnderTheFirst) {
  auto t = capture("shared", kImage);
  EXPECT_EQ(t.count("alias"), 0u);
  EXPECT_EQ(t["conv"].call_count, 1);  // forward() calls it as self.conv
}

TEST_P(TorchScriptCapture, TracedSharedParameterIsNotTakenForTheInput) {
  // A traced fc_b receives fc_a.weight as an extra leading argument.
  auto t = capture("shared", kImage);
  EXPECT_EQ(t["fc_b"].input_rank, 3);
  EXPECT_EQ(t["fc_b"].call_count, 1);
}

TEST_P(TorchScriptCapture, RecurrentSettings) {
  auto t = capture("recurrent", {{5, 2, 4}});
  const ModuleRecord& multi = t["lstm_multi"];
  EXPECT_EQ(multi.num_layers, 2);
  EXPECT_TRUE(multi.bidirectional);
  EXPECT_DOUBLE_EQ(multi.dropout, 0.25);
  EXPECT_EQ(multi.hidden_size, 5);
  EXPECT_EQ(multi.proj_size, 0);
  EXPECT_EQ(multi.weight_shape, (std::vector<int64_t>{20, 4}));  // weight_ih_l0

  EXPECT_EQ(t["lstm_proj"].proj_size, 3);
  EXPECT_EQ(t["lstm_proj"].hidden_size, 6);

  const ModuleRecord& gru = t["gru"];
  EXPECT_EQ(gru.num_layers, 1);
  EXPECT_FALSE(gru.bidirectional);
  EXPECT_DOUBLE_EQ(gru.dropout, 0.0);
  EXPECT_EQ(gru.hidden_size, 7);
  EXPECT_EQ(gru.weight_shape, (std::vector<int64_t>{21, 4}));

  EXPECT_EQ(t["lstm"].hidden_size, 8);
  EXPECT_EQ(t["lstm"].input_rank, 3);
  EXPECT_EQ(t["lstm"].call_count, 1);
  EXPECT_NE(t["lstm"].weight_id, t["lstm_proj"].weight_id);
}

TEST_P(TorchScriptCapture, TrainModeModelIsLeftAsItWas) {
  torch::jit::Module m = load("train_bn");
  const at::Tensor mean = m.attr("bn").toModule().attr("running_mean").toTensor();
  const at::Tensor before = mean.clone();
  TorchScriptSource source(m, random_inputs(kImage));
  source.capture();
  for (const auto& sub : m.modules()) EXPECT_TRUE(sub.is_training());
  EXPECT_TRUE(mean.equal(before));
  EXPECT_TRUE(m.attr("bn").toModule().attr("running_mean").toTensor().is_same(mean));
}

TEST_P(TorchScriptCapture, InputOfWrongShapeIsARuntimeErrorAndRestoresFlags) {
  torch::jit::Module m = load("train_bn");
  TorchScriptSource source(m, random_inputs({{1, 5, 8, 8}}));
  try {
    source.capture();
    FAIL() << "capture() accepted a 5-channel input";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("The model's forward() failed on the given inputs: ", 0), 0u)
        << message;
    EXPECT_NE(message.find("channels"), std::string::npos) << message;  // torch's text
  }
  for (const auto& sub : m.modules()) EXPECT_TRUE(sub.is_training());
}

TEST_P(TorchScriptCapture, WrongNumberOfInputsIsARuntimeError) {
  torch::jit::Module m = load("calls");
  TorchScriptSource source(m, random_inputs({{1, 3, 8, 8}, {1, 3, 8, 8}}));
  try {
    source.capture();
    FAIL() << "capture() accepted two inputs for forward(x)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("forward"), std::string::npos) << e.what();
  }
}

TEST_P(TorchScriptCapture, CapturingTwiceGivesTheSameTable) {
  torch::jit::Module m = load("calls");
  TorchScriptSource source(m, random_inputs(kImage));
  const LayerTable first = source.capture();
  const LayerTable second = source.capture();
  ASSERT_EQ(first.modules.size(), second.modules.size());
  for (size_t i = 0; i < first.modules.size(); ++i) {
    EXPECT_EQ(first.modules[i].call_count, second.modules[i].call_count);
    EXPECT_EQ(first.modules[i].input_rank, second.modules[i].input_rank);
  }
}

// ---- the public TorchScript overloads --------------------------------------------

TEST_P(TorchScriptCapture, InspectLayersGivesAVerdictPerQuantizableModule) {
  torch::jit::Module m = load("calls");
  std::map<std::string, std::string> verdicts;
  for (const auto& r : inspect_layers(m, random_inputs(kImage))) verdicts[r.name] = r.verdict;
  EXPECT_EQ(verdicts, (std::map<std::string, std::string>{{"stem", "quantize"},
                                                           {"twice", "reused"},
                                                           {"looped", "reused"},
                                                           {"unused", "not_executed"},
                                                           {"unbatched", "unbatched_input"},
                                                           {"head", "quantize"}}));
}

TEST_P(TorchScriptCapture, CaptureLayerTableIsTheSourcesTable) {
  torch::jit::Module m = load("shared");
  const LayerTable table = capture_layer_table(m, random_inputs(kImage));
  ASSERT_EQ(table.modules.size(), 7u);
  EXPECT_EQ(table.modules[1].name, "conv");
  EXPECT_EQ(table.modules[3].weight_id, table.modules[2].weight_id);
}

TEST_P(TorchScriptCapture, CreateQuantConfigWritesWhatTheCliWrites) {
  const TempDir tmp("api");
  const fs::path out = tmp.path();
  torch::jit::Module m = load("calls");
  QuantConfigOptions options;
  options.skip_layers = {"head"};
  create_quant_config((out / "api.json").string(), m, random_inputs(kImage), options);

  const std::string model = dir_ + "/calls_" + GetParam() + ".pt";
  const std::string command = std::string(OPENAMCT_CLI) + " create-quant-config --model '" +
                              model + "' --input-shape 1,3,8,8 --skip-layer head -o '" +
                              (out / "cli.json").string() + "' 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const std::string api = read_file((out / "api.json").string());
  EXPECT_FALSE(api.empty());
  EXPECT_EQ(api, read_file((out / "cli.json").string()));
  EXPECT_NE(api.find("\"stem\""), std::string::npos);
  EXPECT_EQ(api.find("\"twice\""), std::string::npos);
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(TracedAndScripted, TorchScriptCapture,
                         ::testing::Values("traced", "scripted"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace openamct
