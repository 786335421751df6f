// save_model (spec §2.4): the modified ONNX and the record in, the deploy and
// fake-quant models out. Shared by openamct.save_model and `openamct save-model`.
#include <sys/stat.h>

#include <filesystem>

#include "api/argument_checks.h"
#include "flow/flow_graph.h"
#include "flow/output_scales.h"
#include "openamct/openamct.h"
#include "onnx/model_io.h"
#include "onnx/onnx_files.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "record/record_file.h"
#include "record/record_validation.h"

namespace openamct {
namespace {

// '' or a trailing '/' is a folder without prefix; anything else is resolved.
std::string resolve_save_path(const std::string& save_path) {
  if (save_path.empty() || save_path.back() == '/') return save_path;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(save_path, ec), ec);
  return ec ? save_path : p.string();
}

}  // namespace

void save_model(const std::string& modified_onnx_file, const std::string& record_file,
                const std::string& save_path, const std::vector<std::string>& formats,
                const std::string& activation_dtype) {
  const onnx_passes::SaveFormats wanted = onnx_passes::parse_save_formats(formats, "formats");
  onnx_passes::QdqOptions qdq;
  qdq.uint8_activations = onnx_passes::parse_activation_dtype(activation_dtype,
                                                              "activation_dtype");
  if (qdq.uint8_activations && !wanted.qdq && !wanted.qdq_full) {
    throw_value_error("activation_dtype 'uint8' applies to the \"qdq\" and \"qdq_full\" "
                      "models, and formats names neither; add one or leave activation_dtype "
                      "'int8'");
  }
  const std::string onnx_path = check_file_name("modfied_onnx_file", modified_onnx_file);
  const std::string record_path = check_file_name("record_file", record_file);
  struct stat st {};
  if (::stat(onnx_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw_value_error("The input onnx pb file is not exist. (modfied_onnx_file: " + onnx_path +
                      ")");
  const RecordContent record = read_record_file(record_path);
  if (record.layers.empty()) {
    throw_runtime_error("record_file is empty, no layers to be quantized. Please ensure "
                        "calibration is finished by checking information!");
  }
  onnx::ModelProto model = onnx_passes::parse_model_file(onnx_path,
                                                         "modfied_onnx_file " + onnx_path);
  const std::vector<RecordGraphLayer> graph = flow::record_graph_layers(model.graph());
  const std::vector<CheckedLayerRecord> checked =
      check_record(record, graph, onnx_path, record_path);

  std::vector<onnx_passes::LayerQuantParams> params;
  for (const CheckedLayerRecord& c : checked) {
    if (!c.has_quant_params) continue;
    const LayerRecord& r = *c.record;
    onnx_passes::LayerQuantParams p;
    p.layer = r.key;
    p.scale_d = *r.scale_d;
    p.offset_d = *r.offset_d;
    p.scale_w = r.scale_w;
    p.offset_w = r.offset_w;
    p.tensor_balance_factor = r.tensor_balance_factor;
    p.act_bits = c.act_bits;
    p.wts_bits = c.wts_bits;
    for (const auto& g : graph) {
      if (g.name != r.key) continue;
      p.has_weight = !g.is_avg_pool;
      p.is_rnn = g.is_rnn;
    }
    if (p.is_rnn) {
      p.scale_h = *r.scale_h;
      p.offset_h = *r.offset_h;
      p.scale_r = r.scale_r;
      p.offset_r = r.offset_r;
    }
    params.push_back(std::move(p));
  }
  if (wanted.qdq_full) {
    qdq.outputs = flow::read_output_scales(record_path, onnx_passes::read_whole_file(record_path));
  }
  const std::vector<std::string> written = onnx_passes::save_quant_models_from_model(
      std::move(model), params, resolve_save_path(save_path), wanted, qdq);
  std::string list;
  for (const auto& w : written) list += (list.empty() ? "" : ", ") + w;
  log_info("save_model wrote " + list);
}

}  // namespace openamct
