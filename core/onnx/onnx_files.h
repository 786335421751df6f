// The three ONNX files as the flow writes them: the modified ONNX from the
// exporter's bytes (quantize_model), and the deploy and fake-quant models from
// the modified ONNX and the quantisation parameters (save_model). Every file
// goes through write_file_atomically (mode 0640, temp + rename, D11); a model
// over the protobuf limit moves its largest initializers to side files
// (spec §2.4). No onnx headers here: the bindings and the flow see plain types.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "onnx/exported_initializer.h"
#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

struct ModifiedOnnxSpec;

// Runs the modified pass on `exported` (torch.onnx.export's bytes of the
// marker-wrapped copy, exported without its parameters) with `initializers`
// (the exporter's parameters) and writes the result to `path`.
void write_modified_onnx(const std::string& exported,
                         const std::vector<ExportedInitializer>& initializers,
                         const ModifiedOnnxSpec& spec, const std::string& path);

// The directory and prefix of save_model's save_path (§2.4 step 5): '' or a
// value ending in '/' is a directory without prefix. Throws ValueError for a
// prefix over 241 characters.
std::pair<std::string, std::string> split_save_path(const std::string& save_path);

// Which files save_model writes: the reference's deploy and fake-quant models
// by default; `qdq` adds <prefix>_qdq_model.onnx (standard ONNX QDQ, opset 13),
// `qdq_full` <prefix>_qdq_full_model.onnx (qdq_full_pass.h: needs output scales).
struct SaveFormats {
  bool deploy = true;
  bool fake_quant = true;
  bool qdq = false;
  bool qdq_full = false;
};
// The formats named "deploy", "fake_quant", "qdq", "qdq_full" (any order, each at most
// once). ValueError naming `argument`, the value and the allowed values for an
// unknown, repeated or empty list.
SaveFormats parse_save_formats(const std::vector<std::string>& names, const std::string& argument);

// How the QDQ and qdq_full models are written: the qdq_full model's output
// quantizers, and whether activations are uint8 (zero point offset_d + 128:
// the same integers shifted by 128, what ONNX Runtime's x86 kernels take)
// rather than int8 (zero point offset_d).
struct QdqOptions {
  std::vector<OutputQuantParams> outputs;
  bool uint8_activations = false;
};
// "int8" → false, "uint8" → true; else ValueError naming `argument`, the value
// and the allowed values.
bool parse_activation_dtype(const std::string& value, const std::string& argument);

// The QDQ model's bytes from the modified ONNX's bytes, without writing anything.
std::string qdq_model_bytes(const std::string& modified_bytes,
                            const std::vector<LayerQuantParams>& layers);

// Reads `modified_path`, builds both saved models and writes
// <dir>/<prefix>_deploy_model.onnx then <dir>/<prefix>_fake_quant_model.onnx
// (without prefix: deploy_model.onnx, fake_quant_model.onnx). Returns the two paths.
std::pair<std::string, std::string> save_quant_models(const std::string& modified_path,
                                                      const std::vector<LayerQuantParams>& layers,
                                                      const std::string& save_path);

// The deploy and fake-quant models' bytes from the modified ONNX's bytes,
// without writing anything (what save_quant_models writes, less side files).
std::pair<std::string, std::string> saved_model_bytes(const std::string& modified_bytes,
                                                      const std::vector<LayerQuantParams>& layers);

namespace testing_hooks {
// FOR TESTS ONLY: models whose serialised size exceeds `bytes` move
// initializers to side files; a negative value restores the 2 GB limit.
void set_external_data_threshold_for_testing(int64_t bytes);
}  // namespace testing_hooks

}  // namespace onnx_passes
}  // namespace openamct
