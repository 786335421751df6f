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
  {"Conv2d", LayerKind::kConv, BatchedInputRank{4}, OutChannelAxis{0}, InChannelAxis{1},
   kChecksPaddingMode | kChecksSharedWeight | kChannelWise | kInt16 | kDmqLayer | kDmqType |
   kAda | kWinograd | kFusable | kInt4GroupsMatter},
  {"Conv3d", LayerKind::kConv, BatchedInputRank{5}, OutChannelAxis{0}, InChannelAxis{1},
   kChecksPaddingMode | kFirstDilationMustBe1 | kChecksSharedWeight | kChannelWise |
   kSymmetricOnly | kDmqLayer | kDmqType | kFusable | kInt4GroupsMatter},
  {"Linear", LayerKind::kLinear, BatchedInputRank{0}, OutChannelAxis{0}, InChannelAxis{1},
   kChecksSharedWeight | kInt16 | kInt16NeedsBias | kDmqLayer | kDmqType | kAda},
  {"ConvTranspose2d", LayerKind::kDeconv, BatchedInputRank{4}, OutChannelAxis{1}, InChannelAxis{0},
   kChecksPaddingMode | kChecksSharedWeight | kChannelWise | kInt16 | kDmqLayer | kDmqType |
   kAda | kInt4GroupsMatter},
  {"AvgPool2d", LayerKind::kPool, BatchedInputRank{0}, OutChannelAxis{-1}, InChannelAxis{-1},
   0},
  {"Conv1d", LayerKind::kConv, BatchedInputRank{3}, OutChannelAxis{0}, InChannelAxis{1},
   kChecksPaddingMode | kChecksSharedWeight | kChannelWise | kInt16 | kDmqLayer | kDmqType |
   kFusable | kInt4GroupsMatter},
  {"ConvTranspose1d", LayerKind::kDeconv, BatchedInputRank{3}, OutChannelAxis{1}, InChannelAxis{0},
   kChecksPaddingMode | kChecksSharedWeight | kChannelWise | kInt16 | kDmqLayer | kDmqType |
   kInt4GroupsMatter},
  {"GRU", LayerKind::kRnn, BatchedInputRank{0}, OutChannelAxis{0}, InChannelAxis{1},
   kRnnConstraints | kChannelWise | kInt16 | kDmqLayer},
  {"LSTM", LayerKind::kRnn, BatchedInputRank{0}, OutChannelAxis{0}, InChannelAxis{1},
   kRnnConstraints | kChannelWise | kInt16 | kDmqLayer},
};
// clang-format on

// Classes whose weight counts when looking for shared weights besides the
// quantizable ones that check it (the reference also counts ConvTranspose3d).
const std::vector<std::string_view> kExtraSharedWeightPeers = {"ConvTranspose3d"};

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
