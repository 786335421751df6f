// openamct._C's ONNX entry points, for python/openamct/_onnx_export.py and the
// flow: the exporter's bytes and parameter tensors go to the modified-ONNX
// pass, and save_model's parameters (one dict per record entry) go to the
// deploy / fake-quant passes.
// Only conversion here; the passes live in core/onnx.
#include "onnx_passes.h"

#include <pybind11/stl.h>
#include <torch/extension.h>

#include "flow/exported_params.h"
#include "onnx/model_io.h"
#include "onnx/modified_pass.h"
#include "onnx/onnx_files.h"
#include "onnx/quant_params.h"

namespace py = pybind11;

namespace openamct_py {
namespace {

namespace op = openamct::onnx_passes;
namespace fl = openamct::flow;

template <typename T>
T item(const py::dict& d, const char* key, T fallback) {
  return d.contains(key) ? d[key].cast<T>() : fallback;
}

op::LayerQuantParams to_params(const py::dict& d) {
  op::LayerQuantParams p;
  p.layer = d["layer"].cast<std::string>();
  p.scale_d = d["scale_d"].cast<float>();
  p.offset_d = d["offset_d"].cast<int32_t>();
  p.scale_w = item(d, "scale_w", std::vector<float>{});
  p.offset_w = item(d, "offset_w", std::vector<int32_t>{});
  p.tensor_balance_factor = item(d, "tensor_balance_factor", std::vector<float>{});
  p.act_bits = item(d, "act_bits", 8);
  p.wts_bits = item(d, "wts_bits", 8);
  p.has_weight = item(d, "has_weight", true);
  return p;
}

}  // namespace

void register_onnx_passes(py::module_& m) {
  m.def("onnx_write_modified",
        [](py::bytes exported, const fl::ExportedParams& params,
           std::vector<std::string> fused_batchnorms,
           std::vector<std::pair<std::string, std::vector<float>>> new_conv_biases,
           std::vector<std::pair<std::string, std::string>> op_data_types,
           const std::string& path) {
          op::ModifiedOnnxSpec spec;
          spec.fused_batchnorms = std::move(fused_batchnorms);
          spec.new_conv_biases = std::move(new_conv_biases);
          spec.op_data_types = std::move(op_data_types);
          const std::string bytes = exported;
          std::vector<at::Tensor> keep;
          const auto initializers = fl::view_exported_params(params, &keep);
          py::gil_scoped_release release;
          op::write_modified_onnx(bytes, initializers, spec, path);
        });
  // The model torch.onnx.export would have written with its parameters, from
  // the graph it wrote without them and the parameters (tests and tools).
  m.def("onnx_exported_model", [](py::bytes exported, const fl::ExportedParams& params) {
    onnx::ModelProto model = op::parse_model(std::string(exported), "the exported model");
    std::vector<at::Tensor> keep;
    op::add_exported_initializers(&model, fl::view_exported_params(params, &keep));
    return py::bytes(model.SerializeAsString());
  });
  m.def("onnx_save_quant_models",
        [](const std::string& modified_path, py::list layers, const std::string& save_path) {
          std::vector<op::LayerQuantParams> params;
          for (auto d : layers) params.push_back(to_params(d.cast<py::dict>()));
          py::gil_scoped_release release;
          return op::save_quant_models(modified_path, params, save_path);
        });
  m.attr("ONNX_MARKER_DOMAIN") = op::kMarkerDomain;
  m.attr("ONNX_MARKER_OP") = op::kMarkerOp;
  m.def("onnx_set_external_data_threshold_for_testing",
        &op::testing_hooks::set_external_data_threshold_for_testing);
}

}  // namespace openamct_py
