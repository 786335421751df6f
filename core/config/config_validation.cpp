// The reference's field checks (spec §5.6), on the typed config. Each check
// keeps the reference's exception kind and message; the order is the order
// of the keys in the written file, which is the order the reference checks a
// config it assembled itself.
#include "config/config_validation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "config/config_defaults.h"
#include "openamct/errors.h"
#include "rules/capability_table.h"
#include "text/python_decimal.h"
#include "text/python_repr.h"

namespace openamct {
namespace {

// ---- messages ------------------------------------------------------------------

[[noreturn]] void fail_in_layer(ErrorKind kind, const std::string& message,
                                const LayerQuantConfig& layer) {
  throw Error(kind, message + " in layer " + layer.name);
}

void check_layer_value(bool ok, const std::string& message, const LayerQuantConfig& layer) {
  if (!ok) fail_in_layer(ErrorKind::kValue, message, layer);
}

bool in_open_unit_interval(double v) { return v > 0.0 && v < 1.0; }

void validate_activation(const ActivationQuantParams& a, const LayerQuantConfig& layer) {
  const bool ifmr_keys = a.max_percentile || a.min_percentile || a.search_range ||
                         a.search_step || a.act_algo == ActAlgo::kIfmr;
  const bool hfmg_keys = a.num_of_bins || a.act_algo == ActAlgo::kHfmg;
  check_layer_value(!(ifmr_keys && hfmg_keys),
                    "['search_step', 'search_range', 'min_percentile', 'max_percentile'] and "
                    "['num_of_bins'] can not appear at same time",
                    layer);
  check_layer_value(a.num_bits == 4 || a.num_bits == 8 || a.num_bits == 16,
                    "activation num_bits is not in [4, 8, 16]", layer);
  for (const auto& [name, value] :
       {std::pair<const char*, const std::optional<double>&>{"max_percentile", a.max_percentile},
        {"min_percentile", a.min_percentile}}) {
    if (value)
      check_layer_value(*value > 0.5 && *value <= 1.0,
                        std::string("The ") + name +
                            " must be greater than 0.5 and less than or equal to 1.0",
                        layer);
  }
  const std::array<double, 2> range = a.search_range.value_or(
      std::array<double, 2>{defaults::kSearchRangeStart, defaults::kSearchRangeEnd});
  if (a.search_range) {
    check_layer_value(range[0] > 0.0, "search_range[0] must be greater than zero", layer);
    check_layer_value(range[0] < range[1], "search_range[0] must be less than search_range[1]",
                      layer);
  }
  if (a.search_step) {
    check_layer_value(*a.search_step > 0.0, "The search_step must be greater than zero", layer);
    check_layer_value(search_step_fits_range(*a.search_step, range[0], range[1]),
                      "The search_step must be less than or equal to "
                      "(search_range[1] - search_range[0])",
                      layer);
  }
  if (a.num_of_bins) {
    const int64_t bins = *a.num_of_bins;
    check_layer_value(bins == 1024 || bins == 2048 || bins == 4096 || bins == 8192,
                      "num_of_bins " + std::to_string(bins) +
                          " must be in [1024, 2048, 4096, 8192]",
                      layer);
  }
}

void validate_weight(const WeightQuantParams& w, const LayerQuantConfig& layer) {
  const bool ada = w.wts_algo == WtsAlgo::kAda;
  if (!ada) {
    for (const auto& [key, present] :
         {std::pair<const char*, bool>{"reg_param", w.reg_param.has_value()},
          {"warm_start", w.warm_start.has_value()},
          {"num_iteration", w.num_iteration.has_value()},
          {"beta_range", w.beta_range.has_value()}}) {
      check_layer_value(!present,
                        std::string(key) + " is not valid param of quantize " +
                            std::string(wts_algo_name(w.wts_algo)),
                        layer);
    }
  }
  check_layer_value(w.num_bits == 4 || w.num_bits == 6 || w.num_bits == 7 || w.num_bits == 8,
                    "weight num_bits is not in [4, 6, 7, 8]", layer);
  if (w.reg_param)
    check_layer_value(in_open_unit_interval(*w.reg_param),
                      "reg_param must be less than 1 and larger than 0", layer);
  if (w.warm_start)
    check_layer_value(in_open_unit_interval(*w.warm_start),
                      "warm_start must be less than 1 and larger than 0", layer);
  if (w.num_iteration)
    check_layer_value(*w.num_iteration >= 0, "num_iteration must be larger or equal to 0", layer);
  if (w.beta_range) {
    const auto& b = *w.beta_range;
    check_layer_value(b[0] > b[1], "beta_range beta_range_start must large than beta_range_end",
                      layer);
    check_layer_value(b[1] > 0.0, "beta_range beta_range_end must large than 0", layer);
  }
  if (w.channel_wise && *w.channel_wise) {
    const LayerCapability* cap = find_capability(layer.type_name);
    check_layer_value(cap && cap->channel_wise,
                      "The channel_wise must be False for layer type " + layer.type_name, layer);
  }
}

}  // namespace

ActAlgo read_act_algo(std::string_view name, const std::string& layer_name) {
  if (auto algo = act_algo_from_name(name)) return *algo;
  throw_value_error("act_algo must be ifmr or hfmg in layer " + layer_name);
}

WtsAlgo read_wts_algo(std::string_view name, const std::string& layer_name) {
  if (auto algo = wts_algo_from_name(name)) return *algo;
  throw_value_error("wts_algo must be arq_quantize or ada_quantize in layer " + layer_name);
}

bool search_step_fits_range(double step, double start, double end) {
  if (!std::isfinite(step) || !std::isfinite(start) || !std::isfinite(end))
    return step <= end - start;
  const PythonDecimal difference =
      decimal_subtract(decimal_from_float_str(end), decimal_from_float_str(start));
  return decimal_compare(decimal_from_float_str(step), difference) <= 0;
}

void validate_root(const QuantConfig& config, const std::vector<ModuleEntry>& modules) {
  if (config.version != defaults::kVersion) throw_value_error("The version must be 1.");
  if (config.batch_num <= 0) throw_value_error("The batch_num must be greater than zero.");
  if (config.fakequant_precision_mode && *config.fakequant_precision_mode != "DEFAULT" &&
      *config.fakequant_precision_mode != "FORCE_FP16_QUANT")
    throw_value_error(
        "Type of fakequant_precision_mode should be ['DEFAULT', 'FORCE_FP16_QUANT'], but is " +
        *config.fakequant_precision_mode);

  check_no_repeated_items(config.skip_fusion_layers, "skip_fusion_layers");
  std::unordered_map<std::string, const ModuleEntry*> by_name;
  for (const auto& m : modules) by_name.emplace(m.name, &m);
  for (const auto& name : config.skip_fusion_layers) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw_value_error("Layer \"" + name + "\" in skip_fusion_layers does not exist in the graph.");
    const LayerCapability* cap = find_capability(it->second->type_name);
    if (!cap || !cap->fusable)
      throw_value_error("Skip fusion layer \"" + name + "\"'s type not in supported list " +
                        python_list_repr(fusable_type_names()));
  }
}

