// Parsing of the `openamct` command line, and its help texts. The defaults
// printed in the help come from QuantConfigOptions, the one place they live.
#include "arguments.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>

namespace openamct {
namespace cli {
namespace {

const char kCreateQuantConfig[] = "create-quant-config";
const char kLayers[] = "layers";
const char kCheckConfig[] = "check-config";
const char kSaveModel[] = "save-model";

struct OptionSpec {
  std::string name;        // "--model"
  std::string short_name;  // "-o" or ""
  bool repeatable;
};

using OptionValues = std::map<std::string, std::vector<std::string>>;

// ---- help texts ----------------------------------------------------------------

const char kInputShapeHelp[] =
    "  --input-shape SHAPE       shape of one forward() input, comma-separated\n"
    "                            (1,3,224,224); one per input, in order. The inputs\n"
    "                            are float32 tensors drawn with torch::randn after\n"
    "                            torch::manual_seed(1), like the conformance kit's.\n";

std::string create_quant_config_help() {
  const QuantConfigOptions defaults;
  std::ostringstream out;
  out << "usage: openamct create-quant-config --model M.pt --input-shape SHAPE\n"
         "           [--input-shape SHAPE]... [--skip-layer NAME]... [--batch-num N]\n"
         "           [--activation-offset true|false] [--config-definition quant.cfg]\n"
         "           -o config.json\n"
         "\n"
         "Runs the TorchScript model once on random inputs and writes the quantization\n"
         "config that amct_pytorch.create_quant_config writes for the same model.\n"
         "\n"
         "options:\n"
         "  --model M.pt              a TorchScript file (torch.jit.save of a traced or\n"
         "                            scripted model)\n"
      << kInputShapeHelp
      << "  -o, --output FILE         the config file to write; an existing file is\n"
         "                            replaced only when the call succeeds\n"
         "  --skip-layer NAME         keep layer NAME in the config, with quant_enable\n"
         "                            false; repeat it for several layers\n"
         "  --batch-num N             batch_num of the config (default "
      << defaults.batch_num << ")\n"
      << "  --activation-offset B     true or false: asymmetric activation quantization\n"
         "                            (default "
      << (defaults.activation_offset ? "true" : "false") << ")\n"
      << "  --config-definition FILE  a simple config (quant.cfg); when given,\n"
         "                            --skip-layer, --batch-num and --activation-offset\n"
         "                            are ignored, as in AMCT\n"
         "  -h, --help                show this help\n"
         "\n"
         "exit status: 0 written, 1 the model or an argument was rejected, 2 bad usage\n";
  return out.str();
}

std::string layers_help() {
  std::ostringstream out;
  out << "usage: openamct layers --model M.pt --input-shape SHAPE [--input-shape SHAPE]...\n"
         "\n"
         "Runs the TorchScript model once on random inputs and prints every module of a\n"
         "quantizable type with its verdict: whether create-quant-config quantizes it,\n"
         "and why not.\n"
         "\n"
         "options:\n"
         "  --model M.pt              a TorchScript file (torch.jit.save of a traced or\n"
         "                            scripted model)\n"
      << kInputShapeHelp
      << "  -h, --help                show this help\n"
         "\n"
         "exit status: 0 printed, 1 the model was rejected, 2 bad usage\n";
  return out.str();
}

std::string save_model_help() {
  return "usage: openamct save-model --modified M.onnx --record R.txt -o SAVE_PATH\n"
         "                            [--format FORMAT[,FORMAT...]]... [--activation-dtype T]\n"
         "\n"
         "Writes SAVE_PATH_deploy_model.onnx and SAVE_PATH_fake_quant_model.onnx from\n"
         "the modified ONNX and the record file of a finished calibration, as\n"
         "amct_pytorch.save_model does (no model and no Python needed).\n"
         "\n"
         "options:\n"
         "  --modified FILE           the modified ONNX file quantize_model wrote\n"
         "  --record FILE             the record file after the calibration forwards\n"
         "  -o, --output SAVE_PATH    folder and file-name prefix of the models\n"
         "                            ('out/quant' -> out/quant_deploy_model.onnx);\n"
         "                            a value ending in '/' is a folder without prefix\n"
         "  --format FORMAT           the files to write, repeatable or comma-separated:\n"
         "                            deploy, fake_quant, qdq (SAVE_PATH_qdq_model.onnx:\n"
         "                            standard ONNX QuantizeLinear/DequantizeLinear,\n"
         "                            opset 13, runs in ONNX Runtime), qdq_full\n"
         "                            (SAVE_PATH_qdq_full_model.onnx: also the residual\n"
         "                            Adds and the layers feeding them in int8; needs a\n"
         "                            record calibrated with quantize_model(...,\n"
         "                            qdq_full=True)); without --format:\n"
         "                            deploy,fake_quant\n"
         "  --activation-dtype T      int8 (default: zero point offset_d) or uint8 (zero\n"
         "                            point offset_d + 128, the same integers) for the\n"
         "                            activations of the qdq and qdq_full models\n";
}

std::string check_config_help() {
  std::ostringstream out;
  out << "usage: openamct check-config --model M.pt --input-shape SHAPE [--input-shape SHAPE]...\n"
         "           --config config.json\n"
         "\n"
         "Runs the TorchScript model once on random inputs and reads the config (maybe\n"
         "edited by hand) as quantize_model reads it: prints the layers it calibrates, or\n"
         "the error quantize_model would raise. Writes nothing.\n"
         "\n"
         "options:\n"
         "  --model M.pt              a TorchScript file (torch.jit.save of a traced or\n"
         "                            scripted model)\n"
      << kInputShapeHelp
      << "  --config FILE             the JSON config to check\n"
         "  -h, --help                show this help\n"
         "\n"
         "exit status: 0 valid, 1 the config, the model or an argument was rejected,\n"
         "2 bad usage\n";
  return out.str();
}

// ---- parsing ----------------------------------------------------------------------

const OptionSpec* find_option(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& spec : specs)
    if (spec.name == name || (!spec.short_name.empty() && spec.short_name == name)) return &spec;
  return nullptr;
}

// Returns false when --help was asked for.
bool parse_options(const std::string& command, const std::vector<OptionSpec>& specs,
                   const std::vector<std::string>& args, OptionValues& values) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") return false;
    if (arg.empty() || arg[0] != '-' || arg == "-" || arg == "--")
      throw UsageError(command, "unexpected argument '" + arg + "'");
    std::string name = arg;
    std::string value;
    bool has_value = false;
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      has_value = true;
    }
    const OptionSpec* spec = find_option(specs, name);
    if (!spec) throw UsageError(command, "unknown option '" + name + "'");
    if (!has_value) {
      if (i + 1 >= args.size()) throw UsageError(command, "option " + spec->name + " needs a value");
      value = args[++i];
    }
    std::vector<std::string>& slot = values[spec->name];
    if (!spec->repeatable && !slot.empty())
      throw UsageError(command, "option " + spec->name + " is given more than once");
    slot.push_back(value);
  }
  return true;
}

