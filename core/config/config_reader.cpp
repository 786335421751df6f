// The hand-edited config reader (spec §3), in the reference's order:
//   1. JSON (python_json_reader: Python's json.load, repeated keys rejected);
//   2. per module-named entry: INT16 capability, then (enabled layers)
//      the symmetric-only rule;
//   3. every root key in file order: root parameters typed and checked, layer
//      entries typed key by key (TypeError / "Unknown parameter") and then
//      checked by config_validation (the same checks create_quant_config's
//      simple-config path uses);
//   4-5. defaults, fallback of `asymmetric` to the root, enabled layers kept
//      in module order.
#include "config/config_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config_defaults.h"
#include "config/config_validation.h"
#include "config/python_json_reader.h"
#include "config/quant_config.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "rules/capability_table.h"
#include "rules/layer_verdict.h"

namespace openamct {
namespace {

constexpr char kActParams[] = "activation_quant_params";
constexpr char kWtsParams[] = "weight_quant_params";

// The model as the reader sees it: every module by name, and the verdict of
// each module of a quantizable type.
struct ModelView {
  const LayerTable& table;
  std::vector<LayerDecision> decisions;
  std::unordered_map<std::string, const ModuleRecord*> modules;
  std::unordered_map<std::string, const LayerDecision*> layers;

