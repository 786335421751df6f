// Fuzz target: the hand-edited JSON config reader (spec §3).
//
// The input is config text. It is read (read_calibration_config: Python-json
// parsing, repeated keys, the checks of §3.1-3.2, defaults) for one fixed
// layer table: ResNet-18's names and types plus TinyNet's `conv2` and `pool`
// and a few layers the rules treat differently, so that the kit's configs
// seed it. An openamct::Error is the expected way to reject a config;
// anything else (a crash, a sanitizer report, another exception, a hang, a
// leak) is a finding, and so is an accepted config whose settings break the
// reader's promises: at least one layer, every layer a supported one, in
// module order, each value within the range the reader checks, and the same
// result when read again.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config_reader.h"
#include "openamct/errors.h"
#include "openamct/layer_table.h"
#include "openamct/log.h"
#include "rules/layer_verdict.h"

namespace {

using openamct::ModuleRecord;

ModuleRecord plain(const std::string& name, const std::string& type) {
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  return r;
}

ModuleRecord quantizable(const std::string& name, const std::string& type, int64_t rank,
                         std::vector<int64_t> weight_shape, bool bias, int64_t& id) {
  ModuleRecord r = plain(name, type);
  r.call_count = 1;
  r.input_rank = rank;
  r.weight_shape = std::move(weight_shape);
  r.has_bias = bias;
  r.weight_id = r.weight_shape.empty() ? -1 : id++;
  if (type.find("Conv") != std::string::npos) {
    r.padding_mode = "zeros";
    r.dilation = std::vector<int64_t>(static_cast<std::size_t>(rank - 2), 1);
  }
  return r;
}

openamct::LayerTable make_table() {
  openamct::LayerTable t;
  int64_t id = 0;
  t.modules.push_back(plain("", "Net"));
  t.modules.push_back(quantizable("conv1", "Conv2d", 4, {64, 3, 7, 7}, false, id));
  t.modules.push_back(plain("bn1", "BatchNorm2d"));
  t.modules.push_back(plain("relu", "ReLU"));
  t.modules.push_back(plain("maxpool", "MaxPool2d"));
  const int64_t channels[] = {64, 128, 256, 512};
  for (int stage = 1; stage <= 4; ++stage) {
    const int64_t c = channels[stage - 1];
    t.modules.push_back(plain("layer" + std::to_string(stage), "Sequential"));
    for (int block = 0; block <= 1; ++block) {
      const std::string p = "layer" + std::to_string(stage) + "." + std::to_string(block) + ".";
      t.modules.push_back(plain(p.substr(0, p.size() - 1), "BasicBlock"));
      t.modules.push_back(quantizable(p + "conv1", "Conv2d", 4, {c, c, 3, 3}, false, id));
      t.modules.push_back(plain(p + "bn1", "BatchNorm2d"));
      t.modules.push_back(plain(p + "relu", "ReLU"));
      t.modules.push_back(quantizable(p + "conv2", "Conv2d", 4, {c, c, 3, 3}, false, id));
      t.modules.push_back(plain(p + "bn2", "BatchNorm2d"));
      if (stage > 1 && block == 0) {
        t.modules.push_back(plain(p + "downsample", "Sequential"));
        t.modules.push_back(
            quantizable(p + "downsample.0", "Conv2d", 4, {c, c / 2, 1, 1}, false, id));
        t.modules.push_back(plain(p + "downsample.1", "BatchNorm2d"));
      }
    }
  }
  t.modules.push_back(plain("avgpool", "AdaptiveAvgPool2d"));
  t.modules.push_back(quantizable("fc", "Linear", 2, {1000, 512}, true, id));
  // TinyNet's other names, and kinds the rules treat differently.
  t.modules.push_back(quantizable("conv2", "Conv2d", 4, {6, 4, 3, 3}, false, id));
  t.modules.push_back(quantizable("pool", "AvgPool2d", 4, {}, false, id));
  t.modules.push_back(quantizable("conv3d", "Conv3d", 5, {8, 3, 3, 3, 3}, true, id));
  t.modules.push_back(quantizable("fc_nobias", "Linear", 2, {10, 1000}, false, id));
  t.modules.push_back(quantizable("deconv", "ConvTranspose2d", 4, {8, 5, 3, 3}, true, id));
  t.modules.push_back(quantizable("reused", "Conv2d", 4, {8, 8, 3, 3}, false, id));
  t.modules.back().call_count = 2;
  return t;
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

bool one_of(int v, std::initializer_list<int> allowed) {
  for (int a : allowed)
    if (v == a) return true;
  return false;
}

void check_settings(const openamct::CalibrationSettings& s, const openamct::LayerTable& table,
                    const std::vector<openamct::LayerDecision>& decisions) {
  if (s.layers.empty()) finding("a config was accepted with no enabled layer");
  if (s.batch_num <= 0) finding("batch_num <= 0 accepted");
  std::size_t next = 0;  // position in module order
  for (const auto& l : s.layers) {
    while (next < decisions.size() && decisions[next].name() != l.name) ++next;
    if (next == decisions.size()) finding("layer " + l.name + " out of module order or unknown");
    if (!decisions[next].supported()) finding("unsupported layer " + l.name + " accepted");
    ++next;
    if (!one_of(l.act_num_bits, {4, 8, 16})) finding("act num_bits of " + l.name);
    if (!one_of(l.wts_num_bits, {4, 6, 7, 8})) finding("wts num_bits of " + l.name);
    if (l.act_algo == openamct::ActAlgo::kIfmr) {
      if (!(l.max_percentile > 0.5 && l.max_percentile <= 1.0)) finding("max_percentile");
      if (!(l.min_percentile > 0.5 && l.min_percentile <= 1.0)) finding("min_percentile");
      if (!(l.search_range_start > 0 && l.search_range_start < l.search_range_end))
        finding("search_range of " + l.name);
      if (!(l.search_step > 0)) finding("search_step of " + l.name);
    } else if (!one_of(l.num_of_bins, {1024, 2048, 4096, 8192})) {
      finding("num_of_bins");
    }
    if (l.dmq_balancer_param &&
        !(*l.dmq_balancer_param >= 0.2 && *l.dmq_balancer_param <= 0.8))
      finding("dmq_balancer_param of " + l.name);
  }
  (void)table;
}

bool same(const openamct::CalibrationSettings& a, const openamct::CalibrationSettings& b) {
  if (a.batch_num != b.batch_num || a.layers.size() != b.layers.size()) return false;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const auto& x = a.layers[i];
    const auto& y = b.layers[i];
    if (x.name != y.name || x.act_algo != y.act_algo || x.act_num_bits != y.act_num_bits ||
        x.asymmetric != y.asymmetric || x.wts_num_bits != y.wts_num_bits ||
        x.channel_wise != y.channel_wise || x.dmq_balancer_param != y.dmq_balancer_param)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const openamct::LayerTable table = make_table();
  static const std::vector<openamct::LayerDecision> decisions = openamct::analyse_layers(table);
  static const bool quiet = [] {
    openamct::set_log_sink([](openamct::LogLevel, const std::string&) {});
    return true;
  }();
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  openamct::CalibrationSettings first;
  try {
    first = openamct::read_calibration_config(text, "/fuzz/q.json", table);
  } catch (const openamct::Error&) {
    return 0;
  }
  check_settings(first, table, decisions);
  if (!same(first, openamct::read_calibration_config(text, "/fuzz/q.json", table)))
    finding("reading the same config twice gave different settings");
  return 0;
}
