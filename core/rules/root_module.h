// A model that is itself a layer (spec §1.3, §9.8). Before its ONNX export
// the reference puts a marker module in the place of every module it wants
// to find in the graph, in that module's parent. The root module has no
// parent, so a model that is itself such a module (a bare nn.Linear,
// nn.Conv2d, nn.ReLU, nn.BatchNorm2d, ...) fails there with
// RuntimeError("model has no parent module."). Which modules get a marker is
// the table in root_module.cpp.
#pragma once

#include <string>

#include "openamct/layer_table.h"

namespace openamct {

// Throws the reference's RuntimeError when the root module (name "") is a
// module the reference marks. The class name alone decides for most classes;
// for the others (a conv with a padding_mode, an LSTM/GRU) the static facts
// of `root` do, so the check needs the captured record: with a record that
// holds only the name and class (before the capture), only classes that the
// name alone decides are reported.
void check_root_is_not_a_layer(const ModuleRecord& root, bool facts_known);

}  // namespace openamct