const std::string* single(const OptionValues& values, const std::string& name) {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second.front();
}

const std::string& required(const std::string& command, const OptionValues& values,
                            const std::string& name) {
  const std::string* v = single(values, name);
  if (!v) throw UsageError(command, name + " is required");
  return *v;
}

ModelArguments model_arguments(const std::string& command, const OptionValues& values) {
  ModelArguments out;
  out.model_path = required(command, values, "--model");
  auto shapes = values.find("--input-shape");
  if (shapes == values.end()) throw UsageError(command, "--input-shape is required");
  for (const auto& text : shapes->second) {
    try {
      out.input_shapes.push_back(parse_shape(text));
    } catch (const std::invalid_argument&) {
      throw UsageError(command, "invalid --input-shape '" + text +
                                    "': expected comma-separated non-negative integers, "
                                    "such as 1,3,224,224");
    }
  }
  return out;
}

int64_t parse_int(const std::string& command, const std::string& option,
                  const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(command, "invalid " + option + " '" + text + "': expected an integer");
  return static_cast<int64_t>(v);
}

bool parse_bool(const std::string& command, const std::string& option, const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw UsageError(command, "invalid " + option + " '" + text + "': expected true or false");
}

Invocation parse_create_quant_config(const std::vector<std::string>& args) {
  const std::string command = std::string("openamct ") + kCreateQuantConfig;
  const std::vector<OptionSpec> specs = {
      {"--model", "", false},          {"--input-shape", "", true},
      {"--output", "-o", false},       {"--skip-layer", "", true},
      {"--batch-num", "", false},      {"--activation-offset", "", false},
      {"--config-definition", "", false}};
  Invocation inv;
  OptionValues values;
  if (!parse_options(command, specs, args, values)) {
    inv.help_text = create_quant_config_help();
    return inv;
  }
  inv.kind = Invocation::Kind::kCreateQuantConfig;
  CreateQuantConfigArguments& a = inv.create_quant_config;
  a.model = model_arguments(command, values);
  a.output = required(command, values, "--output");
  if (auto it = values.find("--skip-layer"); it != values.end()) a.options.skip_layers = it->second;
  if (auto v = single(values, "--batch-num")) a.options.batch_num = parse_int(command, "--batch-num", *v);
  if (auto v = single(values, "--activation-offset"))
    a.options.activation_offset = parse_bool(command, "--activation-offset", *v);
  if (auto v = single(values, "--config-definition")) a.options.config_definition = *v;
  return inv;
}

