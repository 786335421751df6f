// Run facts of a TorchScript module: how many times each module's forward()
// runs during one forward pass, and the rank of its first input at the first
// call. Works on traced and scripted modules alike, loops and ifs included,
// because it observes the pass itself rather than reading the graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/csrc/jit/api/module.h>

namespace openamct {

struct ObservedCalls {
  int64_t count = 0;
  int64_t first_input_rank = -1;  // -1: no positional input, or not a tensor
};

// Module objects (aliases included) -> the index of the layer-table record
// their calls count toward. Calls of objects not in the map are not observed.
using RecordIndex = std::unordered_map<const c10::ivalue::Object*, std::size_t>;

// Runs model.forward(inputs) once: eval mode, no gradient, every `training`
// flag and buffer restored afterwards (also on exceptions). Returns one entry
// per record (count 0 for the records nobody called). Inputs that do not fit
// forward(), and any failure inside it, throw Error(kRuntime) that keeps
// torch's message.
std::vector<ObservedCalls> observe_forward(const torch::jit::Module& model,
                                           const std::vector<c10::IValue>& inputs,
                                           const RecordIndex& record_of,
                                           std::size_t num_records);

// "forward", "forward1" (a traced module called again), "forward__0" (an
// overload of a scripted forward, e.g. nn.LSTM's).
bool is_forward_method(const std::string& name);

}  // namespace openamct
