// The simple config: read quant.cfg, then expand it over the model's layers
// (spec §5.3-§5.6). `expand` is a list of stages in the reference's order,
// so that the first error a user sees is the reference's first error:
//   globals -> layer overrides -> type overrides -> common_config ->
//   skip selection -> assembly (whole-block precedence) -> downgrades of
//   common_config settings -> asymmetric -> validation -> ADA clean-up.
#include "simple_config/simple_config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "amct_config.pb.h"
#include "config/config_defaults.h"
#include "config/config_validation.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "rules/capability_table.h"
#include "simple_config/calibration_block.h"
#include "simple_config/cfg_text_parser.h"
#include "text/os_error.h"
#include "text/python_repr.h"

namespace openamct {

struct SimpleConfig::Impl {
  AMCTPytorchProto::AMCTConfig proto;
};

namespace {

// os.path.realpath: the reference opens the realpath and names it in errors.
std::string python_realpath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path absolute = fs::absolute(path.empty() ? fs::path(".") : fs::path(path), ec);
  if (ec) return path;
  fs::path real = fs::weakly_canonical(absolute, ec);
  if (ec) real = absolute.lexically_normal();
  std::string out = real.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Python's OSError text: "[Errno 2] No such file or directory: '<path>'".
[[noreturn]] void throw_os_error(int err, const std::string& path) {
  const ErrorKind kind = err == ENOENT ? ErrorKind::kFileNotFound : ErrorKind::kOS;
  throw Error(kind, python_os_error_text(err, path));
}

std::vector<std::string> to_vector(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return {items.begin(), items.end()};
}

// What expand needs to know about the model, by name.
class ModelView {
 public:
  ModelView(const std::vector<ModuleEntry>& modules, const std::vector<LayerDecision>& decisions) {
    for (const auto& m : modules) modules_.emplace(m.name, &m);
    for (const auto& d : decisions) {
      decisions_.emplace(d.name(), &d);
      if (d.supported()) supported_types_.insert(d.type_name());
    }
  }
  const ModuleEntry* module(const std::string& name) const {
    auto it = modules_.find(name);
    return it == modules_.end() ? nullptr : it->second;
  }
  // The decision for a module of a quantizable type, else nullptr.
  const LayerDecision* decision(const std::string& name) const {
    auto it = decisions_.find(name);
    return it == decisions_.end() ? nullptr : it->second;
  }
  const LayerDecision* supported_layer(const std::string& name) const {
    const LayerDecision* d = decision(name);
    return d && d->supported() ? d : nullptr;
  }
  bool has_supported_layer_of_type(const std::string& type) const {
    return supported_types_.count(type) > 0;
  }

