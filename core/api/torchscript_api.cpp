// The TorchScript overloads of the public API: a TorchScriptSource in front of
// the ModelSource entry points. No torch header is needed here.
#include "capture/torchscript_source.h"
#include "openamct/openamct.h"

namespace openamct {

void create_quant_config(const std::string& config_file, torch::jit::Module& model,
                         const std::vector<c10::IValue>& inputs,
                         const QuantConfigOptions& options) {
  TorchScriptSource source(model, inputs);
  create_quant_config(config_file, source, options);
}

std::vector<LayerReport> inspect_layers(torch::jit::Module& model,
                                        const std::vector<c10::IValue>& inputs) {
  TorchScriptSource source(model, inputs);
  return inspect_layers(source);
}

ConfigCheckSummary check_config(const std::string& config_file, torch::jit::Module& model,
                                const std::vector<c10::IValue>& inputs) {
  TorchScriptSource source(model, inputs);
  return check_config(config_file, source);
}

LayerTable capture_layer_table(torch::jit::Module& model, const std::vector<c10::IValue>& inputs) {
  return TorchScriptSource(model, inputs).capture();
}

}  // namespace openamct
