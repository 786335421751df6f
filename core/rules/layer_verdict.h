// Layer discovery: a pure function from the layer table to an ordered list of
// decisions, one per module of a quantizable type, each with a verdict and a
// sentence the user can read. Config writing consumes this list.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "openamct/layer_table.h"
#include "rules/capability_table.h"

namespace openamct {

enum class LayerVerdict {
  kQuantize,             // supported: listed in the config
  kUnsupportedPadding,   // padding_mode other than "zeros"
  kUnsupportedDilation,  // Conv3d with dilation[0] != 1
  kNotExecuted,          // never called in forward()
  kReused,               // called more than once in forward()
  kReducedInputRank,     // unbatched input (e.g. 3-D input to Conv2d)
  kSharedWeight,         // its weight Parameter is used by another layer
  kRnnMultiLayer,        // LSTM/GRU with num_layers != 1
  kRnnBidirectional,     // bidirectional LSTM/GRU
  kRnnDropout,           // LSTM/GRU with dropout != 0
  kRnnProjection,        // LSTM with proj_size != 0
};

// Short stable identifier, e.g. "quantize", "reused" (CLI and Python).
const char* verdict_name(LayerVerdict v);
std::ostream& operator<<(std::ostream& os, LayerVerdict v);

struct LayerDecision {
  const ModuleRecord* record;          // points into the analysed LayerTable
  const LayerCapability* capability;   // never null
  LayerVerdict verdict;
  std::string reason;                  // one line, e.g. "called 2 times in
                                       // forward(); a reused module cannot be
                                       // quantized"
  bool supported() const { return verdict == LayerVerdict::kQuantize; }
  const std::string& name() const { return record->name; }
  const std::string& type_name() const { return record->type_name; }
};

// One decision per module of a quantizable type, in named_modules() order.
// The table must outlive the result.
std::vector<LayerDecision> analyse_layers(const LayerTable& table);

// Whether a supported layer can take INT16 activations / INT4 weights.
bool supports_int16(const LayerDecision& d);
bool int4_packable(const LayerDecision& d);

}  // namespace openamct
