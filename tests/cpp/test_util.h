// Helpers shared by the C++ tests.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/quant_config.h"
#include "openamct/errors.h"
#include "openamct/layer_table.h"

namespace openamct {

// The message of the openamct::Error that `f` throws (its kind in `*kind`),
// or "<no error>".
inline std::string error_of(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "<no error>";
}

// A module that meets every constraint of the rules: called once on a batched
// input of unknown rank, zeros padding, dilation 1, a bias, and a weight
// Parameter of its own when `weight_shape` is given (no weight otherwise).
inline ModuleRecord module_record(const std::string& name, const std::string& type,
                                  std::vector<int64_t> weight_shape = {}) {
  static int64_t next_weight_id = 1;
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  r.call_count = 1;
  r.padding_mode = "zeros";
  r.dilation = type == "Conv3d" ? std::vector<int64_t>{1, 1, 1} : std::vector<int64_t>{1, 1};
  r.has_bias = true;
  r.weight_shape = std::move(weight_shape);
  r.weight_id = r.weight_shape.empty() ? -1 : next_weight_id++;
  return r;
}

// The layer of `config` named `name`; throws when there is none.
inline const LayerQuantConfig& find_layer(const QuantConfig& config, const std::string& name) {
  for (const auto& l : config.layers)
    if (l.name == name) return l;
  throw std::runtime_error("no layer " + name);
}

}  // namespace openamct
