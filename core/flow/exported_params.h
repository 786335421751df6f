// torch.onnx.export's parameters (the name -> tensor dict its initializers
// are written from) as views the ONNX passes can copy from.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "onnx/exported_initializer.h"

namespace openamct {
namespace flow {

using ExportedParams = std::vector<std::pair<std::string, at::Tensor>>;

// Views of `params` (contiguous CPU copies where a tensor is neither, kept in
// `keep`, which must outlive the views). RuntimeError naming the parameter for
// a dtype ONNX initializers cannot hold as the exporter writes them.
std::vector<onnx_passes::ExportedInitializer> view_exported_params(const ExportedParams& params,
                                                                  std::vector<at::Tensor>* keep);

}  // namespace flow
}  // namespace openamct
