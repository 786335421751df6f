// QuantConfig -> ordered JSON in the reference's key order (spec §4.2):
// the root keys in their fixed order, then the layers sorted by name. Byte
// order of UTF-8 equals code-point order, which is what Python's list.sort()
// uses on str.
#include "config/quant_config.h"

#include <algorithm>
#include <utility>

#include "openamct/errors.h"
#include "rules/capability_table.h"
#include "text/python_json.h"

namespace openamct {
namespace {

using Json = nlohmann::ordered_json;

const std::vector<std::string_view> kRootKeys = {
    "version", "batch_num", "activation_offset", "do_fusion",
    "fakequant_precision_mode", "skip_fusion_layers"};

// The algorithms' names in config files, one row each.
constexpr std::pair<ActAlgo, std::string_view> kActAlgoNames[] = {
    {ActAlgo::kIfmr, "ifmr"},
    {ActAlgo::kHfmg, "hfmg"},
};
constexpr std::pair<WtsAlgo, std::string_view> kWtsAlgoNames[] = {
    {WtsAlgo::kArq, "arq_quantize"},
    {WtsAlgo::kAda, "ada_quantize"},
};

template <typename Algo, std::size_t N>
std::string_view name_of(const std::pair<Algo, std::string_view> (&table)[N], Algo algo) {
  for (const auto& [a, name] : table)
    if (a == algo) return name;
  OPENAMCT_INTERNAL_ASSERT(false, "an algorithm without a name in quant_config.cpp");
  return {};
}

template <typename Algo, std::size_t N>
std::optional<Algo> from_name(const std::pair<Algo, std::string_view> (&table)[N],
                              std::string_view name) {
  for (const auto& [a, n] : table)
    if (n == name) return a;
  return std::nullopt;
}

// An empty object with room for `capacity` members, so that adding them
// never moves the members already there (each move copies the key: the
// member's key is const).
Json object_with_room(std::size_t capacity) {
  Json j = Json::object();
  j.get_ref<Json::object_t&>().reserve(capacity);
  return j;
}

// Appends a member. ordered_json's operator[] would first scan the object
// for the key and build the key string twice; the keys written here are
// fixed and never repeat within an object.
void add(Json& object, const char* key, Json value) {
  object.get_ref<Json::object_t&>().emplace_back(key, std::move(value));
}

Json pair_json(const std::array<double, 2>& p) { return Json::array({p[0], p[1]}); }

Json activation_json(const ActivationQuantParams& a) {
  Json j = object_with_room(8);
  add(j, "num_bits", a.num_bits);
  if (a.max_percentile) add(j, "max_percentile", *a.max_percentile);
  if (a.min_percentile) add(j, "min_percentile", *a.min_percentile);
  if (a.search_range) add(j, "search_range", pair_json(*a.search_range));
  if (a.search_step) add(j, "search_step", *a.search_step);
  add(j, "act_algo", std::string(act_algo_name(a.act_algo)));
  if (a.asymmetric) add(j, "asymmetric", *a.asymmetric);
  if (a.num_of_bins) add(j, "num_of_bins", *a.num_of_bins);
  return j;
}

Json weight_json(const WeightQuantParams& w) {
  Json j = object_with_room(7);
  add(j, "num_bits", w.num_bits);
  if (w.reg_param) add(j, "reg_param", *w.reg_param);
  if (w.warm_start) add(j, "warm_start", *w.warm_start);
  if (w.num_iteration) add(j, "num_iteration", *w.num_iteration);
  if (w.beta_range) add(j, "beta_range", pair_json(*w.beta_range));
  if (w.channel_wise) add(j, "channel_wise", *w.channel_wise);
  add(j, "wts_algo", std::string(wts_algo_name(w.wts_algo)));
  return j;
}

Json layer_json(const LayerQuantConfig& l) {
  Json j = object_with_room(4);
  add(j, "quant_enable", l.quant_enable);
  if (l.dmq_balancer_param) add(j, "dmq_balancer_param", *l.dmq_balancer_param);
  add(j, "activation_quant_params", activation_json(l.activation));
  if (l.weight) add(j, "weight_quant_params", weight_json(*l.weight));
  return j;
}

}  // namespace

const std::vector<std::string_view>& root_keys() { return kRootKeys; }

std::string_view act_algo_name(ActAlgo algo) { return name_of(kActAlgoNames, algo); }
std::string_view wts_algo_name(WtsAlgo algo) { return name_of(kWtsAlgoNames, algo); }
std::optional<ActAlgo> act_algo_from_name(std::string_view name) {
  return from_name(kActAlgoNames, name);
}
std::optional<WtsAlgo> wts_algo_from_name(std::string_view name) {
  return from_name(kWtsAlgoNames, name);
}

nlohmann::ordered_json to_ordered_json(const QuantConfig& config) {
  Json root = object_with_room(6 + config.layers.size());
  add(root, "version", config.version);
  add(root, "batch_num", config.batch_num);
  add(root, "activation_offset", config.activation_offset);
  add(root, "do_fusion", config.do_fusion);
  if (config.fakequant_precision_mode)
    add(root, "fakequant_precision_mode", *config.fakequant_precision_mode);
  add(root, "skip_fusion_layers", config.skip_fusion_layers);

  std::vector<const LayerQuantConfig*> layers;
  layers.reserve(config.layers.size());
  for (const auto& l : config.layers) layers.push_back(&l);
  std::sort(layers.begin(), layers.end(),
            [](const LayerQuantConfig* a, const LayerQuantConfig* b) { return a->name < b->name; });
  // Appended, not looked up: ordered_json finds a key by a linear scan, which
  // made root[name] quadratic (minutes for 100,000 layers). Layer names are
  // unique module names and never a root key (supported_layers checks).
  auto& members = root.get_ref<Json::object_t&>();
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string& name = layers[i]->name;
    OPENAMCT_INTERNAL_ASSERT(i == 0 || layers[i - 1]->name != name,
                             "two layers of the config are named " + name);
    OPENAMCT_INTERNAL_ASSERT(std::find(kRootKeys.begin(), kRootKeys.end(), name) ==
                                 kRootKeys.end(),
                             "layer " + name + " is named like a root key");
    members.emplace_back(name, layer_json(*layers[i]));
  }
  return root;
}

std::string to_config_text(const QuantConfig& config) {
  if (config.batch_num_digits.empty()) return python_json_dumps(to_ordered_json(config));
  // JSON values here are int64 at most: write 0 and put the digits in its
  // place, which is fixed (the second root key; no layer is named batch_num).
  QuantConfig zero = config;
  zero.batch_num = 0;
  std::string text = python_json_dumps(to_ordered_json(zero));
  const std::string key = "\"batch_num\":0,";
  const size_t at = text.find(key);
  OPENAMCT_INTERNAL_ASSERT(at != std::string::npos, "no batch_num in the config text");
  text.replace(at + key.size() - 2, 1, config.batch_num_digits);
  return text;
}

}  // namespace openamct
