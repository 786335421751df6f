// Fuzz target: the record file's text (spec §11.2).
//
// The input is record text. What libprotobuf's TextFormat accepts is turned
// into RecordContent, written back as Python protobuf would print it, and read
// again: the second reading must give the same content (NaN compared as NaN,
// since "nan" keeps no payload), the second writing the same bytes, and every
// float's text must read back as the same float32. An openamct::Error is the
// expected way to reject text; anything else (a crash, a sanitizer report,
// another exception, a hang, a leak) is a finding.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "text/float_repr.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "record/record_file.h"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;  // -0.0 stays -0.0
}

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_float(a[i], b[i])) return false;
  return true;
}

bool same_optional(const std::optional<float>& a, const std::optional<float>& b) {
  return a.has_value() == b.has_value() && (!a || same_float(*a, *b));
}

bool same_layer(const openamct::LayerRecord& x, const openamct::LayerRecord& y) {
  return x.key == y.key && same_optional(x.scale_d, y.scale_d) && x.offset_d == y.offset_d &&
         same_floats(x.scale_w, y.scale_w) && x.offset_w == y.offset_w &&
         x.shift_bit == y.shift_bit &&
         same_floats(x.tensor_balance_factor, y.tensor_balance_factor) &&
         x.skip_fusion == y.skip_fusion && x.dst_type == y.dst_type && x.act_type == y.act_type &&
         x.wts_type == y.wts_type && x.fakequant_precision_mode == y.fakequant_precision_mode &&
         same_optional(x.scale_h, y.scale_h) && x.offset_h == y.offset_h &&
         same_floats(x.scale_r, y.scale_r) && x.offset_r == y.offset_r;
}

void check_float_text(float v) {
  if (!std::isfinite(v)) return;
  const std::string text = openamct::protobuf_float_repr(v);
  if (!same_float(static_cast<float>(std::strtod(text.c_str(), nullptr)), v))
    finding("float text " + text + " does not read back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    openamct::set_log_sink([](openamct::LogLevel, const std::string&) {});
    return true;
  }();
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  openamct::RecordContent first;
  try {
    first = openamct::parse_record_text(text, "/fuzz/record.txt");
  } catch (const openamct::Error&) {
    return 0;
  }
  const std::string written = openamct::to_record_text(first);
  openamct::RecordContent second;
  try {
    second = openamct::parse_record_text(written, "/fuzz/record.txt");
  } catch (const openamct::Error& e) {
    finding(std::string("written record does not parse: ") + e.what());
  }
  if (first.layers.size() != second.layers.size()) finding("entry count changed");
  for (std::size_t i = 0; i < first.layers.size(); ++i) {
    if (!same_layer(first.layers[i], second.layers[i]))
      finding("entry " + std::to_string(i) + " changed after write and read");
    const auto& l = first.layers[i];
    for (const auto* list : {&l.scale_w, &l.tensor_balance_factor, &l.scale_r})
      for (float v : *list) check_float_text(v);
    for (const auto& v : {l.scale_d, l.scale_h})
      if (v) check_float_text(*v);
  }
  if (openamct::to_record_text(second) != written) finding("second write gave other bytes");
  return 0;
}
