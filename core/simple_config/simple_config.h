// The simple config (quant.cfg, protobuf text format, spec §5): read before the
// model runs (so a malformed file fails fast), expanded into the full
// per-layer QuantConfig once the layer decisions are known.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/quant_config.h"
#include "openamct/layer_table.h"
#include "rules/layer_verdict.h"

namespace openamct {

class SimpleConfig {
 public:
  // Reads and parses `path` with TextFormat merge semantics (spec §5.2).
  // Missing file: Error(kFileNotFound, "[Errno 2] No such file or directory: '<path>'").
  // Malformed text: Error(kConfigParse, "<line>:<col> : <problem>").
  static SimpleConfig read(const std::string& path);
  static SimpleConfig parse(const std::string& text);

  SimpleConfig(SimpleConfig&&) noexcept;
  SimpleConfig& operator=(SimpleConfig&&) noexcept;
  ~SimpleConfig();

  // Spec §5.3-§5.6: extraction and its checks, precedence, defaults,
  // asymmetric chain, downgrades with their log lines, validation.
  // `modules` is named_modules() (every module), `decisions` the analysis of
  // the same model.
  QuantConfig expand(const std::vector<ModuleEntry>& modules,
                     const std::vector<LayerDecision>& decisions) const;

 private:
  struct Impl;
  explicit SimpleConfig(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace openamct
