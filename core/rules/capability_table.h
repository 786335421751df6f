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

struct LayerCapability {
  std::string_view type_name;  // exact class name, as the reference matches it

  // Constraints (spec §3.1), checked in the order the reference checks them.
  bool checks_padding_mode;     // padding_mode must be "zeros"
  bool first_dilation_must_be_1;// Conv3d: dilation[0] == 1 (depth)
  int batched_input_rank;       // an input of lower rank is "dimension reduced"
                                // and excluded; 0 = not checked
  bool checks_shared_weight;    // excluded when its weight Parameter is shared
                                // (D4: Conv1d included)
  bool is_rnn;                  // num_layers 1, unidirectional, dropout 0,
                                // proj_size 0

  // Defaults and capabilities.
  bool channel_wise;        // default channel_wise, and whether true is allowed
  bool symmetric_only;      // activation `asymmetric` is forced false
  bool int16;               // INT16 activations (dst_type INT16)
  bool int16_needs_bias;    // ... only when the layer has a bias (Linear)
  bool dmq_layer;           // dmq_balancer allowed on a layer of this type
  bool dmq_type;            // dmq_balancer allowed in override_layer_types
  bool ada;                 // ada_quantize weights
  bool winograd;            // weight num_bits 6 / 7
  bool fusable;             // may be named in skip_fusion_layers (Conv+BN)
  int int4_cin_axis;        // axis of `weight_shape` that holds Cin for INT4
                            // nibble packing; -1 = always packable
  bool int4_groups_matter;  // grouped (groups > 1) layers cannot be packed
};

// All quantizable types, in the reference's QUANTIZABLE_TYPES order.
const std::vector<LayerCapability>& capability_table();

// nullptr when `type_name` is not a quantizable type.
const LayerCapability* find_capability(std::string_view type_name);

// Whether a module of this class counts as a user of its weight when looking
// for shared weights (the checking types plus ConvTranspose3d, as the
// reference counts them).
bool counts_for_shared_weight(std::string_view type_name);

// Module classes of the reference's own quantization wrappers; a model that
// contains one is rejected (it has been quantized already).
const std::vector<std::string_view>& amct_operation_types();

// Keys of the config's root; no layer may be named like one.
const std::vector<std::string_view>& reserved_global_names();

// The quantizable type names as the reference prints them in messages,
// e.g. "['Conv2d', 'Conv3d', 'Conv1d']" for the fusable types.
std::vector<std::string> quantizable_type_names();
std::vector<std::string> fusable_type_names();

}  // namespace openamct
