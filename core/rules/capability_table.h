// The capability table: which module classes can be quantized, the
// constraints each one must meet, and what each one can take (INT16, DMQ, ADA,
// INT6/7 weights, channel-wise weights). All type-dependent behaviour of the
// rules, the config builder and the simple-config expansion reads this table;
// nothing else compares class names. Values follow the reference's
// capacity_config.csv and check.py (spec §2, §3.2) plus deviation D4.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace openamct {

// What a layer computes, as calibration and the graph passes need to know.
enum class LayerKind {
  kConv,    // Conv1d/2d/3d: weight [Cout, Cin / groups, k...]
  kDeconv,  // ConvTranspose1d/2d: weight [Cin, Cout / groups, k...]
  kLinear,  // weight [out_features, in_features]
  kPool,    // AvgPool2d: no weight
  kRnn,     // GRU, LSTM: weight_ih_l0 [gates * hidden, input]
};

// The yes/no columns of a row, named so that a row lists what it has (any
// order) and a missing or swapped one cannot pass for another.
enum LayerTrait : unsigned {
  // Constraints (spec §3.1), checked in the order the reference checks them.
  kChecksPaddingMode = 1u << 0,      // padding_mode must be "zeros"
  kFirstDilationMustBe1 = 1u << 1,   // Conv3d: dilation[0] == 1 (depth)
  kChecksSharedWeight = 1u << 2,     // excluded when its weight Parameter is
                                     // shared (D4: Conv1d included)
  kRnnConstraints = 1u << 3,         // num_layers 1, unidirectional, dropout 0,
                                     // proj_size 0
  // Defaults and capabilities.
  kChannelWise = 1u << 4,            // default channel_wise, and whether true is allowed
  kSymmetricOnly = 1u << 5,          // activation `asymmetric` is forced false
  kInt16 = 1u << 6,                  // INT16 activations (dst_type INT16)
  kInt16NeedsBias = 1u << 7,         // ... only when the layer has a bias (Linear)
  kDmqLayer = 1u << 8,               // dmq_balancer allowed on a layer of this type
  kDmqType = 1u << 9,                // dmq_balancer allowed in override_layer_types
  kAda = 1u << 10,                   // ada_quantize weights
  kWinograd = 1u << 11,              // weight num_bits 6 / 7
  kFusable = 1u << 12,               // may be named in skip_fusion_layers (Conv+BN)
  kInt4GroupsMatter = 1u << 13,      // grouped (groups > 1) layers cannot be INT4-packed
};

// The numeric columns, each its own type so that they cannot be swapped.
struct BatchedInputRank { int value; };  // a lower rank is "dimension reduced"; 0 = not checked
struct OutChannelAxis { int value; };    // axis of the weight that holds Cout; -1 = no weight
struct InChannelAxis { int value; };     // axis that holds Cin (INT4 nibble packing); -1 = none

struct LayerCapability {
  constexpr LayerCapability(std::string_view type, LayerKind layer_kind, BatchedInputRank rank,
                            OutChannelAxis out_axis, InChannelAxis in_axis, unsigned traits)
      : type_name(type),
        kind(layer_kind),
        checks_padding_mode(traits & kChecksPaddingMode),
        first_dilation_must_be_1(traits & kFirstDilationMustBe1),
        batched_input_rank(rank.value),
        checks_shared_weight(traits & kChecksSharedWeight),
        is_rnn(traits & kRnnConstraints),
        channel_wise(traits & kChannelWise),
        symmetric_only(traits & kSymmetricOnly),
        int16(traits & kInt16),
        int16_needs_bias(traits & kInt16NeedsBias),
        dmq_layer(traits & kDmqLayer),
        dmq_type(traits & kDmqType),
        ada(traits & kAda),
        winograd(traits & kWinograd),
        fusable(traits & kFusable),
        out_channel_axis(out_axis.value),
        in_channel_axis(in_axis.value),
        int4_groups_matter(traits & kInt4GroupsMatter) {}

  std::string_view type_name;  // exact class name, as the reference matches it
  LayerKind kind;

  // Constraints (see LayerTrait).
  bool checks_padding_mode;
  bool first_dilation_must_be_1;
  int batched_input_rank;
  bool checks_shared_weight;
  bool is_rnn;

  // Defaults and capabilities (see LayerTrait).
  bool channel_wise;
  bool symmetric_only;
  bool int16;
  bool int16_needs_bias;
  bool dmq_layer;
  bool dmq_type;
  bool ada;
  bool winograd;
  bool fusable;

  // Weight layout: per-channel scales run along out_channel_axis; INT4
  // packing pairs values along in_channel_axis (-1: always packable).
  int out_channel_axis;
  int in_channel_axis;
  bool int4_groups_matter;

  // Conv or ConvTranspose: has padding_mode, dilation and groups.
  bool is_convolution() const { return kind == LayerKind::kConv || kind == LayerKind::kDeconv; }
};

// All quantizable types, in the reference's QUANTIZABLE_TYPES order.
const std::vector<LayerCapability>& capability_table();

// nullptr when `type_name` is not a quantizable type.
const LayerCapability* find_capability(std::string_view type_name);

// Whether a module of this class counts as a user of its weight when looking
// for shared weights (the checking types plus ConvTranspose3d, as the
// reference counts them).
bool counts_for_shared_weight(std::string_view type_name);

// The quantizable type names as the reference prints them in messages,
// e.g. "['Conv2d', 'Conv3d', 'Conv1d']" for the fusable types.
std::vector<std::string> quantizable_type_names();
std::vector<std::string> fusable_type_names();

}  // namespace openamct
