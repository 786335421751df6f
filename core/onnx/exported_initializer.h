// One weight of torch.onnx.export's params, as the flow hands it to the ONNX
// passes (see model_io.h's add_exported_initializers). Plain types: the
// bindings and the flow build it from a tensor without onnx headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace openamct {
namespace onnx_passes {

struct ExportedInitializer {
  std::string name;
  int32_t data_type = 0;  // onnx::TensorProto::DataType
  std::vector<int64_t> dims;
  const char* data = nullptr;  // the tensor's bytes, contiguous; outlives the call
  size_t bytes = 0;
};

}  // namespace onnx_passes
}  // namespace openamct
