#include "config/default_config.h"

#include <set>

#include "config/config_defaults.h"
#include "openamct/errors.h"
#include "openamct/log.h"

namespace openamct {

QuantConfig build_default_config(const std::vector<LayerDecision>& decisions,
                                 const std::vector<std::string>& skip_layers,
                                 int64_t batch_num, bool activation_offset) {
  const auto supported = supported_layers(decisions);
  const std::set<std::string> skip(skip_layers.begin(), skip_layers.end());
  bool any_enabled = false;
  for (const auto* d : supported) any_enabled |= !skip.count(d->name());
  if (!any_enabled) throw_value_error("Except skip_layers, no layer needs to quantize.");

  QuantConfig config;
  config.batch_num = batch_num;
  config.activation_offset = activation_offset;
  for (const auto* d : supported) {
    LayerQuantConfig layer;
    layer.name = d->name();
    layer.type_name = d->type_name();
    layer.quant_enable = !skip.count(d->name());
    layer.weight = WeightQuantParams{};
    fill_layer_defaults(layer, *d->capability);
    if (d->capability->symmetric_only) {
      layer.activation.asymmetric = false;
      log_info("Layer " + d->name() + " does not support asymmetric quant, set symmetric");
    } else {
      layer.activation.asymmetric = activation_offset;
    }
    config.layers.push_back(std::move(layer));
  }
  return config;
}

}  // namespace openamct
