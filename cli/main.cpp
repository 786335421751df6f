// `openamct`: create_quant_config for TorchScript files, from the shell.
//
//   openamct create-quant-config --model resnet18.pt --input-shape 1,3,224,224 -o config.json
//   openamct layers --model resnet18.pt --input-shape 1,3,224,224
//   openamct check-config --model resnet18.pt --input-shape 1,3,224,224 --config q.json
//   openamct save-model --modified m.onnx --record r.txt -o out/quant
//
// Exit status: 0 done, 1 the model or an argument was rejected (the message
// names the Python exception AMCT raises), 2 bad usage.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "arguments.h"
#include "commands.h"
#include "openamct/errors.h"
#include "openamct/openamct.h"

namespace openamct {
namespace cli {
namespace {

void print_layer_table(const std::vector<LayerReport>& reports, std::ostream& out) {
  if (reports.empty()) {
    std::string types;
    for (const auto& t : quantizable_types()) types += (types.empty() ? "" : ", ") + t;
    out << "The model has no module of a quantizable type (" << types << ").\n";
    return;
  }
  const std::vector<std::string> header = {"NAME", "TYPE", "VERDICT", "REASON"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const auto& r : reports) rows.push_back({r.name, r.type_name, r.verdict, r.reason});
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size(); ++c)
      out << row[c] << std::string(width[c] - row[c].size() + 2, ' ');
    out << row.back() << "\n";
  }
}

void print_config_summary(const ConfigCheckSummary& summary, std::ostream& out) {
  out << "config is valid: batch_num " << summary.batch_num << ", " << summary.layers.size()
      << " layers to calibrate\n";
  for (const auto& l : summary.layers) {
    out << "  " << l.name << " (" << l.type_name << "): " << l.act_algo << " INT"
        << l.act_num_bits << (l.asymmetric ? " asymmetric" : " symmetric") << ", " << l.wts_algo
        << " INT" << l.wts_num_bits;
    if (l.dmq_balancer_param) out << ", dmq_balancer_param " << *l.dmq_balancer_param;
    out << "\n";
  }
}

int run(int argc, const char* const* argv) {
  Invocation invocation;
  try {
    invocation = parse_command_line(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << e.command() << ": error: " << e.what() << " (see '" << e.command()
              << " --help')\n";
    return 2;
  }
  try {
    // A bad OPENAMCT_LOG_LEVEL fails a command (not its help) here.
    if (invocation.kind != Invocation::Kind::kHelp) log_level_from_environment();
    switch (invocation.kind) {
      case Invocation::Kind::kHelp:
        std::cout << invocation.help_text;
        return 0;
      case Invocation::Kind::kCreateQuantConfig:
        run_create_quant_config(invocation.create_quant_config);
        return 0;
      case Invocation::Kind::kLayers:
        print_layer_table(run_layers(invocation.layers), std::cout);
        return 0;
      case Invocation::Kind::kCheckConfig:
        print_config_summary(run_check_config(invocation.check_config), std::cout);
        return 0;
      case Invocation::Kind::kSaveModel:
        save_model(invocation.save_model.modified, invocation.save_model.record,
                   invocation.save_model.output, invocation.save_model.formats,
                   invocation.save_model.activation_dtype);
        return 0;
    }
  } catch (const Error& e) {
    std::cerr << "error: " << python_exception_name(e.kind()) << ": " << e.what() << "\n";
  } catch (const std::exception& e) {  // ModelLoadError, a bug, out of memory
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace
}  // namespace cli
}  // namespace openamct

int main(int argc, char** argv) { return openamct::cli::run(argc, argv); }