  explicit ModelView(const LayerTable& t) : table(t), decisions(analyse_layers(t)) {
    for (const auto& m : t.modules) modules.emplace(m.name, &m);
    for (const auto& d : decisions) layers.emplace(d.name(), &d);
  }
  const LayerDecision* supported(const std::string& name) const {
    auto it = layers.find(name);
    return it != layers.end() && it->second->supported() ? it->second : nullptr;
  }
};

bool is_root_parameter(const std::string& key) {
  for (auto name : root_keys())
    if (key == name) return true;
  return false;
}

// Python truthiness of a JSON value (`.get('quant_enable', False)`).
bool truthy(const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Kind::kNull: return false;
    case JsonValue::Kind::kBool: return v.boolean;
    case JsonValue::Kind::kInt: return v.number != 0.0 || v.integer != 0;
    case JsonValue::Kind::kFloat: return v.number != 0.0;  // NaN is truthy
    case JsonValue::Kind::kString: return !v.text.empty();
    case JsonValue::Kind::kArray: return !v.items.empty();
    case JsonValue::Kind::kObject: return !v.members.empty();
  }
  return false;
}

// ---- typed values; `where` is "" at the root, " in layer <n>" in a layer ------

[[noreturn]] void type_error(const std::string& key, const std::string& expected,
                             const JsonValue& v, const std::string& where) {
  throw_type_error("Type of " + key + " should be " + expected + ", but is " + v.python_type() +
                   where);
}

int64_t as_int(const JsonValue& v, const std::string& key, const std::string& where) {
  if (!v.is_python_int()) type_error(key, "<class 'int'>", v, where);
  return v.kind == JsonValue::Kind::kBool ? (v.boolean ? 1 : 0) : v.integer;
}

bool as_bool(const JsonValue& v, const std::string& key, const std::string& where) {
  if (v.kind != JsonValue::Kind::kBool) type_error(key, "<class 'bool'>", v, where);
  return v.boolean;
}

// A real number: int or float, not a bool.
double as_number(const JsonValue& v, const std::string& key, const std::string& where) {
  if (!v.is_number()) type_error(key, "<class 'float'>", v, where);
  return v.number;
}

// dmq_balancer_param: a float only (an int is a TypeError, spec §3.2).
double as_float(const JsonValue& v, const std::string& key, const std::string& where) {
  if (v.kind != JsonValue::Kind::kFloat) type_error(key, "<class 'float'>", v, where);
  return v.number;
}

std::array<double, 2> as_pair(const JsonValue& v, const std::string& message,
                              const std::string& where) {
  if (v.kind != JsonValue::Kind::kArray || v.items.size() != 2 || !v.items[0].is_number() ||
      !v.items[1].is_number())
    throw_value_error(message + where);
  return {v.items[0].number, v.items[1].number};
}

// ---- step 2 -----------------------------------------------------------------------------

// The reference reads `entry.get('activation_quant_params').get('num_bits')`
// here and fails with an AttributeError on an entry without that object (K7);
// D12 makes it a ValueError naming the layer and the key.
const JsonValue& activation_object(const std::string& layer, const JsonValue& entry) {
  const JsonValue* act = entry.find(kActParams);
  if (!act)
    throw_value_error(std::string(kActParams) + " is missing in layer " + layer +
                      ": every layer entry needs an \"" + kActParams +
                      "\" object, as create_quant_config writes it");
  if (act->kind != JsonValue::Kind::kObject)
    throw_value_error("Type of " + std::string(kActParams) + " should be <class 'dict'>, but is " +
                      act->python_type() + " in layer " + layer);
  return *act;
}

std::unordered_set<std::string> check_capabilities(const JsonValue& root, const ModelView& model) {
  std::unordered_set<std::string> enabled;
  for (const auto& [key, entry] : root.members) {
    if (is_root_parameter(key) || !model.modules.count(key) ||
        entry.kind != JsonValue::Kind::kObject)
      continue;
    const JsonValue& act = activation_object(key, entry);
    const JsonValue* bits = act.find("num_bits");
    // `== 16` in Python: 16 and 16.0 are equal to it, True is not.
    if (bits && bits->is_number() && bits->number == 16.0) {
      const LayerDecision* d = model.supported(key);
      if (!d || !supports_int16(*d))
        throw_value_error("current layer " + key + " does not support int16 quant.");
    }
    const JsonValue* enable = entry.find("quant_enable");
    if (enable && truthy(*enable)) {
      auto it = model.layers.find(key);
      const JsonValue* asym = act.find("asymmetric");
      if (it != model.layers.end() && it->second->capability->symmetric_only && asym &&
          asym->kind == JsonValue::Kind::kBool && asym->boolean)
        throw_value_error("current layer " + key + " only support act symmetric quant.");
      enabled.insert(key);
    }
  }
  return enabled;
}

// ---- step 3: the root parameters ------------------------------------------------

struct RootValues {
  QuantConfig config;  // version, batch_num, ... as read; layers unused
  bool fakequant_force_fp16 = false;
};

void read_root_parameter(const std::string& key, const JsonValue& v, RootValues& out,
                         const std::vector<ModuleEntry>& modules) {
  QuantConfig& c = out.config;
  QuantConfig one;  // only this key set: validate_root checks just it
  if (key == "version") {
    one.version = c.version = as_int(v, key, "");
  } else if (key == "batch_num") {
    one.batch_num = c.batch_num = as_int(v, key, "");
  } else if (key == "activation_offset") {
    c.activation_offset = as_bool(v, key, "");
  } else if (key == "do_fusion") {
    c.do_fusion = as_bool(v, key, "");
  } else if (key == "fakequant_precision_mode") {
    one.fakequant_precision_mode = v.python_str();
    out.fakequant_force_fp16 = v.kind == JsonValue::Kind::kString && v.text == "FORCE_FP16_QUANT";
  } else if (key == "skip_fusion_layers") {
    if (v.kind != JsonValue::Kind::kArray) type_error(key, "<class 'list'>", v, "");
    for (const auto& item : v.items) {
      if (item.kind != JsonValue::Kind::kString)
        type_error("skip_fusion_layers's item", "<class 'str'>", item, "");
      one.skip_fusion_layers.push_back(item.text);
    }
    c.skip_fusion_layers = one.skip_fusion_layers;
  }
  validate_root(one, modules);
}

// ---- step 3: a layer entry --------------------------------------------------------

void read_activation(const JsonValue& obj, ActivationQuantParams& a, bool& act_algo_given,
                     const std::string& layer_name, const std::string& where) {
  for (const auto& [key, v] : obj.members) {
    if (key == "num_bits") {
      a.num_bits = as_int(v, key, where);
    } else if (key == "max_percentile") {
      a.max_percentile = as_number(v, key, where);
    } else if (key == "min_percentile") {
      a.min_percentile = as_number(v, key, where);
    } else if (key == "search_range") {
      a.search_range = as_pair(v, "The search_range must have two floating-point number", where);
    } else if (key == "search_step") {
      a.search_step = as_number(v, key, where);
    } else if (key == "act_algo") {
      a.act_algo = read_act_algo(v.python_str(), layer_name);
      act_algo_given = true;
    } else if (key == "asymmetric") {
      a.asymmetric = as_bool(v, key, where);
    } else if (key == "num_of_bins") {
      a.num_of_bins = as_int(v, key, where);
    } else {
      throw_value_error("Unknown parameter " + key + " in " + kActParams + where);
    }
  }
  if (!act_algo_given) a.act_algo = a.num_of_bins ? ActAlgo::kHfmg : ActAlgo::kIfmr;
}

void read_weight(const JsonValue& obj, WeightQuantParams& w, const std::string& layer_name,
                 const std::string& where) {
  if (const JsonValue* algo = obj.find("wts_algo"))
    w.wts_algo = read_wts_algo(algo->python_str(), layer_name);
  for (const auto& [key, v] : obj.members) {
    if (key == "num_bits") {
      w.num_bits = as_int(v, key, where);
    } else if (key == "wts_algo") {
      continue;
    } else if (key == "channel_wise") {
      w.channel_wise = as_bool(v, key, where);
    } else if (key == "num_iteration" && w.wts_algo == WtsAlgo::kAda) {
      w.num_iteration = as_int(v, key, where);
    } else if (key == "reg_param" && w.wts_algo == WtsAlgo::kAda) {
      w.reg_param = as_number(v, key, where);
    } else if (key == "warm_start" && w.wts_algo == WtsAlgo::kAda) {
      w.warm_start = as_number(v, key, where);
    } else if (key == "beta_range" && w.wts_algo == WtsAlgo::kAda) {
      w.beta_range = as_pair(v, "The beta_range must have two floating-point number", where);
    } else {
      throw_value_error(key + " is not valid param of quantize " +
                        std::string(wts_algo_name(w.wts_algo)) + where);
    }
  }
}

LayerQuantConfig read_layer(const std::string& name, const LayerDecision& decision,
                            const JsonValue& entry) {
  const std::string where = " in layer " + name;
  if (entry.kind != JsonValue::Kind::kObject) type_error(name, "<class 'dict'>", entry, "");
  LayerQuantConfig layer;
  layer.name = name;
  layer.type_name = decision.type_name();
  layer.quant_enable = false;
  layer.weight = WeightQuantParams{};
  bool act_algo_given = false;
  for (const auto& [key, v] : entry.members) {
    if (key == "quant_enable") {
      layer.quant_enable = as_bool(v, key, where);
    } else if (key == "dmq_balancer_param") {
      layer.dmq_balancer_param = as_float(v, key, where);
    } else if (key == kActParams) {
      read_activation(v, layer.activation, act_algo_given, name, where);
    } else if (key == kWtsParams) {
      if (v.kind != JsonValue::Kind::kObject) type_error(key, "<class 'dict'>", v, where);
      read_weight(v, *layer.weight, name, where);
    } else {
      throw_value_error("Unknown parameter " + key + where);
    }
  }
  validate_layer_values(layer);
  return layer;
}

// ---- steps 4-5 -----------------------------------------------------------------------

LayerCalibrationSettings resolve(const LayerQuantConfig& in, const LayerCapability& cap,
                                 bool activation_offset) {
  LayerQuantConfig layer = in;
  fill_layer_defaults(layer, cap);
  const ActivationQuantParams& a = layer.activation;
  const WeightQuantParams& w = *layer.weight;
  LayerCalibrationSettings s;
  s.name = layer.name;
  s.type_name = layer.type_name;
  s.act_num_bits = static_cast<int>(a.num_bits);
  s.asymmetric = a.asymmetric.value_or(activation_offset);
  s.act_algo = a.act_algo;
  if (a.act_algo == ActAlgo::kIfmr) {
    s.max_percentile = *a.max_percentile;
    s.min_percentile = *a.min_percentile;
    s.search_range_start = (*a.search_range)[0];
    s.search_range_end = (*a.search_range)[1];
    s.search_step = *a.search_step;
  } else {
    s.num_of_bins = static_cast<int>(*a.num_of_bins);
  }
  s.wts_num_bits = static_cast<int>(w.num_bits);
  s.wts_algo = w.wts_algo;
  s.channel_wise = w.channel_wise.value_or(cap.channel_wise);
  if (w.wts_algo == WtsAlgo::kAda) {
    s.num_iteration = w.num_iteration.value_or(defaults::kAdaNumIteration);
    s.reg_param = w.reg_param.value_or(defaults::kAdaRegParam);
    s.warm_start = w.warm_start.value_or(defaults::kAdaWarmStart);
    const auto beta = w.beta_range.value_or(
        std::array<double, 2>{defaults::kAdaBetaRangeStart, defaults::kAdaBetaRangeEnd});
    s.beta_range_start = beta[0];
    s.beta_range_end = beta[1];
  }
  s.dmq_balancer_param = layer.dmq_balancer_param;
  return s;
}

}  // namespace

