// §12.1 node order (see node_order.h). Quadratic in the node count, which is
// what the rule is ("the first node in list order that is ready", restarting
// from the front every time); a few hundred nodes take well under a
// millisecond.
#include "onnx/node_order.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {

void order_nodes(onnx::GraphProto* g) {
  const int n = g->node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const auto& o : g->node(i).output()) {
      if (!o.empty() && !producer.count(o)) producer[o] = i;
    }
  }
  // For each node, the nodes it waits for.
  std::vector<std::vector<int>> waits(n);
  for (int i = 0; i < n; ++i) {
    for (const auto& in : g->node(i).input()) {
      auto it = producer.find(in);
      if (!in.empty() && it != producer.end() && it->second != i) waits[i].push_back(it->second);
    }
  }
  std::vector<int> order;
  std::vector<char> placed(n, 0);
  for (int i = 0; i < n; ++i) {
    if (g->node(i).input_size() == 0) {
      order.push_back(i);
      placed[i] = 1;
    }
  }
  while (static_cast<int>(order.size()) < n) {
    int next = -1;
    for (int i = 0; i < n && next < 0; ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (int p : waits[i]) ready = ready && placed[p];
      if (ready) next = i;
    }
    if (next < 0) {
      throw_runtime_error("the ONNX graph has a cycle: node '" + g->node(0).name() +
                          "' and others wait for each other; this is a bug in OpenAMCT's graph "
                          "passes or a damaged input file");
    }
    order.push_back(next);
    placed[next] = 1;
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> sorted;
  for (int i : order) sorted.Add()->CopyFrom(g->node(i));
  g->mutable_node()->Swap(&sorted);
}

}  // namespace onnx_passes
}  // namespace openamct
