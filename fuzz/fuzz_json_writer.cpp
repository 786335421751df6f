// Fuzz target: the float formatter and the JSON writer, as a round trip.
//
// The first byte picks what the rest of the input builds:
//   0: one double (and one float32) from raw bytes. python_float_repr must
//      read back to the same bits, have Python's layout, and be shortest;
//      float32_to_python_float must give back the same float32.
//   1: an ordered_json tree (nulls, bools, integers, doubles, byte strings,
//      arrays, objects). python_json_dumps must write ASCII that
//      nlohmann::json::parse reads back to an equal tree (doubles bit-exact,
//      key order kept), and writing the parsed tree again gives the same
//      bytes. A string that is not UTF-8 must be refused with an
//      openamct::Error, and only then.
//   2: a QuantConfig. to_config_text must parse back to the same values, in
//      the reference's key order, layers sorted by name.
// NaN and infinities cannot travel through JSON: the writer must spell them
// NaN / Infinity / -Infinity, and the trees use null in their place.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/quant_config.h"
#include "openamct/errors.h"
#include "text/float_repr.h"
#include "text/python_json.h"

namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

// Reads the fuzz input front to back; past the end every read gives zeros.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool empty() const { return pos_ >= size_; }
  template <typename T>
  T raw() {
    unsigned char buf[sizeof(T)] = {};
    for (auto& b : buf) b = byte();
    T out;
    std::memcpy(&out, buf, sizeof(T));
    return out;
  }
  std::string text() {
    const size_t n = byte() % 24;
    std::string s;
    for (size_t i = 0; i < n && !empty(); ++i) s.push_back(static_cast<char>(byte()));
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

double parse_double(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

// ---- mode 0: one number --------------------------------------------------------

// The significant digits of a repr and the decimal exponent of the first one
// (value = 0.D1D2... x 10^decpt).
void significant_digits(const std::string& repr, std::string* digits, int* decpt) {
  const size_t e = repr.find('e');
  const std::string mantissa = repr.substr(0, e);
  const int exp10 = e == std::string::npos ? 0 : std::atoi(repr.c_str() + e + 1);
  const size_t dot = mantissa.find('.');
  const size_t int_len = dot == std::string::npos ? mantissa.size() : dot;
  std::string all;
  for (char c : mantissa)
    if (c != '.' && c != '-') all.push_back(c);
  const size_t sign = mantissa[0] == '-' ? 1 : 0;
  const size_t lead = all.find_first_not_of('0');
  *decpt = static_cast<int>(int_len - sign) - static_cast<int>(lead) + exp10;
  *digits = all.substr(lead);
  digits->erase(digits->find_last_not_of('0') + 1);
}

void check_number(double v) {
  const std::string repr = openamct::python_float_repr(v);
  if (std::isnan(v)) {
    if (repr != "nan") finding("repr of NaN is " + repr);
  } else if (std::isinf(v)) {
    if (repr != (v < 0 ? "-inf" : "inf")) finding("repr of an infinity is " + repr);
  } else {
    if (!same_bits(parse_double(repr), v)) finding("repr does not round-trip: " + repr);
    const bool scientific = repr.find('e') != std::string::npos;
    if (!scientific && repr.find('.') == std::string::npos) finding("no '.' in " + repr);
    if (v != 0.0) {
      std::string digits;
      int decpt = 0;
      significant_digits(repr, &digits, &decpt);
      if (scientific == (decpt > -4 && decpt <= 16)) finding("wrong layout: " + repr);
      if (digits.size() > 17) finding("more than 17 digits: " + repr);
      // Shortest: no decimal with one digit less reads back to v. Such a
      // decimal would be the correctly rounded one or one of its neighbours.
      const size_t k = digits.size() - 1;
      if (k > 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*e", static_cast<int>(k - 1), std::fabs(v));
        std::string rounded, ignored;
        int rdecpt = 0;
        significant_digits(buf, &rounded, &rdecpt);
        rounded.resize(k, '0');
        const long long m = std::atoll(rounded.c_str());
        for (long long candidate : {m - 1, m, m + 1}) {
          const std::string s = std::to_string(candidate) + "e" +
                                std::to_string(rdecpt - static_cast<int>(k));
          if (parse_double(s) == std::fabs(v)) finding("not shortest: " + repr + " vs " + s);
        }
      }
    }
  }
  const std::string json = openamct::python_json_dumps(Json(v));
  if (std::isnan(v) ? json != "NaN"
                    : std::isinf(v) ? json != (v < 0 ? "-Infinity" : "Infinity") : json != repr)
    finding("JSON number " + json + " for repr " + repr);
}

void check_float32(float f) {
  const double d = openamct::float32_to_python_float(f);
  if (std::isnan(f)) {
    if (!std::isnan(d)) finding("float32 NaN became a number");
    return;
  }
  const float back = static_cast<float>(d);
  if (std::memcmp(&back, &f, sizeof f) != 0)
    finding("float32_to_python_float does not round-trip: " + openamct::python_float_repr(d));
  if (std::isfinite(f) && f != 0.0f) {
    std::string digits;
    int decpt = 0;
    significant_digits(openamct::python_float_repr(d), &digits, &decpt);
    if (digits.size() > 9) finding("more than 9 digits for a float32: " + digits);
  }
}

// ---- mode 1: a JSON tree ---------------------------------------------------------

bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// Whether any string or key of the tree is not UTF-8.
bool has_invalid_text(const Json& j) {
  if (j.is_string()) return !is_utf8(j.get_ref<const std::string&>());
  if (j.is_array())
    for (const auto& v : j)
      if (has_invalid_text(v)) return true;
  if (j.is_object())
    for (const auto& item : j.items())
      if (!is_utf8(item.key()) || has_invalid_text(item.value())) return true;
  return false;
}

struct TreeBuilder {
  Bytes& in;
  int nodes = 0;

  std::string text() { return in.text(); }

  Json value(int depth) {
    ++nodes;
    const uint8_t kind = in.byte() % 8;
    const bool leaf_only = depth >= 8 || nodes > 64;
    switch (leaf_only && kind >= 6 ? kind - 6 : kind) {
      case 0: return nullptr;
      case 1: return (in.byte() & 1) != 0;
      case 2: return in.raw<int64_t>();
      case 3: return in.raw<uint64_t>();
      case 4: {
        const double d = in.raw<double>();
        check_number(d);
        if (!std::isfinite(d)) return nullptr;
        return d;
      }
      case 5: return text();
      case 6: {
        Json a = Json::array();
        for (int n = in.byte() % 6; n > 0 && !in.empty(); --n) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        Json o = Json::object();
        for (int n = in.byte() % 6; n > 0 && !in.empty(); --n) {
          std::string key = text();
          o[key] = value(depth + 1);
        }
        return o;
      }
    }
  }
};

// Equal as JSON values, doubles bit for bit, object keys in the same order.
bool same_json(const Json& written, const Json& read) {
  using T = Json::value_t;
  switch (written.type()) {
    case T::number_integer:
    case T::number_unsigned:
      if (!read.is_number_integer()) return false;
      // A negative value must come back signed, any other value unsigned
      // (nlohmann reads non-negative integers as unsigned).
      if (written.type() == T::number_integer && written.get<int64_t>() < 0)
        return !read.is_number_unsigned() && written.get<int64_t>() == read.get<int64_t>();
      return read.is_number_unsigned() && written.get<uint64_t>() == read.get<uint64_t>();
    case T::number_float:
      return read.is_number_float() && same_bits(written.get<double>(), read.get<double>());
    case T::array:
      if (!read.is_array() || read.size() != written.size()) return false;
      for (size_t i = 0; i < written.size(); ++i)
        if (!same_json(written[i], read[i])) return false;
      return true;
    case T::object: {
      if (!read.is_object() || read.size() != written.size()) return false;
      auto r = read.items().begin();
      for (const auto& w : written.items()) {
        if (w.key() != r.key() || !same_json(w.value(), r.value())) return false;
        ++r;
      }
      return true;
    }
    default:
      return written == read;
  }
}

void check_tree(Bytes& in) {
  TreeBuilder builder{in};
  const Json tree = builder.value(0);
  const bool invalid_text = has_invalid_text(tree);
  std::string text;
  try {
    text = openamct::python_json_dumps(tree);
  } catch (const openamct::Error& e) {
    if (e.kind() != openamct::ErrorKind::kValue || !invalid_text)
      finding(std::string("the writer refused valid text: ") + e.what());
    return;
  }
  if (invalid_text) finding("the writer accepted text that is not UTF-8:\n" + text);
  for (char c : text)
    if (static_cast<unsigned char>(c) > 0x7e || (c < 0x20 && c != '\n'))
      finding("the writer wrote a byte outside printable ASCII:\n" + text);
  const Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) finding("the writer wrote text that is not JSON:\n" + text);
  if (!same_json(tree, parsed)) finding("the JSON round trip changed a value:\n" + text);
  if (openamct::python_json_dumps(parsed) != text)
    finding("writing the parsed tree gives other bytes:\n" + text);
}

// ---- mode 2: a QuantConfig -----------------------------------------------------------

double finite_double(Bytes& in) {
  const double d = in.raw<double>();
  return std::isfinite(d) ? d : 0.5;
}

openamct::QuantConfig make_config(Bytes& in) {
  openamct::QuantConfig c;
  c.version = in.raw<int64_t>();
  c.batch_num = in.raw<int64_t>();
  c.activation_offset = in.byte() & 1;
  c.do_fusion = in.byte() & 1;
  if (in.byte() & 1) c.fakequant_precision_mode = "FORCE_FP16_QUANT";
  for (int n = in.byte() % 4; n > 0; --n) c.skip_fusion_layers.push_back(in.text());
  static const std::set<std::string> kRoot = {"version",   "batch_num",
                                              "activation_offset", "do_fusion",
                                              "fakequant_precision_mode", "skip_fusion_layers"};
  std::set<std::string> names;
  for (int n = in.byte() % 8; n > 0 && !in.empty(); --n) {
    openamct::LayerQuantConfig l;
    l.name = in.text();
    if (kRoot.count(l.name) || !names.insert(l.name).second) continue;  // upstream rejects these
    const uint16_t present = in.raw<uint16_t>();
    l.quant_enable = present & 1;
    if (present & 2) l.dmq_balancer_param = finite_double(in);
    auto& a = l.activation;
    a.num_bits = in.raw<int64_t>();
    if (present & 4) a.max_percentile = finite_double(in);
    if (present & 8) a.min_percentile = finite_double(in);
    if (present & 16) a.search_range = std::array<double, 2>{finite_double(in), finite_double(in)};
    if (present & 32) a.search_step = finite_double(in);
    a.act_algo = (present & 64) ? openamct::ActAlgo::kHfmg : openamct::ActAlgo::kIfmr;
    if (present & 128) a.asymmetric = (present & 256) != 0;
    if (present & 512) a.num_of_bins = in.raw<int64_t>();
    if (present & 1024) {
      openamct::WeightQuantParams w;
      const uint8_t wp = in.byte();
      w.num_bits = in.raw<int64_t>();
      if (wp & 1) w.reg_param = finite_double(in);
      if (wp & 2) w.warm_start = finite_double(in);
      if (wp & 4) w.num_iteration = in.raw<int64_t>();
      if (wp & 8) w.beta_range = std::array<double, 2>{finite_double(in), finite_double(in)};
      if (wp & 16) w.channel_wise = (wp & 32) != 0;
      w.wts_algo = (wp & 64) ? openamct::WtsAlgo::kAda : openamct::WtsAlgo::kArq;
      l.weight = w;
    }
    c.layers.push_back(std::move(l));
  }
  return c;
}

// The keys `j` must have, in order, and the values under them.
void expect_keys(const Json& j, const std::vector<std::string>& keys, const std::string& where) {
  std::vector<std::string> got;
  for (const auto& item : j.items()) got.push_back(item.key());
  if (got != keys) finding("wrong keys in " + where);
}

void expect_double(const Json& j, double v, const std::string& where) {
  if (!j.is_number_float() || !same_bits(j.get<double>(), v)) finding("wrong number in " + where);
}

template <typename T>
void expect(const Json& j, const T& v, const std::string& where) {
  if (!(j == Json(v))) finding("wrong value in " + where);
}

void check_config(Bytes& in) {
  const openamct::QuantConfig c = make_config(in);
  std::string text;
  bool invalid = false;
  for (const auto& s : c.skip_fusion_layers) invalid |= !is_utf8(s);
  for (const auto& l : c.layers) invalid |= !is_utf8(l.name);
  try {
    text = openamct::to_config_text(c);
  } catch (const openamct::Error& e) {
    if (!invalid) finding(std::string("to_config_text refused a valid config: ") + e.what());
    return;
  }
  if (invalid) finding("to_config_text accepted a name that is not UTF-8");
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) finding("to_config_text wrote text that is not JSON:\n" + text);

  std::vector<std::string> root = {"version", "batch_num", "activation_offset", "do_fusion"};
  if (c.fakequant_precision_mode) root.push_back("fakequant_precision_mode");
  root.push_back("skip_fusion_layers");
  std::vector<const openamct::LayerQuantConfig*> sorted;
  for (const auto& l : c.layers) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const auto* l : sorted) root.push_back(l->name);
  expect_keys(j, root, "the root");
  expect(j.at("version"), c.version, "version");
  expect(j.at("batch_num"), c.batch_num, "batch_num");
  expect(j.at("activation_offset"), c.activation_offset, "activation_offset");
  expect(j.at("do_fusion"), c.do_fusion, "do_fusion");
  expect(j.at("skip_fusion_layers"), c.skip_fusion_layers, "skip_fusion_layers");

  for (const auto* l : sorted) {
    const Json& lj = j.at(l->name);
    std::vector<std::string> keys = {"quant_enable"};
    if (l->dmq_balancer_param) keys.push_back("dmq_balancer_param");
    keys.push_back("activation_quant_params");
    if (l->weight) keys.push_back("weight_quant_params");
    expect_keys(lj, keys, "layer " + l->name);
    expect(lj.at("quant_enable"), l->quant_enable, "quant_enable");
    if (l->dmq_balancer_param) expect_double(lj.at("dmq_balancer_param"), *l->dmq_balancer_param, "dmq");

    const auto& a = l->activation;
    const Json& aj = lj.at("activation_quant_params");
    std::vector<std::string> ak = {"num_bits"};
    if (a.max_percentile) ak.push_back("max_percentile");
    if (a.min_percentile) ak.push_back("min_percentile");
    if (a.search_range) ak.push_back("search_range");
    if (a.search_step) ak.push_back("search_step");
    ak.push_back("act_algo");
    if (a.asymmetric) ak.push_back("asymmetric");
    if (a.num_of_bins) ak.push_back("num_of_bins");
    expect_keys(aj, ak, "activation_quant_params of " + l->name);
    expect(aj.at("num_bits"), a.num_bits, "num_bits");
    if (a.max_percentile) expect_double(aj.at("max_percentile"), *a.max_percentile, "max_percentile");
    if (a.min_percentile) expect_double(aj.at("min_percentile"), *a.min_percentile, "min_percentile");
    if (a.search_range) {
      expect_double(aj.at("search_range")[0], (*a.search_range)[0], "search_range");
      expect_double(aj.at("search_range")[1], (*a.search_range)[1], "search_range");
    }
    if (a.search_step) expect_double(aj.at("search_step"), *a.search_step, "search_step");
    expect(aj.at("act_algo"), std::string(openamct::act_algo_name(a.act_algo)), "act_algo");
    if (a.asymmetric) expect(aj.at("asymmetric"), *a.asymmetric, "asymmetric");
    if (a.num_of_bins) expect(aj.at("num_of_bins"), *a.num_of_bins, "num_of_bins");

    if (!l->weight) continue;
    const auto& w = *l->weight;
    const Json& wj = lj.at("weight_quant_params");
    std::vector<std::string> wk = {"num_bits"};
    if (w.reg_param) wk.push_back("reg_param");
    if (w.warm_start) wk.push_back("warm_start");
    if (w.num_iteration) wk.push_back("num_iteration");
    if (w.beta_range) wk.push_back("beta_range");
    if (w.channel_wise) wk.push_back("channel_wise");
    wk.push_back("wts_algo");
    expect_keys(wj, wk, "weight_quant_params of " + l->name);
    expect(wj.at("num_bits"), w.num_bits, "num_bits");
    if (w.reg_param) expect_double(wj.at("reg_param"), *w.reg_param, "reg_param");
    if (w.warm_start) expect_double(wj.at("warm_start"), *w.warm_start, "warm_start");
    if (w.num_iteration) expect(wj.at("num_iteration"), *w.num_iteration, "num_iteration");
    if (w.beta_range) {
      expect_double(wj.at("beta_range")[0], (*w.beta_range)[0], "beta_range");
      expect_double(wj.at("beta_range")[1], (*w.beta_range)[1], "beta_range");
    }
    if (w.channel_wise) expect(wj.at("channel_wise"), *w.channel_wise, "channel_wise");
    expect(wj.at("wts_algo"), std::string(openamct::wts_algo_name(w.wts_algo)), "wts_algo");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  try {
    switch (in.byte() % 3) {
      case 0:
        check_number(in.raw<double>());
        check_float32(in.raw<float>());
        break;
      case 1:
        check_tree(in);
        break;
      default:
        check_config(in);
        break;
    }
  } catch (const std::exception& e) {
    finding(std::string("unexpected exception: ") + e.what());
  }
  return 0;
}