namespace {

// The module names and the supported layer names, looked up once per layer:
// a scan per layer made a config of 100,000 layers take minutes.
struct LayerNames {
  std::unordered_set<std::string_view> modules;
  std::unordered_set<std::string_view> supported;
  LayerNames(const std::vector<ModuleEntry>& module_list,
             const std::vector<LayerDecision>& decisions) {
    for (const auto& m : module_list) modules.insert(m.name);
    for (const auto& d : decisions)
      if (d.supported()) supported.insert(d.name());
  }
};

void check_layer_name(const std::string& name, const LayerNames& names) {
  if (!names.modules.count(name)) throw_value_error(name + " is an invalid layer name or parameter.");
  if (!names.supported.count(name)) throw_value_error("layer " + name + " does not support quant.");
}

}  // namespace

void validate_layer_name(const std::string& name, const std::vector<ModuleEntry>& modules,
                         const std::vector<LayerDecision>& decisions) {
  check_layer_name(name, LayerNames(modules, decisions));
}

void validate_layer_values(const LayerQuantConfig& layer) {
  if (layer.dmq_balancer_param) {
    const double v = *layer.dmq_balancer_param;
    check_layer_value(v >= 0.2 && v <= 0.8, "The dmq_balancer_param must be in range [0.2, 0.8]",
                      layer);
  }
  validate_activation(layer.activation, layer);
  if (layer.weight) validate_weight(*layer.weight, layer);
}

void validate_quant_config(const QuantConfig& config, const std::vector<ModuleEntry>& modules,
                           const std::vector<LayerDecision>& decisions) {
  validate_root(config, modules);
  const LayerNames names(modules, decisions);
  for (const auto& layer : config.layers) {
    check_layer_name(layer.name, names);
    validate_layer_values(layer);
  }
}

}  // namespace openamct
