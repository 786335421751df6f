// The `openamct` command line: what each subcommand accepts, parsed into
// plain structs. No torch here; cli/commands.cpp runs the parsed request.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "openamct/openamct.h"

namespace openamct {
namespace cli {

// Bad usage: printed as one line naming the command, exit status 2.
class UsageError : public std::runtime_error {
 public:
  UsageError(std::string command, const std::string& message)
      : std::runtime_error(message), command_(std::move(command)) {}
  const std::string& command() const { return command_; }  // "openamct layers", ...

 private:
  std::string command_;
};

// What every subcommand needs to run a model.
struct ModelArguments {
  std::string model_path;                         // --model
  std::vector<std::vector<int64_t>> input_shapes;  // --input-shape, in order
};

struct CreateQuantConfigArguments {
  ModelArguments model;
  std::string output;          // -o / --output
  QuantConfigOptions options;  // --skip-layer, --batch-num, ...
};

struct LayersArguments {
  ModelArguments model;
};

struct CheckConfigArguments {
  ModelArguments model;
  std::string config;  // --config
};

struct SaveModelArguments {
  std::string modified;  // --modified
  std::string record;    // --record
  std::string output;    // -o / --output: save_path (folder and prefix)
  std::vector<std::string> formats = {"deploy", "fake_quant"};  // --format
  std::string activation_dtype = "int8";                         // --activation-dtype
};

struct Invocation {
  enum class Kind { kHelp, kCreateQuantConfig, kLayers, kCheckConfig, kSaveModel };
  Kind kind = Kind::kHelp;
  std::string help_text;  // for kHelp
  CreateQuantConfigArguments create_quant_config;
  LayersArguments layers;
  CheckConfigArguments check_config;
  SaveModelArguments save_model;
};

// Parses argv; throws UsageError.
Invocation parse_command_line(int argc, const char* const* argv);

// "1,3,224,224" -> {1, 3, 224, 224}; throws std::invalid_argument.
std::vector<int64_t> parse_shape(const std::string& text);

std::string main_help();

}  // namespace cli
}  // namespace openamct
