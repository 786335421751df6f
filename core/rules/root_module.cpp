// Which root modules the reference cannot configure (root_module.h says why).
// The reference marks a module when its class is one of its marker types
// (parser.py SUPPORT_TYPES), a quantizable or retrainable type that passes the
// static checks (padding_mode 'zeros', Conv3d depth dilation 1, RNN limits),
// a fusable conv (Conv1d/2d/3d with padding_mode 'zeros'), or a pruning type
// (PRUNABLE_TYPES, PASSIVE_PRUNABLE_TYPES); this table is that union.
#include "rules/root_module.h"

#include <string_view>
#include <vector>

#include "openamct/errors.h"

namespace openamct {
namespace {

enum class MarkedWhen {
  kAlways,           // the class alone decides
  kZerosPadding,     // padding_mode 'zeros' (fusable conv / quantizable conv)
  kRnnLimitsHold,    // single layer, unidirectional, no dropout, no projection
};

struct MarkedType {
  std::string_view type_name;
  MarkedWhen when;
};

// clang-format off
const std::vector<MarkedType> kMarkedTypes = {
  // marker types: batch norms and activations
  {"BatchNorm2d", MarkedWhen::kAlways}, {"BatchNorm3d", MarkedWhen::kAlways},
  {"ReLU", MarkedWhen::kAlways}, {"ReLU6", MarkedWhen::kAlways},
  {"LeakyReLU", MarkedWhen::kAlways}, {"Sigmoid", MarkedWhen::kAlways},
  {"Tanh", MarkedWhen::kAlways}, {"Softmax", MarkedWhen::kAlways},
  // pruning types: whatever their settings
  {"Conv2d", MarkedWhen::kAlways}, {"Linear", MarkedWhen::kAlways},
  {"ConvTranspose2d", MarkedWhen::kAlways}, {"BatchNorm1d", MarkedWhen::kAlways},
  // quantizable types with no static constraint
  {"AvgPool2d", MarkedWhen::kAlways},
  // quantizable or fusable convs
  {"Conv1d", MarkedWhen::kZerosPadding}, {"Conv3d", MarkedWhen::kZerosPadding},
  {"ConvTranspose1d", MarkedWhen::kZerosPadding},
  // recurrent layers
  {"LSTM", MarkedWhen::kRnnLimitsHold}, {"GRU", MarkedWhen::kRnnLimitsHold},
};
// clang-format on

bool holds(MarkedWhen when, const ModuleRecord& m) {
  switch (when) {
    case MarkedWhen::kAlways: return true;
    case MarkedWhen::kZerosPadding: return m.padding_mode.empty() || m.padding_mode == "zeros";
    case MarkedWhen::kRnnLimitsHold:
      return m.num_layers == 1 && !m.bidirectional && m.dropout == 0.0 && m.proj_size == 0;
  }
  return false;
}

}  // namespace

void check_root_is_not_a_layer(const ModuleRecord& root, bool facts_known) {
  for (const auto& marked : kMarkedTypes) {
    if (marked.type_name != root.type_name) continue;
    if (marked.when != MarkedWhen::kAlways && !facts_known) return;
    if (!holds(marked.when, root)) return;
    throw_runtime_error(
        "model has no parent module. The model is itself a layer (" + root.type_name +
        "), which can only be configured inside a model: pass a container that holds it, "
        "e.g. torch.nn.Sequential(model).");
  }
}

}  // namespace openamct
