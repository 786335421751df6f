// Layer discovery (spec §3.1): which modules of a quantizable type go into the
// config. The reference finds them through an ONNX export; we decide from the
// layer table, applying the same constraints. Static constraints (padding,
// dilation, RNN settings) are reported before run-time ones (not executed,
// reused, unbatched input, shared weight) so the reason names the most
// fundamental problem.
#include <map>
#include <ostream>
#include <sstream>

#include "rules/layer_verdict.h"

namespace openamct {
namespace {

std::string join_ints(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  if (v.size() == 1) os << ",";
  os << ")";
  return os.str();
}

std::string format_double(double d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

struct Finding {
  LayerVerdict verdict;
  std::string reason;
};

// Static constraints that the module's attributes decide.
bool check_static(const ModuleRecord& m, const LayerCapability& cap, Finding* out) {
  if (cap.checks_padding_mode && !m.padding_mode.empty() && m.padding_mode != "zeros") {
    *out = {LayerVerdict::kUnsupportedPadding,
            "padding_mode is '" + m.padding_mode +
                "'; only padding_mode 'zeros' can be quantized"};
    return false;
  }
  if (cap.first_dilation_must_be_1 && (m.dilation.size() != 3 || m.dilation[0] != 1)) {
    *out = {LayerVerdict::kUnsupportedDilation,
            "dilation is " + join_ints(m.dilation) + "; " + std::string(cap.type_name) +
                " needs a depth dilation of 1"};
    return false;
  }
  if (cap.is_rnn) {
    const std::string t(cap.type_name);
    if (m.num_layers != 1) {
      *out = {LayerVerdict::kRnnMultiLayer, "num_layers is " + std::to_string(m.num_layers) +
                                                "; only a single-layer " + t + " can be quantized"};
      return false;
    }
    if (m.bidirectional) {
      *out = {LayerVerdict::kRnnBidirectional,
              "bidirectional; only a unidirectional " + t + " can be quantized"};
      return false;
    }
    if (m.dropout != 0.0) {
      *out = {LayerVerdict::kRnnDropout, "dropout is " + format_double(m.dropout) +
                                             "; only a " + t + " without dropout can be quantized"};
      return false;
    }
    if (m.proj_size != 0) {
      *out = {LayerVerdict::kRnnProjection,
              "proj_size is " + std::to_string(m.proj_size) + "; only a " + t +
                  " without projection can be quantized"};
      return false;
    }
  }
  return true;
}

// Constraints that the forward pass decides.
bool check_run(const ModuleRecord& m, const LayerCapability& cap, Finding* out) {
  if (m.call_count == 0) {
    *out = {LayerVerdict::kNotExecuted,
            "never called in forward(); only modules that run can be quantized"};
    return false;
  }
  if (m.call_count > 1) {
    *out = {LayerVerdict::kReused,
            "called " + std::to_string(m.call_count) +
                " times in forward(); a reused module cannot be quantized"};
    return false;
  }
  if (cap.batched_input_rank > 0 && m.input_rank >= 0 && m.input_rank < cap.batched_input_rank) {
    *out = {LayerVerdict::kReducedInputRank,
            "its input has " + std::to_string(m.input_rank) + " dimensions; " +
                std::string(cap.type_name) + " is quantized only on a batched " +
                std::to_string(cap.batched_input_rank) + "-D input"};
    return false;
  }
  return true;
}

}  // namespace

const char* verdict_name(LayerVerdict v) {
  switch (v) {
    case LayerVerdict::kQuantize: return "quantize";
    case LayerVerdict::kUnsupportedPadding: return "unsupported_padding";
    case LayerVerdict::kUnsupportedDilation: return "unsupported_dilation";
    case LayerVerdict::kNotExecuted: return "not_executed";
    case LayerVerdict::kReused: return "reused";
    case LayerVerdict::kReducedInputRank: return "unbatched_input";
    case LayerVerdict::kSharedWeight: return "shared_weight";
    case LayerVerdict::kRnnMultiLayer: return "rnn_multi_layer";
    case LayerVerdict::kRnnBidirectional: return "rnn_bidirectional";
    case LayerVerdict::kRnnDropout: return "rnn_dropout";
    case LayerVerdict::kRnnProjection: return "rnn_projection";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, LayerVerdict v) { return os << verdict_name(v); }

std::vector<LayerDecision> analyse_layers(const LayerTable& table) {
  // Who uses each weight Parameter (only the classes the reference counts).
  std::map<int64_t, std::vector<const ModuleRecord*>> weight_users;
  for (const auto& m : table.modules)
    if (m.weight_id >= 0 && counts_for_shared_weight(m.type_name))
      weight_users[m.weight_id].push_back(&m);

  std::vector<LayerDecision> decisions;
  for (const auto& m : table.modules) {
    const LayerCapability* cap = find_capability(m.type_name);
    if (!cap) continue;
    Finding f{LayerVerdict::kQuantize, "quantizable"};
    if (check_static(m, *cap, &f) && check_run(m, *cap, &f) && cap->checks_shared_weight &&
        m.weight_id >= 0) {
      const auto& users = weight_users[m.weight_id];
      if (users.size() > 1) {
        std::string others;
        for (const auto* u : users)
          if (u != &m) others += (others.empty() ? "" : ", ") + u->name;
        f = {LayerVerdict::kSharedWeight,
             "its weight Parameter is shared with " + others +
                 "; a layer with a shared weight cannot be quantized"};
      }
    }
    decisions.push_back({&m, cap, f.verdict, f.reason});
  }
  return decisions;
}

bool supports_int16(const LayerDecision& d) {
  return d.supported() && d.capability->int16 &&
         (!d.capability->int16_needs_bias || d.record->has_bias);
}

bool int4_packable(const LayerDecision& d) {
  const LayerCapability& cap = *d.capability;
  if (cap.in_channel_axis < 0) return true;
  if (cap.int4_groups_matter && d.record->groups > 1) return false;
  const auto& shape = d.record->weight_shape;
  if (static_cast<int64_t>(shape.size()) > cap.in_channel_axis &&
      shape[cap.in_channel_axis] % 2 != 0)
    return false;
  if (cap.is_rnn && d.record->hidden_size % 2 != 0) return false;
  return true;
}

}  // namespace openamct
