// The modified ONNX (spec §12.1, §12.2): turns torch.onnx.export's graph of the
// marker-wrapped model copy into the file `quantize_model` writes. Markers
// (op kMarkerOp in domain kMarkerDomain, attribute `layer` = module name) go,
// their consumers take the module names, fused BatchNorm nodes and their
// initializers go, bias-less fused convs get `<conv>.bias`, enabled layers get
// `op_data_type`, and the nodes are put in the §12.1 order.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <utility>
#include <vector>

namespace openamct {
namespace onnx_passes {

constexpr char kMarkerDomain[] = "openamct.marker";
constexpr char kMarkerOp[] = "LayerMarker";
constexpr char kMarkerLayerAttribute[] = "layer";

struct ModifiedOnnxSpec {
  // BatchNorm modules fused into their conv (§5): node and 4 initializers removed.
  std::vector<std::string> fused_batchnorms;
  // Fused convs that had no bias: module name -> the fused bias (float32).
  std::vector<std::pair<std::string, std::vector<float>>> new_conv_biases;
  // Enabled layers -> "float" or "float16" (the STRING attribute op_data_type).
  std::vector<std::pair<std::string, std::string>> op_data_types;
};

// Edits the exported model in place. Throws RuntimeError naming the layer when
// a named module has no node in the graph.
void make_modified_model(onnx::ModelProto* model, const ModifiedOnnxSpec& spec);

// The two halves of make_modified_model, for the flow, which reads the named
// graph (Conv+BN pairs, weight initializers) before it knows the spec:
// name_exported_model drops initializer inputs, names the nodes from the
// markers and removes the markers; finish_modified_model does the rest.
void name_exported_model(onnx::ModelProto* model);
void finish_modified_model(onnx::ModelProto* model, const ModifiedOnnxSpec& spec);

}  // namespace onnx_passes
}  // namespace openamct
