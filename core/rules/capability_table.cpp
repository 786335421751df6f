// The capability table as data. One row per quantizable class; the columns
// are documented in capability_table.h. Sources: the reference's
// capacity_config.csv (QUANTIZABLE_TYPES, INT16_QUANTIZABLE_TYPES,
// CHANNEL_WISE_TYPES, FUSE_TYPES, ADA_ROUND_TYPES), check.py (symmetric-only
// Conv3d, winograd Conv2d, DMQ lists, INT4 packing axes) and deviation D4.
// LSTM and GRU check no input rank: the reference maps an RNN's name straight
// to its RNN node, before it looks for the Unsqueeze that marks a reduced
// input, so an unbatched (2-D) call keeps the layer.
#include "rules/capability_table.h"

namespace openamct {
namespace {

// clang-format off
const std::vector<LayerCapability> kTable = {
//  type               pad    dil0   rank shared rnn    | chw    sym    i16    i16b   dmqL   dmqT   ada    wino   fuse  | int4 axis, groups
  {"Conv2d",          true,  false, 4,   true,  false,  true,  false, true,  false, true,  true,  true,  true,  true,   1, true},
  {"Conv3d",          true,  true,  5,   true,  false,  true,  true,  false, false, true,  true,  false, false, true,   1, true},
  {"Linear",          false, false, 0,   true,  false,  false, false, true,  true,  true,  true,  true,  false, false,  1, false},
  {"ConvTranspose2d", true,  false, 4,   true,  false,  true,  false, true,  false, true,  true,  true,  false, false,  0, true},
  {"AvgPool2d",       false, false, 0,   false, false,  false, false, false, false, false, false, false, false, false, -1, false},
  {"Conv1d",          true,  false, 3,   true,  false,  true,  false, true,  false, true,  true,  false, false, true,   1, true},
  {"ConvTranspose1d", true,  false, 3,   true,  false,  true,  false, true,  false, true,  true,  false, false, false,  0, true},
  {"GRU",             false, false, 0,   false, true,   true,  false, true,  false, true,  false, false, false, false,  1, false},
  {"LSTM",            false, false, 0,   false, true,   true,  false, true,  false, true,  false, false, false, false,  1, false},
};
// clang-format on

// Classes whose weight counts when looking for shared weights besides the
// quantizable ones that check it (the reference also counts ConvTranspose3d).
const std::vector<std::string_view> kExtraSharedWeightPeers = {"ConvTranspose3d"};

const std::vector<std::string_view> kAmctOperations = {
    "IFMR", "HFMG", "Recorder", "AscendQuant", "AscendDeQuant", "RetrainQuant",
    "RNNRetrainQuant", "MarkedQuantizableModule", "QuantIdentity",
    "SelectiveMaskGen", "DMQBalancer", "Conv2dQAT", "LinearQAT", "LSTMQAT",
    "GRUQAT", "OFMRQuant", "ConvTranspose1dQAT"};

const std::vector<std::string_view> kReservedGlobalNames = {
    "version", "batch_num", "activation_offset", "do_fusion",
    "fakequant_precision_mode", "skip_fusion_layers"};

}  // namespace

const std::vector<LayerCapability>& capability_table() { return kTable; }

const LayerCapability* find_capability(std::string_view type_name) {
  for (const auto& cap : kTable)
    if (cap.type_name == type_name) return &cap;
  return nullptr;
}

bool counts_for_shared_weight(std::string_view type_name) {
  const LayerCapability* cap = find_capability(type_name);
  if (cap) return cap->checks_shared_weight;
  for (auto t : kExtraSharedWeightPeers)
    if (t == type_name) return true;
  return false;
}

const std::vector<std::string_view>& amct_operation_types() { return kAmctOperations; }
const std::vector<std::string_view>& reserved_global_names() { return kReservedGlobalNames; }

std::vector<std::string> quantizable_type_names() {
  std::vector<std::string> out;
  for (const auto& cap : kTable) out.emplace_back(cap.type_name);
  return out;
}

std::vector<std::string> fusable_type_names() {
  std::vector<std::string> out;
  for (const auto& cap : kTable)
    if (cap.fusable) out.emplace_back(cap.type_name);
  return out;
}

}  // namespace openamct