CalibrationSettings read_calibration_config(const std::string& text,
                                            const std::string& config_path,
                                            const LayerTable& table) {
  // 1. JSON, repeated keys rejected.
  const JsonValue root = parse_python_json(text, config_path);
  if (root.kind != JsonValue::Kind::kObject)
    throw_value_error("The config file " + config_path + " must hold a JSON object, not " +
                      root.python_type() + "; create_quant_config writes one");
  const ModelView model(table);
  const std::vector<ModuleEntry> modules = table.entries();

  // 2. INT16 capability and symmetric-only layers.
  const std::unordered_set<std::string> enabled = check_capabilities(root, model);

  // 3. Every key, in file order.
  RootValues root_values;
  std::unordered_map<std::string, LayerQuantConfig> layers;
  for (const auto& [key, value] : root.members) {
    if (is_root_parameter(key)) {
      read_root_parameter(key, value, root_values, modules);
      continue;
    }
    if (!model.modules.count(key)) throw_value_error(key + " is an invalid layer name or parameter.");
    const LayerDecision* decision = model.supported(key);
    if (!decision) throw_value_error("layer " + key + " does not support quant.");
    layers.emplace(key, read_layer(key, *decision, value));
  }

  // 4-5. Defaults; enabled layers in module order.
  CalibrationSettings out;
  const QuantConfig& c = root_values.config;
  out.batch_num = c.batch_num;
  out.activation_offset = c.activation_offset;
  out.do_fusion = c.do_fusion;
  out.force_fp16_quant = root_values.fakequant_force_fp16;
  out.skip_fusion_layers = c.skip_fusion_layers;
  for (const auto& d : model.decisions) {
    auto it = layers.find(d.name());
    if (it == layers.end() || !enabled.count(d.name()) || !it->second.quant_enable) continue;
    out.layers.push_back(resolve(it->second, *d.capability, c.activation_offset));
  }
  if (out.layers.empty()) {
    const std::string message =
        "No quant enable layer in quant config file, please check the quant config file.";
    log(LogLevel::kError, message);
    throw_runtime_error(message);
  }
  return out;
}

CalibrationSettings read_calibration_config_file(const std::string& config_path,
                                                 const LayerTable& table) {
  const int fd = ::open(config_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw Error(ErrorKind::kOS, "file (" + config_path + ") does not exist!");
    throw Error(ErrorKind::kOS, "[Errno " + std::to_string(err) + "] " + std::strerror(err) +
                                    ": '" + config_path + "'");
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorKind::kOS, "[Errno " + std::to_string(err) + "] " + std::strerror(err) +
                                      ": '" + config_path + "'");
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return read_calibration_config(text, config_path, table);
}

}  // namespace openamct