Invocation parse_layers(const std::vector<std::string>& args) {
  const std::string command = std::string("openamct ") + kLayers;
  const std::vector<OptionSpec> specs = {{"--model", "", false}, {"--input-shape", "", true}};
  Invocation inv;
  OptionValues values;
  if (!parse_options(command, specs, args, values)) {
    inv.help_text = layers_help();
    return inv;
  }
  inv.kind = Invocation::Kind::kLayers;
  inv.layers.model = model_arguments(command, values);
  return inv;
}

Invocation parse_check_config(const std::vector<std::string>& args) {
  const std::string command = std::string("openamct ") + kCheckConfig;
  const std::vector<OptionSpec> specs = {
      {"--model", "", false}, {"--input-shape", "", true}, {"--config", "", false}};
  Invocation inv;
  OptionValues values;
  if (!parse_options(command, specs, args, values)) {
    inv.help_text = check_config_help();
    return inv;
  }
  inv.kind = Invocation::Kind::kCheckConfig;
  inv.check_config.model = model_arguments(command, values);
  inv.check_config.config = required(command, values, "--config");
  return inv;
}

// --format values, each a comma list, flattened; every name known and listed once.
std::vector<std::string> parse_formats(const std::string& command,
                                       const std::vector<std::string>& values) {
  const std::vector<std::string> known = {"deploy", "fake_quant", "qdq", "qdq_full"};
  std::vector<std::string> out;
  for (const std::string& v : values) {
    size_t start = 0;
    while (true) {
      const size_t comma = v.find(',', start);
      const std::string name = v.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw UsageError(command, "invalid --format '" + name +
                                      "': expected deploy, fake_quant, qdq or qdq_full");
      }
      if (std::find(out.begin(), out.end(), name) != out.end()) {
        throw UsageError(command, "--format names '" + name + "' twice");
      }
      out.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

Invocation parse_save_model(const std::vector<std::string>& args) {
  const std::string command = std::string("openamct ") + kSaveModel;
  const std::vector<OptionSpec> specs = {
      {"--modified", "", false}, {"--record", "", false}, {"--output", "-o", false},
      {"--format", "", true}, {"--activation-dtype", "", false}};
  Invocation inv;
  OptionValues values;
  if (!parse_options(command, specs, args, values)) {
    inv.help_text = save_model_help();
    return inv;
  }
  inv.kind = Invocation::Kind::kSaveModel;
  inv.save_model.modified = required(command, values, "--modified");
  inv.save_model.record = required(command, values, "--record");
  inv.save_model.output = required(command, values, "--output");
  if (auto it = values.find("--format"); it != values.end()) {
    inv.save_model.formats = parse_formats(command, it->second);
  }
  if (const std::string* dtype = single(values, "--activation-dtype")) {
    if (*dtype != "int8" && *dtype != "uint8") {
      throw UsageError(command, "invalid --activation-dtype '" + *dtype +
                                    "': expected int8 or uint8");
    }
    inv.save_model.activation_dtype = *dtype;
  }
  return inv;
}

}  // namespace

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                           : comma - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos ||
        part.size() > 18)
      throw std::invalid_argument("bad shape");
    shape.push_back(std::stoll(part));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return shape;
}

std::string main_help() {
  return "usage: openamct <command> [options]\n"
         "\n"
         "Writes the quantization config of AMCT's create_quant_config for a TorchScript\n"
         "model (traced or scripted, saved with torch.jit.save), byte for byte.\n"
         "\n"
         "commands:\n"
         "  create-quant-config   run the model once and write its config (JSON)\n"
         "  layers                run the model once and print every layer of a\n"
         "                        quantizable type with its verdict\n"
         "  check-config          check a (hand-edited) config against the model, as\n"
         "                        quantize_model reads it\n"
         "  save-model            write the deploy and fake-quant ONNX models (and, with\n"
         "                        --format qdq, a standard QDQ ONNX model) from the\n"
         "                        modified ONNX and the record file\n"
         "\n"
         "Run 'openamct <command> --help' for the options of a command.\n";
}

Invocation parse_command_line(int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) throw UsageError("openamct", "a command is required");
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "-h" || command == "--help") {
    Invocation inv;
    inv.help_text = main_help();
    return inv;
  }
  if (command == kCreateQuantConfig) return parse_create_quant_config(args);
  if (command == kLayers) return parse_layers(args);
  if (command == kCheckConfig) return parse_check_config(args);
  if (command == kSaveModel) return parse_save_model(args);
  throw UsageError("openamct", "unknown command '" + command + "'; the commands are " +
                                   kCreateQuantConfig + ", " + kLayers + ", " + kCheckConfig +
                                   " and " + kSaveModel);
}

}  // namespace cli
}  // namespace openamct
