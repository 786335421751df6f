// Running a parsed `openamct` subcommand: load the TorchScript file, draw the
// inputs, call the public API. The only file of the command that needs torch.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "arguments.h"

namespace openamct {
namespace cli {

// A model file that cannot be loaded: printed as one line, exit status 1.
class ModelLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Both throw openamct::Error from the API and ModelLoadError.
void run_create_quant_config(const CreateQuantConfigArguments& args);
std::vector<LayerReport> run_layers(const LayersArguments& args);
ConfigCheckSummary run_check_config(const CheckConfigArguments& args);

}  // namespace cli
}  // namespace openamct
