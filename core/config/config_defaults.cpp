// Default filling and the layer-selection checks shared by the default path
// (spec §4.1, §4.3) and the simple-config path (spec §5.5).
#include "config/config_defaults.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "openamct/errors.h"
#include "text/python_repr.h"

namespace openamct {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// " Did you mean 'layer1.0.conv1'?" when a module name is close enough.
std::string closest_name_hint(const std::string& name, const std::vector<ModuleEntry>& modules) {
  const ModuleEntry* best = nullptr;
  size_t best_d = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& m : modules) {
    if (m.name.empty()) continue;
    size_t d = edit_distance(name, m.name);
    if (d < best_d) best_d = d, best = &m;
  }
  return best ? " Did you mean " + python_str_repr(best->name) + "?" : "";
}

}  // namespace

void fill_layer_defaults(LayerQuantConfig& layer, const LayerCapability& cap) {
  ActivationQuantParams& a = layer.activation;
  if (a.act_algo == ActAlgo::kHfmg) {
    if (!a.num_of_bins) a.num_of_bins = defaults::kNumOfBins;
  } else {
    if (!a.max_percentile) a.max_percentile = defaults::kMaxPercentile;
    if (!a.min_percentile) a.min_percentile = defaults::kMinPercentile;
    if (!a.search_range) a.search_range = {defaults::kSearchRangeStart, defaults::kSearchRangeEnd};
    if (!a.search_step) a.search_step = defaults::kSearchStep;
  }
  if (layer.weight && !layer.weight->channel_wise) layer.weight->channel_wise = cap.channel_wise;
}

void check_no_repeated_items(const std::vector<std::string>& items, const std::string& what) {
  std::map<std::string, int> seen;
  std::vector<std::string> repeated;
  for (const auto& item : items)
    if (++seen[item] == 2) repeated.push_back(item);
  if (!repeated.empty())
    throw_value_error("Please delete repeated items in " + what + ", repeated items are " +
                      python_list_repr(repeated) + " ");
}

void check_skip_layers(const std::vector<ModuleEntry>& modules,
                       const std::vector<std::string>& skip_layers) {
  check_no_repeated_items(skip_layers, "skip_layers");
  std::unordered_map<std::string, const ModuleEntry*> by_name;
  for (const auto& m : modules) by_name.emplace(m.name, &m);
  for (const auto& name : skip_layers) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw_value_error("Layer " + name + " does not exist in the graph." +
                        closest_name_hint(name, modules));
    if (!find_capability(it->second->type_name))
      throw_value_error("Layer " + name + " does not support quantization. It is a " +
                        it->second->type_name + "; quantizable types are " +
                        python_list_repr(quantizable_type_names()) + ".");
  }
}

std::vector<const LayerDecision*> supported_layers(const std::vector<LayerDecision>& decisions) {
  std::vector<const LayerDecision*> out;
  for (const auto& d : decisions)
    if (d.supported()) out.push_back(&d);
  if (out.empty()) throw_value_error("No layer support quantization in the graph.");
  for (const auto* d : out)
    for (auto reserved : root_keys())
      if (d->name() == reserved)
        throw_value_error(d->name() + " is a global parameter, can not be a layer name");
  return out;
}

}  // namespace openamct
