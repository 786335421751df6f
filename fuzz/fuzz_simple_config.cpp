// Fuzz target: the simple-config reader and its expansion.
//
// The input is quant.cfg text. It is parsed (SimpleConfig::parse) and expanded
// over one fixed, ResNet-like layer table (analysed once), and the resulting
// config is written with to_config_text. An openamct::Error is the expected
// way to reject bad text; anything else (a crash, a sanitizer report, another
// exception, a hang, a leak) is a finding. A config that expands must also
// write to text that a JSON parser reads back, with one key per layer.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/quant_config.h"
#include "openamct/errors.h"
#include "openamct/layer_table.h"
#include "openamct/log.h"
#include "rules/layer_verdict.h"
#include "simple_config/simple_config.h"

namespace {

using openamct::ModuleRecord;

ModuleRecord module(const std::string& name, const std::string& type) {
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  return r;
}

// A quantizable module that ran once on a batched input.
ModuleRecord layer(const std::string& name, const std::string& type, int64_t rank,
                   std::vector<int64_t> weight_shape, bool bias, int64_t weight_id) {
  ModuleRecord r = module(name, type);
  r.call_count = 1;
  r.input_rank = rank;
  r.weight_shape = std::move(weight_shape);
  r.has_bias = bias;
  r.weight_id = weight_id;
  if (type.rfind("Conv", 0) == 0) {
    r.padding_mode = "zeros";
    r.dilation = std::vector<int64_t>(type.back() == 'd' ? type[type.size() - 2] - '0' : 2, 1);
  }
  return r;
}

// ResNet-18's names and types, plus one layer of every other kind the rules
// and the simple config treat differently.
openamct::LayerTable make_table() {
  openamct::LayerTable t;
  int64_t id = 0;
  t.modules.push_back(module("", "Net"));
  t.modules.push_back(layer("conv1", "Conv2d", 4, {64, 3, 7, 7}, false, id++));
  t.modules.push_back(module("bn1", "BatchNorm2d"));
  t.modules.push_back(module("relu", "ReLU"));
  t.modules.push_back(module("maxpool", "MaxPool2d"));
  const int64_t channels[] = {64, 128, 256, 512};
  for (int stage = 1; stage <= 4; ++stage) {
    const int64_t c = channels[stage - 1];
    for (int block = 0; block <= 1; ++block) {
      const std::string p = "layer" + std::to_string(stage) + "." + std::to_string(block) + ".";
      t.modules.push_back(module(p.substr(0, p.size() - 1), "BasicBlock"));
      t.modules.push_back(layer(p + "conv1", "Conv2d", 4, {c, c, 3, 3}, false, id++));
      t.modules.push_back(module(p + "bn1", "BatchNorm2d"));
      t.modules.push_back(module(p + "relu", "ReLU"));
      t.modules.push_back(layer(p + "conv2", "Conv2d", 4, {c, c, 3, 3}, false, id++));
      t.modules.push_back(module(p + "bn2", "BatchNorm2d"));
      if (stage > 1 && block == 0) {
        t.modules.push_back(module(p + "downsample", "Sequential"));
        t.modules.push_back(layer(p + "downsample.0", "Conv2d", 4, {c, c / 2, 1, 1}, false, id++));
        t.modules.push_back(module(p + "downsample.1", "BatchNorm2d"));
      }
    }
  }
  t.modules.push_back(layer("avgpool", "AvgPool2d", 4, {}, false, -1));
  t.modules.push_back(layer("fc", "Linear", 2, {1000, 512}, true, id++));
  t.modules.push_back(layer("fc_nobias", "Linear", 2, {10, 1000}, false, id++));
  t.modules.push_back(layer("conv3d", "Conv3d", 5, {8, 3, 3, 3, 3}, true, id++));
  t.modules.push_back(layer("deconv", "ConvTranspose2d", 4, {8, 5, 3, 3}, true, id++));
  t.modules.push_back(layer("grouped", "Conv2d", 4, {8, 1, 3, 3}, true, id++));
  t.modules.back().groups = 8;
  ModuleRecord lstm = layer("lstm", "LSTM", 3, {64, 16}, true, id++);
  lstm.hidden_size = 16;
  t.modules.push_back(lstm);
  // Left out by the rules: reused, never called, reflect padding.
  t.modules.push_back(layer("reused", "Conv2d", 4, {8, 8, 3, 3}, false, id++));
  t.modules.back().call_count = 2;
  t.modules.push_back(layer("unused", "Linear", -1, {4, 4}, true, id++));
  t.modules.back().call_count = 0;
  t.modules.push_back(layer("reflect", "Conv2d", 4, {8, 8, 3, 3}, false, id++));
  t.modules.back().padding_mode = "reflect";
  return t;
}

struct Model {
  openamct::LayerTable table = make_table();
  std::vector<openamct::ModuleEntry> modules = table.entries();
  std::vector<openamct::LayerDecision> decisions = openamct::analyse_layers(table);
};

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

void check_written(const openamct::QuantConfig& config) {
  const std::string text = openamct::to_config_text(config);
  // Python's json writes NaN / Infinity, which strict JSON cannot read;
  // every other config must parse.
  bool special = false;
  for (const auto& l : config.layers) {
    const auto& a = l.activation;
    for (auto v : {a.max_percentile, a.min_percentile, a.search_step, l.dmq_balancer_param})
      special |= v && !std::isfinite(*v);
    if (a.search_range)
      special |= !std::isfinite((*a.search_range)[0]) || !std::isfinite((*a.search_range)[1]);
    if (l.weight) {
      for (auto v : {l.weight->reg_param, l.weight->warm_start}) special |= v && !std::isfinite(*v);
      if (l.weight->beta_range)
        special |= !std::isfinite((*l.weight->beta_range)[0]) ||
                   !std::isfinite((*l.weight->beta_range)[1]);
    }
  }
  if (special) return;
  const auto parsed = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) finding("the written config is not JSON:\n" + text);
  // The root keys, then one key per layer.
  size_t root_keys = 5 + (config.fakequant_precision_mode ? 1 : 0);
  if (parsed.size() != root_keys + config.layers.size())
    finding("the written config lost or merged layers:\n" + text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  openamct::set_log_sink([](openamct::LogLevel, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Model model;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const openamct::SimpleConfig cfg = openamct::SimpleConfig::parse(text);
    const openamct::QuantConfig config = cfg.expand(model.modules, model.decisions);
    check_written(config);
    static const bool verbose = std::getenv("OPENAMCT_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "%s\n", openamct::to_config_text(config).c_str());
  } catch (const openamct::Error& e) {
    // A rejected config: the expected outcome for most inputs.
    static const bool verbose = std::getenv("OPENAMCT_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "openamct::Error: %s\n", e.what());
  } catch (const std::exception& e) {
    finding(std::string("unexpected exception: ") + e.what());
  }
  return 0;
}