 private:
  std::unordered_map<std::string, const ModuleEntry*> modules_;
  std::unordered_map<std::string, const LayerDecision*> decisions_;
  std::set<std::string> supported_types_;
};

bool is_winograd_bits(int64_t bits) { return bits == 6 || bits == 7; }

// ---- §5.3 step 1: globals ------------------------------------------------------

struct Globals {
  std::optional<int64_t> batch_num;
  std::optional<bool> activation_offset;
  std::optional<std::string> fakequant_precision_mode;
  std::vector<std::string> skip_layers;
  std::vector<std::string> skip_layer_types;
  bool do_fusion = true;
  std::vector<std::string> skip_fusion_layers;
};

Globals extract_globals(const AMCTPytorchProto::AMCTConfig& cfg) {
  Globals g;
  if (cfg.has_batch_num()) g.batch_num = cfg.batch_num();
  if (cfg.has_activation_offset()) g.activation_offset = cfg.activation_offset();
  if (cfg.has_fakequant_precision_mode())
    g.fakequant_precision_mode = AMCTPytorchProto::FakequantPrecisionMode_Name(
        cfg.fakequant_precision_mode());
  g.skip_layers = to_vector(cfg.skip_layers());
  check_no_repeated_items(g.skip_layers, "skip_layers");
  g.skip_layer_types = to_vector(cfg.skip_layer_types());
  check_no_repeated_items(g.skip_layer_types, "skip_layer_types");
  g.do_fusion = cfg.do_fusion();
  g.skip_fusion_layers = to_vector(cfg.skip_fusion_layers());
  check_no_repeated_items(g.skip_fusion_layers, "skip_fusion_layers");
  return g;
}

// ---- §5.3 step 2: override_layer_configs ---------------------------------------

void check_layer_override(const std::string& name, const ModuleEntry& module,
                          const LayerDecision* supported, const CalibrationBlock& b) {
  const LayerCapability* cap = find_capability(module.type_name);
  if (cap && cap->symmetric_only && b.asymmetric_true())
    throw_value_error("Layer " + name + " can only set asymmetric be False ");
  if (!(cap && cap->channel_wise) && !b.ada() && b.channel_wise_true())
    throw_value_error("channel_wise can only be False for " + name + " layer.");
  if (b.dmq_truthy() && !(supported && supported->capability->dmq_layer))
    throw_value_error("dmq_balancer not support for " + name + " layer");
  if (b.activation.num_bits == 16 && !(supported && supports_int16(*supported)))
    throw_value_error("int16_quantizable not support for " + name + " layer");
  if (b.ada() && !(supported && supported->capability->ada))
    throw_value_error("ada_quantizable not support for " + name + " layer");
  if (is_winograd_bits(b.weight.num_bits) && !(supported && supported->capability->winograd))
    throw_value_error("quant_bits " + std::to_string(b.weight.num_bits) + " not support for " +
                      name + " layer");
}

std::map<std::string, CalibrationBlock> extract_layer_overrides(
    const AMCTPytorchProto::AMCTConfig& cfg, const ModelView& model) {
  std::vector<std::string> names;
  for (const auto& o : cfg.override_layer_configs()) names.push_back(o.layer_name());
  check_no_repeated_items(names, "override_layer_configs");

  std::map<std::string, CalibrationBlock> out;
  for (const auto& o : cfg.override_layer_configs()) {
    const std::string& name = o.layer_name();
    const ModuleEntry* module = model.module(name);
    if (!module) throw_value_error("Layer " + name + " does not exist in the graph.");
    CalibrationBlock block = to_calibration_block(o.calibration_config());
    const LayerDecision* supported = model.supported_layer(name);
    check_layer_override(name, *module, supported, block);
    if (!supported) {
      const LayerDecision* d = model.decision(name);
      log_warning("override_layer_configs for layer '" + name + "' has no effect: " +
                  (d ? "the layer is not quantized (" + d->reason + ")."
                     : "it is a " + module->type_name + ", which is not a quantizable type."));
    }
    out.emplace(name, std::move(block));
  }
  return out;
}

// ---- §5.3 step 3: override_layer_types -----------------------------------------

void check_type_override(const std::string& type, const LayerCapability& cap,
                         const CalibrationBlock& b) {
  if (cap.symmetric_only && b.asymmetric_true())
    throw_value_error("Layer type " + type + " can only set asymmetric be False ");
  if (!cap.channel_wise && !b.ada() && b.channel_wise_true())
    throw_value_error("channel_wise can only be False for " + type + " type");
  if (b.dmq_truthy() && !cap.dmq_type)
    throw_value_error("dmq_balancer not support for " + type + " type");
  if (b.activation.num_bits == 16 && !cap.int16)
    throw_value_error("int16_quantizable not support for " + type + " type");
  if (b.ada() && !cap.ada)  // "layer" (sic), as the reference words it
    throw_value_error("ada_quantizable not support for " + type + " layer");
  if (is_winograd_bits(b.weight.num_bits) && !cap.winograd)
    throw_value_error("quant_bits " + std::to_string(b.weight.num_bits) + " not support for " +
                      type + " type");
}

std::map<std::string, CalibrationBlock> extract_type_overrides(
    const AMCTPytorchProto::AMCTConfig& cfg, const ModelView& model) {
  std::vector<std::string> types;
  for (const auto& o : cfg.override_layer_types()) types.push_back(o.layer_type());
  check_no_repeated_items(types, "override_layer_types");

  std::map<std::string, CalibrationBlock> out;
  for (const auto& o : cfg.override_layer_types()) {
    const std::string& type = o.layer_type();
    const LayerCapability* cap = find_capability(type);
    if (!cap) throw_value_error("Layer type " + type + " does not support quantize.");
    CalibrationBlock block = to_calibration_block(o.calibration_config());
    check_type_override(type, *cap, block);
    if (!model.has_supported_layer_of_type(type))
      log_warning("override_layer_types for type '" + type +
                  "' has no effect: the model has no quantized layer of this type.");
    out.emplace(type, std::move(block));
  }
  return out;
}

// ---- §5.5 step 1: which layers are quantized -----------------------------------

void check_skip_types(const std::vector<std::string>& skip_types) {
  for (const auto& type : skip_types)
    if (!find_capability(type))
      throw_value_error("Layer type " + type + " does not support quantize.");
  // No duplicates (checked with the globals), so this means "every type".
  if (skip_types.size() == capability_table().size())
    throw_value_error("Except skip_types, no type need to quantize.");
}

// ---- §5.5 steps 3-4: assembly ----------------------------------------------------

enum class BlockSource { kLayerOverride, kTypeOverride, kCommon };

struct AssembledLayer {
  const LayerDecision* decision;
  BlockSource source;
  LayerQuantConfig config;
};

// ---- §5.5 steps 5-9 and D5: common_config settings a layer cannot take ----------

void remove_unsupported_dmq(const CalibrationBlock& common, std::vector<AssembledLayer>& layers) {
  if (common.dmq_balancer_param) {
    bool any_capable = false;
    for (const auto& l : layers)
      any_capable |= l.config.quant_enable && l.decision->capability->dmq_layer;
    if (!any_capable)
      log_warning(
          "Except skip_layers or skip_types, no layer in graph support dmq_balancer, please "
          "remove dmq_balancer in config file.");
  }
  for (auto& l : layers) {
    if (!l.config.dmq_balancer_param || l.decision->capability->dmq_layer) continue;
    l.config.dmq_balancer_param.reset();
    log_warning("Layer " + l.config.name +
                " does not support dmq_balancer, remove dmq_balancer in config file");
  }
}

void downgrade_int16(const CalibrationBlock& common, std::vector<AssembledLayer>& layers) {
  if (common.activation.num_bits != 16) return;
  for (auto& l : layers) {
    if (l.config.activation.num_bits != 16 || supports_int16(*l.decision)) continue;
    l.config.activation.num_bits = 8;
    log_warning("Layer " + l.config.name + " does not support int16_quantizable, set int8");
  }
}

void downgrade_weight_bits(std::vector<AssembledLayer>& layers) {
  for (auto& l : layers) {
    if (!l.config.weight) continue;
    int64_t& bits = l.config.weight->num_bits;
    if (is_winograd_bits(bits) && !l.decision->capability->winograd) {
      log_info("Layer " + l.config.name + " does not support weight num bits " +
               std::to_string(bits) + ", set int8");
      bits = 8;
    }
  }
  for (auto& l : layers) {
    if (!l.config.weight || l.config.weight->num_bits != 4 || int4_packable(*l.decision)) continue;
    l.config.weight->num_bits = 8;
    log_warning("Layer " + l.config.name +
                " weight cannot be INT4-packed along Cin (grouped conv or odd Cin), downgraded "
                "to INT8 (A8W4).");
  }
}

// Whether the layer's weight_quant_params is dropped at the end (§5.5 step
// 13): ADA from common_config on a layer that cannot take ADA.
bool loses_weight_params(const CalibrationBlock& common, const AssembledLayer& l) {
  return common.ada() && l.config.weight && l.config.weight->wts_algo == WtsAlgo::kAda &&
         !l.decision->capability->ada;
}

// Deviation D5: channel_wise true from common_config becomes false on types
// that cannot take it, instead of failing validation.
void downgrade_channel_wise(const CalibrationBlock& common, std::vector<AssembledLayer>& layers) {
  for (auto& l : layers) {
    if (l.source != BlockSource::kCommon || !l.config.weight ||
        !l.config.weight->channel_wise.value_or(false) || l.decision->capability->channel_wise)
      continue;
    l.config.weight->channel_wise = false;
    if (!loses_weight_params(common, l))
      log_info("Layer " + l.config.name + " (" + l.config.type_name +
               ") does not support channel_wise weight quantization, set channel_wise false");
  }
}

// ---- §5.5 step 10: asymmetric ----------------------------------------------------

void resolve_asymmetric(const CalibrationBlock& common, bool activation_offset,
                        std::vector<AssembledLayer>& layers) {
  for (auto& l : layers) {
    ActivationQuantParams& a = l.config.activation;
    if (l.decision->capability->symmetric_only) {
      a.asymmetric = false;
      log_info("Layer " + l.config.name + " does not support asymmetric quant, set symmetric");
    } else if (!a.asymmetric) {
      a.asymmetric = common.activation.asymmetric && a.act_algo == common.activation.act_algo
                         ? *common.activation.asymmetric
                         : activation_offset;
    }
  }
}

}  // namespace

SimpleConfig::SimpleConfig(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SimpleConfig::SimpleConfig(SimpleConfig&&) noexcept = default;
SimpleConfig& SimpleConfig::operator=(SimpleConfig&&) noexcept = default;
SimpleConfig::~SimpleConfig() = default;

SimpleConfig SimpleConfig::read(const std::string& path) {
  const std::string real = python_realpath(path);
  struct stat st;
  if (::stat(real.c_str(), &st) != 0) throw_os_error(errno, real);
  if (S_ISDIR(st.st_mode)) throw_os_error(EISDIR, real);
  std::ifstream in(real, std::ios::binary);
  if (!in) throw_os_error(errno ? errno : EACCES, real);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

SimpleConfig SimpleConfig::parse(const std::string& text) {
  auto impl = std::make_unique<Impl>();
  impl->proto = parse_cfg_text(text);
  return SimpleConfig(std::move(impl));
}

QuantConfig SimpleConfig::expand(const std::vector<ModuleEntry>& modules,
                                 const std::vector<LayerDecision>& decisions) const {
  const AMCTPytorchProto::AMCTConfig& cfg = impl_->proto;
  const ModelView model(modules, decisions);

  // §5.3: extraction and its checks.
  const Globals g = extract_globals(cfg);
  const auto layer_blocks = extract_layer_overrides(cfg, model);
  const auto type_blocks = extract_type_overrides(cfg, model);
  const CalibrationBlock common =
      cfg.has_common_config() ? to_calibration_block(cfg.common_config()) : CalibrationBlock{};

  // §5.5 step 1: skip_layers, skip_layer_types, supported layers.
  check_skip_layers(modules, g.skip_layers);
  check_skip_types(g.skip_layer_types);
  const std::vector<const LayerDecision*> supported = supported_layers(decisions);
  const std::set<std::string> skip_layers(g.skip_layers.begin(), g.skip_layers.end());
  const std::set<std::string> skip_types(g.skip_layer_types.begin(), g.skip_layer_types.end());
  auto quantized = [&](const LayerDecision& d) {
    return !skip_layers.count(d.name()) && !skip_types.count(d.type_name());
  };
  bool any_quantized = false;
  for (const auto* d : supported) any_quantized |= quantized(*d);
  if (!any_quantized)
    throw_value_error("Except skip_layers or skip_types, no layer need to quantize.");

  // §5.5 step 2: root values.
  QuantConfig config;
  config.batch_num = g.batch_num.value_or(defaults::kBatchNum);
  config.activation_offset = g.activation_offset.value_or(defaults::kActivationOffset);
  config.do_fusion = g.do_fusion;
  config.fakequant_precision_mode = g.fakequant_precision_mode;
  config.skip_fusion_layers = g.skip_fusion_layers;

  // §5.5 steps 3-4: one whole block per layer, then defaults.
  std::vector<AssembledLayer> layers;
  for (const auto* d : supported) {
    AssembledLayer l{d, BlockSource::kCommon, {}};
    const CalibrationBlock* block = &common;
    if (auto it = layer_blocks.find(d->name()); it != layer_blocks.end()) {
      block = &it->second;
      l.source = BlockSource::kLayerOverride;
    } else if (auto it = type_blocks.find(d->type_name()); it != type_blocks.end()) {
      block = &it->second;
      l.source = BlockSource::kTypeOverride;
    }
    l.config.name = d->name();
    l.config.type_name = d->type_name();
    l.config.quant_enable = quantized(*d);
    l.config.dmq_balancer_param = block->dmq_balancer_param;
    l.config.activation = block->activation;
    l.config.weight = block->weight;
    fill_layer_defaults(l.config, *d->capability);
    layers.push_back(std::move(l));
  }

  // §5.5 steps 5-9, D5, step 10.
  remove_unsupported_dmq(common, layers);
  downgrade_int16(common, layers);
  downgrade_weight_bits(layers);
  downgrade_channel_wise(common, layers);
  resolve_asymmetric(common, config.activation_offset, layers);

  // §5.5 step 11: validation, layers in named_modules() order.
  for (auto& l : layers) config.layers.push_back(l.config);
  validate_quant_config(config, modules, decisions);

  // §5.5 step 13: ADA from common_config on layers that cannot take it.
  for (size_t i = 0; i < layers.size(); ++i)
    if (loses_weight_params(common, layers[i])) config.layers[i].weight.reset();
  return config;
}

}  // namespace openamct
