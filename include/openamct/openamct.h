// OpenAMCT public C++ API.
//
//   torch::jit::Module m = torch::jit::load("model.pt");
//   openamct::create_quant_config("config.json", m, {torch::randn({1, 3, 224, 224})});
//
// Writes the per-layer quantization config that AMCT's
// amct_pytorch.create_quant_config writes for the same model, byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "openamct/defaults.h"
#include "openamct/errors.h"
#include "openamct/layer_table.h"
#include "openamct/log.h"

namespace torch {
namespace jit {
struct Module;
}  // namespace jit
}  // namespace torch
namespace c10 {
struct IValue;
}  // namespace c10

namespace openamct {

// The arguments of create_quant_config besides the file, the model and the
// inputs. Defaults are the reference's.
struct QuantConfigOptions {
  std::vector<std::string> skip_layers;  // kept in the config, quant_enable false
  int64_t batch_num = defaults::kBatchNum;
  // A batch_num beyond int64 (a Python int has no bound), as its decimal
  // digits; when set it is checked and written instead of batch_num (which
  // then holds the value clamped to int64). Empty: batch_num.
  std::string batch_num_digits;
  bool activation_offset = defaults::kActivationOffset;
  // Path of a simple config (quant.cfg, protobuf text). When set, skip_layers,
  // batch_num and activation_offset are ignored, as in the reference.
  std::optional<std::string> config_definition;
};

// A producer of the layer table. The core asks for the module list first
// (argument checks need no forward pass) and runs the capture only once every
// argument has been checked.
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // named_modules(): every module's name and class, without running the model.
  virtual std::vector<ModuleEntry> modules() = 0;
  // Runs the model once and returns the full table.
  virtual LayerTable capture() = 0;
};

// One row of inspect_layers: a module of a quantizable type and its verdict.
struct LayerReport {
  std::string name;
  std::string type_name;
  bool quantize;         // listed in the config
  std::string verdict;   // "quantize", "reused", "shared_weight", ...
  std::string reason;    // one readable sentence
};

// One enabled layer of a config that check_config accepted, as the
// calibration will run it.
struct ConfigLayerSummary {
  std::string name;
  std::string type_name;
  std::string act_algo;   // "ifmr" or "hfmg"
  int act_num_bits = 8;
  bool asymmetric = true;
  int wts_num_bits = 8;
  std::string wts_algo;   // "arq_quantize" or "ada_quantize"
  std::optional<double> dmq_balancer_param;
};

struct ConfigCheckSummary {
  int64_t batch_num = 1;
  std::vector<ConfigLayerSummary> layers;  // enabled layers, module order
};

// The core entry point every interface ends in.
void create_quant_config(const std::string& config_file, ModelSource& source,
                         const QuantConfigOptions& options = {});
std::vector<LayerReport> inspect_layers(ModelSource& source);

// Reads a (hand-edited) config as quantize_preprocess and quantize_model
// read it, for the model `source` captures, and throws what they would throw
// (spec §3: ValueError / TypeError naming the layer and the key, RuntimeError
// when no layer is enabled; OSError when the file does not exist). Writes
// nothing.
ConfigCheckSummary check_config(const std::string& config_file, ModelSource& source);

// TorchScript models (traced or scripted): the model is analysed in C++ and
// run once on `inputs`.
void create_quant_config(const std::string& config_file, torch::jit::Module& model,
                         const std::vector<c10::IValue>& inputs,
                         const QuantConfigOptions& options = {});
std::vector<LayerReport> inspect_layers(torch::jit::Module& model,
                                        const std::vector<c10::IValue>& inputs);
ConfigCheckSummary check_config(const std::string& config_file, torch::jit::Module& model,
                                const std::vector<c10::IValue>& inputs);

// save_model of the calibration flow (spec/calibration.md §2.4): reads the
// modified ONNX and the record file, checks the record (§11.4) and writes
// <save_path>_deploy_model.onnx and <save_path>_fake_quant_model.onnx.
// `formats` chooses the files among "deploy", "fake_quant" and "qdq" (the
// latter: <save_path>_qdq_model.onnx, standard ONNX QuantizeLinear /
// DequantizeLinear at opset 13 that any ONNX runtime runs); ValueError naming
// `formats` for an unknown, repeated or empty list. "qdq_full" (an opt-in) is
// <save_path>_qdq_full_model.onnx: the QDQ model plus quantizers for the
// outputs of the layers that feed residual Adds, from the output scales that
// quantize_model(..., qdq_full=True) writes beside the record (FileNotFoundError
// without them, RuntimeError for those of another record). `activation_dtype`
// "int8" (zero point offset_d) or "uint8" (offset_d + 128, the same integers)
// is how the QDQ and qdq_full models store activations; ValueError for another
// value, or "uint8" without either of those formats.
// Needs no model: the Python call and `openamct save-model` share it.
void save_model(const std::string& modified_onnx_file, const std::string& record_file,
                const std::string& save_path,
                const std::vector<std::string>& formats = {"deploy", "fake_quant"},
                const std::string& activation_dtype = "int8");

// The layer table of a TorchScript model, as create_quant_config sees it
// (for tools and for comparing producers).
LayerTable capture_layer_table(torch::jit::Module& model,
                               const std::vector<c10::IValue>& inputs);

// The quantizable class names, in the reference's order (for producers that
// only need to observe modules of these types).
std::vector<std::string> quantizable_types();

}  // namespace openamct
