// torch.onnx.export copies every weight into the protobuf it builds,
// serialises it, runs the ONNX checker with shape inference over the whole
// model and hands back bytes that the flow parses once more: four passes over
// the model's weights, most of the export's time on a convolutional model.
// The flow exports the graph alone (export_params=False: the same graph, the
// same names, no initializers) and adds the exporter's initializers here from
// the tensors themselves, once, as the exporter writes them: one for each
// graph input that has a value, in graph-input order, with its dims, data
// type and raw data.
#include <unordered_map>
#include <unordered_set>

#include "onnx/model_io.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {

void add_exported_initializers(onnx::ModelProto* model,
                               const std::vector<ExportedInitializer>& values) {
  onnx::GraphProto* g = model->mutable_graph();
  if (g->initializer_size() != 0 && !values.empty()) {
    throw_runtime_error("the exported model has initializers already: it was exported with "
                        "its parameters");
  }
  std::unordered_set<std::string> inputs;
  for (const auto& input : g->input()) inputs.insert(input.name());
  std::unordered_map<std::string, const ExportedInitializer*> by_name;
  for (const auto& v : values) {
    if (!inputs.count(v.name)) {
      throw_runtime_error("the exported model has no graph input named '" + v.name +
                          "' for the exporter's parameter of that name");
    }
    if (!by_name.emplace(v.name, &v).second) {
      throw_runtime_error("the exported model has two parameters named '" + v.name + "'");
    }
  }
  for (const auto& input : g->input()) {
    const auto it = by_name.find(input.name());
    if (it == by_name.end()) continue;
    const ExportedInitializer& v = *it->second;
    onnx::TensorProto* t = g->add_initializer();
    for (int64_t d : v.dims) t->add_dims(d);
    t->set_data_type(v.data_type);
    t->set_name(v.name);
    t->set_raw_data(v.data, v.bytes);
  }
}

}  // namespace onnx_passes
}  // namespace openamct
