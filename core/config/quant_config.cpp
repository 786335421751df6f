// QuantConfig -> ordered JSON in the reference's key order (spec §4.2):
// the root keys in their fixed order, then the layers sorted by name. Byte
// order of UTF-8 equals code-point order, which is what Python's list.sort()
// uses on str.
#include "config/quant_config.h"

#include <algorithm>

#include "config/python_json.h"
#include "openamct/errors.h"
#include "rules/capability_table.h"

namespace openamct {
namespace {

using Json = nlohmann::ordered_json;

Json pair_json(const std::array<double, 2>& p) { return Json::array({p[0], p[1]}); }

Json activation_json(const ActivationQuantParams& a) {
  Json j = Json::object();
  j["num_bits"] = a.num_bits;
  if (a.max_percentile) j["max_percentile"] = *a.max_percentile;
  if (a.min_percentile) j["min_percentile"] = *a.min_percentile;
  if (a.search_range) j["search_range"] = pair_json(*a.search_range);
  if (a.search_step) j["search_step"] = *a.search_step;
  j["act_algo"] = a.act_algo;
  if (a.asymmetric) j["asymmetric"] = *a.asymmetric;
  if (a.num_of_bins) j["num_of_bins"] = *a.num_of_bins;
  return j;
}

Json weight_json(const WeightQuantParams& w) {
  Json j = Json::object();
  j["num_bits"] = w.num_bits;
  if (w.reg_param) j["reg_param"] = *w.reg_param;
  if (w.warm_start) j["warm_start"] = *w.warm_start;
  if (w.num_iteration) j["num_iteration"] = *w.num_iteration;
  if (w.beta_range) j["beta_range"] = pair_json(*w.beta_range);
  if (w.channel_wise) j["channel_wise"] = *w.channel_wise;
  j["wts_algo"] = w.wts_algo;
  return j;
}

Json layer_json(const LayerQuantConfig& l) {
  Json j = Json::object();
  j["quant_enable"] = l.quant_enable;
  if (l.dmq_balancer_param) j["dmq_balancer_param"] = *l.dmq_balancer_param;
  j["activation_quant_params"] = activation_json(l.activation);
  if (l.weight) j["weight_quant_params"] = weight_json(*l.weight);
  return j;
}

}  // namespace

nlohmann::ordered_json to_ordered_json(const QuantConfig& config) {
  Json root = Json::object();
  root["version"] = config.version;
  root["batch_num"] = config.batch_num;
  root["activation_offset"] = config.activation_offset;
  root["do_fusion"] = config.do_fusion;
  if (config.fakequant_precision_mode) root["fakequant_precision_mode"] = *config.fakequant_precision_mode;
  root["skip_fusion_layers"] = config.skip_fusion_layers;

  std::vector<const LayerQuantConfig*> layers;
  layers.reserve(config.layers.size());
  for (const auto& l : config.layers) layers.push_back(&l);
  std::sort(layers.begin(), layers.end(),
            [](const LayerQuantConfig* a, const LayerQuantConfig* b) { return a->name < b->name; });
  // Appended, not looked up: ordered_json finds a key by a linear scan, which
  // made root[name] quadratic (minutes for 100,000 layers). Layer names are
  // unique module names and never a root key (supported_layers checks).
  auto& members = root.get_ref<Json::object_t&>();
  members.reserve(members.size() + layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string& name = layers[i]->name;
    OPENAMCT_INTERNAL_ASSERT(i == 0 || layers[i - 1]->name != name,
                             "two layers of the config are named " + name);
    OPENAMCT_INTERNAL_ASSERT(std::find(reserved_global_names().begin(),
                                       reserved_global_names().end(),
                                       name) == reserved_global_names().end(),
                             "layer " + name + " is named like a root key");
    members.emplace_back(name, layer_json(*layers[i]));
  }
  return root;
}

std::string to_config_text(const QuantConfig& config) {
  return python_json_dumps(to_ordered_json(config));
}

}  // namespace openamct
