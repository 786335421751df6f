// create_quant_config: check arguments -> capture the graph -> analyse layers
// -> apply the user's rules -> write the file. Every interface (Python, C++,
// CLI) ends here with its own ModelSource.
#include <sys/stat.h>

#include <cstdio>
#include <optional>

#include "api/argument_checks.h"
#include "config/config_defaults.h"
#include "config/default_config.h"
#include "openamct/openamct.h"
#include "rules/layer_verdict.h"
#include "rules/root_module.h"
#include "simple_config/simple_config.h"
#include "text/atomic_file.h"

namespace openamct {
namespace {

// One WARNING per excluded layer, then one INFO summary.
void report(const std::vector<LayerDecision>& decisions, const QuantConfig& config) {
  size_t excluded = 0, skipped = 0;
  for (const auto& d : decisions) {
    if (d.supported()) continue;
    ++excluded;
    log_warning("Layer " + d.name() + " (" + d.type_name() + ") is not in the config: " +
                d.reason + ".");
  }
  for (const auto& l : config.layers) skipped += !l.quant_enable;
  log_info("Layers of a quantizable type: " + std::to_string(decisions.size()) + "; quantized: " +
           std::to_string(config.layers.size() - skipped) + ", skipped by the user: " +
           std::to_string(skipped) + ", excluded: " + std::to_string(excluded) + ".");
}

}  // namespace

void create_quant_config(const std::string& config_file, ModelSource& source,
                         const QuantConfigOptions& options) {
  // 1. Arguments, before anything runs.
  const std::string path = check_config_file(config_file);
  std::optional<SimpleConfig> simple;
  if (options.config_definition) {
    check_config_definition(*options.config_definition);
    simple = SimpleConfig::read(*options.config_definition);
  } else {
    check_batch_num(options.batch_num, options.batch_num_digits);
  }
  const std::vector<ModuleEntry> modules = source.modules();
  check_no_amct_operations(modules);
  // A model that is itself a layer: by its class alone here, before it runs
  // (as the reference fails before its export); by its settings after.
  if (!modules.empty() && modules.front().name.empty()) {
    ModuleRecord root;  // only its class is known before the run
    root.type_name = modules.front().type_name;
    check_root_is_not_a_layer(root, false);
  }
  if (!simple)
    check_skip_layers(modules, options.skip_layers);
  else if (!options.skip_layers.empty())
    log_warning(
        "When setting 'config_defination' param of 'create_quant_config' API, 'skip_modules' "
        "need to be set in simple quant config file!");

  // 2. Capture the graph and analyse its layers.
  const LayerTable table = source.capture();
  if (!table.modules.empty() && table.modules.front().name.empty())
    check_root_is_not_a_layer(table.modules.front(), true);
  const std::vector<LayerDecision> decisions = analyse_layers(table);

  // 3. Apply the user's rules.
  QuantConfig config = simple ? simple->expand(modules, decisions)
                              : build_default_config(decisions, options.skip_layers,
                                                     options.batch_num, options.activation_offset);
  if (!simple) config.batch_num_digits = options.batch_num_digits;
  report(decisions, config);

  // 4. Write the file; an existing one is replaced only now.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)  // not fopen: opening a FIFO blocks
    log_warning("The file already exists at " + path + ", and it will be overwritten.");
  write_file_atomically(path, to_config_text(config));
  log_info("Create quant config file " + path + " success.");
}

std::vector<LayerReport> inspect_layers(ModelSource& source) {
  const LayerTable table = source.capture();
  std::vector<LayerReport> out;
  for (const auto& d : analyse_layers(table))
    out.push_back({d.name(), d.type_name(), d.supported(), verdict_name(d.verdict), d.reason});
  return out;
}

std::vector<std::string> quantizable_types() { return quantizable_type_names(); }

}  // namespace openamct
