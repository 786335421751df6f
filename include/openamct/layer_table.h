// The layer table: what OpenAMCT knows about a model's modules after one
// forward pass. It is our own type so that rules, config and calibration never
// depend on how a model was captured (Python hooks, TorchScript analysis, or a
// later torch.export / ONNX producer all fill the same records).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace openamct {

// One entry of `named_modules()`: dotted name ("" is the root) and class name.
struct ModuleEntry {
  std::string name;
  std::string type_name;
};

// Everything the layer rules need to know about one module. Static facts come
// from the module object; run facts come from the forward pass.
struct ModuleRecord {
  std::string name;       // named_modules() path, "" for the root module
  std::string type_name;  // exact class name, e.g. "Conv2d"

  // Run facts.
  int64_t call_count = 0;   // how many times forward() ran in one pass
  int64_t input_rank = -1;  // rank of the first positional input at the first
                            // call; -1 when unknown or not a tensor

  // Static facts; empty / default when the module has no such attribute.
  std::string padding_mode;            // "zeros", "reflect", ... ("" = none)
  std::vector<int64_t> dilation;       // as the module stores it
  bool has_bias = false;
  std::vector<int64_t> weight_shape;   // `weight`, or `weight_ih_l0` for RNNs
  int64_t groups = 1;
  int64_t weight_id = -1;  // identity of the weight Parameter object: two
                           // records with the same id share one Parameter;
                           // -1 = no weight
  // RNN settings (LSTM, GRU).
  int64_t num_layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;
  int64_t proj_size = 0;
  int64_t hidden_size = 0;
};

// Every module of the model, in named_modules() order (a module object
// registered under several names appears once, under its first name).
struct LayerTable {
  std::vector<ModuleRecord> modules;

  std::vector<ModuleEntry> entries() const {
    std::vector<ModuleEntry> out;
    out.reserve(modules.size());
    for (const auto& m : modules) out.push_back({m.name, m.type_name});
    return out;
  }
};

}  // namespace openamct
