// See reader_quantizers.h.
#include "onnx/reader_quantizers.h"

#include <string>
#include <utility>
#include <vector>

#include "onnx/onnx_graph.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {

void give_each_reader_its_quantizer(onnx::GraphProto* g) {
  const int original = g->node_size();
  for (int i = 0; i < original; ++i) {
    if (g->node(i).op_type() != "QuantizeLinear") continue;
    const std::string out = g->node(i).output(0);
    const std::vector<int> readers = find_consumers(*g, out);
    for (size_t r = 1; r < readers.size(); ++r) {
      const std::string tag = ".reader" + std::to_string(r);
      onnx::NodeProto copy = g->node(i);
      copy.set_name(g->node(i).name() + "/reader" + std::to_string(r));
      copy.set_output(0, out + tag);
      for (int k = 1; k < copy.input_size(); ++k) {
        const onnx::TensorProto* t = find_initializer(*g, copy.input(k));
        if (!t) {
          throw_runtime_error("QuantizeLinear '" + copy.name() + "': its input '" +
                              copy.input(k) + "' is no initializer (a bug in OpenAMCT)");
        }
        onnx::TensorProto own = *t;
        own.set_name(copy.input(k) + tag);
        *g->add_initializer() = std::move(own);
        copy.set_input(k, copy.input(k) + tag);
      }
      onnx::NodeProto* reader = g->mutable_node(readers[r]);
      for (int k = 0; k < reader->input_size(); ++k) {
        if (reader->input(k) == out) reader->set_input(k, out + tag);
      }
      *g->add_node() = std::move(copy);
    }
  }
}

}  // namespace onnx_passes
}  // namespace openamct
