// The exporter writes an initializer's data as the raw bytes of the
// contiguous CPU tensor with the ONNX type of its dtype; these views let
// add_exported_initializers do the same without copying the tensor first.
#include "flow/exported_params.h"

#include <onnx/onnx_pb.h>

#include "openamct/errors.h"

namespace openamct {
namespace flow {
namespace {

int32_t onnx_type_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return onnx::TensorProto::FLOAT;
    case at::kDouble: return onnx::TensorProto::DOUBLE;
    case at::kHalf: return onnx::TensorProto::FLOAT16;
    case at::kBFloat16: return onnx::TensorProto::BFLOAT16;
    case at::kByte: return onnx::TensorProto::UINT8;
    case at::kChar: return onnx::TensorProto::INT8;
    case at::kShort: return onnx::TensorProto::INT16;
    case at::kInt: return onnx::TensorProto::INT32;
    case at::kLong: return onnx::TensorProto::INT64;
    case at::kBool: return onnx::TensorProto::BOOL;
    default: return onnx::TensorProto::UNDEFINED;
  }
}

}  // namespace

std::vector<onnx_passes::ExportedInitializer> view_exported_params(const ExportedParams& params,
                                                                  std::vector<at::Tensor>* keep) {
  std::vector<onnx_passes::ExportedInitializer> out;
  out.reserve(params.size());
  keep->reserve(keep->size() + params.size());
  for (const auto& [name, tensor] : params) {
    const int32_t type = onnx_type_of(tensor.scalar_type());
    if (type == onnx::TensorProto::UNDEFINED || tensor.is_quantized() ||
        tensor.layout() != at::kStrided) {
      throw_runtime_error("the exported model's parameter '" + name + "' has dtype " +
                          std::string(c10::toString(tensor.scalar_type())) +
                          ", which an ONNX initializer cannot hold; use a float, integer or "
                          "bool tensor");
    }
    keep->push_back(tensor.to(at::kCPU).contiguous());
    const at::Tensor& t = keep->back();
    onnx_passes::ExportedInitializer v;
    v.name = name;
    v.data_type = type;
    v.dims.assign(t.sizes().begin(), t.sizes().end());
    v.data = static_cast<const char*>(t.data_ptr());
    v.bytes = static_cast<size_t>(t.numel()) * t.element_size();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace flow
}  // namespace openamct
