// The order in which every ONNX file is written (spec §12.1): first the nodes
// without inputs (Constants) in list order, then repeatedly the first node in
// list order whose producing nodes are all placed. The passes insert their
// nodes at the front of the list; this ordering turns that list into the
// reference's file order.
#pragma once

#include <onnx/onnx_pb.h>

namespace openamct {
namespace onnx_passes {

// Reorders g's nodes in place. A tensor that no node produces (graph input,
// initializer) counts as given. Throws RuntimeError when the graph has a cycle.
void order_nodes(onnx::GraphProto* g);

}  // namespace onnx_passes
}  // namespace openamct
