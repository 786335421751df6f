// The subcommands behind `openamct`: the public C++ API on a loaded
// TorchScript module.
#include "commands.h"

#include <torch/script.h>

#include <filesystem>

namespace openamct {
namespace cli {
namespace {

// The first line of torch's message, without its C++ backtrace.
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  const size_t newline = text.find('\n');
  return newline == std::string::npos ? text : text.substr(0, newline);
}

torch::jit::Module load_model(const std::string& path) {
  const std::string what = "cannot load the TorchScript model '" + path + "': ";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw ModelLoadError(what + "no such file");
  if (std::filesystem::is_directory(path, ec)) throw ModelLoadError(what + "it is a directory");
  try {
    return torch::jit::load(path);
  } catch (const std::exception& e) {
    throw ModelLoadError(what + first_line(e) +
                         " (is it a file from torch.jit.save of a traced or scripted model?)");
  }
}

// One float32 tensor per shape, drawn after torch::manual_seed(1): the
// conformance kit's make_input_data does the same in Python.
std::vector<c10::IValue> random_inputs(const std::vector<std::vector<int64_t>>& shapes) {
  torch::manual_seed(1);
  std::vector<c10::IValue> inputs;
  for (const auto& shape : shapes) inputs.emplace_back(torch::randn(shape));
  return inputs;
}

}  // namespace

void run_create_quant_config(const CreateQuantConfigArguments& args) {
  torch::jit::Module model = load_model(args.model.model_path);
  create_quant_config(args.output, model, random_inputs(args.model.input_shapes), args.options);
}

std::vector<LayerReport> run_layers(const LayersArguments& args) {
  torch::jit::Module model = load_model(args.model.model_path);
  return inspect_layers(model, random_inputs(args.model.input_shapes));
}

ConfigCheckSummary run_check_config(const CheckConfigArguments& args) {
  torch::jit::Module model = load_model(args.model.model_path);
  return check_config(args.config, model, random_inputs(args.model.input_shapes));
}

}  // namespace cli
}  // namespace openamct
