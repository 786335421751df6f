#include "simple_config/calibration_block.h"

#include "text/float_repr.h"

namespace openamct {
namespace {

int64_t num_bits_of(bool int16) { return int16 ? 16 : 8; }

double py(float value) { return float32_to_python_float(value); }

}  // namespace

CalibrationBlock to_calibration_block(const AMCTPytorchProto::CalibrationConfig& config) {
  CalibrationBlock block;
  ActivationQuantParams& a = block.activation;
  if (config.has_ifmr_quantize()) {
    const auto& ifmr = config.ifmr_quantize();
    a.num_bits = num_bits_of(ifmr.dst_type() == AMCTPytorchProto::FMRQuantize::INT16);
    a.act_algo = ActAlgo::kIfmr;
    a.max_percentile = py(ifmr.max_percentile());
    a.min_percentile = py(ifmr.min_percentile());
    a.search_range = {py(ifmr.search_range_start()), py(ifmr.search_range_end())};
    a.search_step = py(ifmr.search_step());
    if (ifmr.has_asymmetric()) a.asymmetric = ifmr.asymmetric();
  } else if (config.has_hfmg_quantize()) {
    const auto& hfmg = config.hfmg_quantize();
    a.num_bits = num_bits_of(hfmg.dst_type() == AMCTPytorchProto::HFMGQuantize::INT16);
    a.act_algo = ActAlgo::kHfmg;
    a.num_of_bins = hfmg.num_of_bins();
    if (hfmg.has_asymmetric()) a.asymmetric = hfmg.asymmetric();
  }

  WeightQuantParams& w = block.weight;
  if (config.has_arq_quantize()) {
    const auto& arq = config.arq_quantize();
    if (arq.has_channel_wise()) w.channel_wise = arq.channel_wise();
    if (arq.has_quant_bits()) w.num_bits = arq.quant_bits();
  } else if (config.has_ada_quantize()) {
    const auto& ada = config.ada_quantize();
    w.wts_algo = WtsAlgo::kAda;
    w.num_iteration = ada.num_iteration();
    w.reg_param = py(ada.reg_param());
    w.beta_range = {py(ada.beta_range_start()), py(ada.beta_range_end())};
    w.warm_start = py(ada.warm_start());
    if (ada.has_channel_wise()) w.channel_wise = ada.channel_wise();
  }

  if (config.has_dmq_balancer())
    block.dmq_balancer_param = py(config.dmq_balancer().migration_strength());
  return block;
}

}  // namespace openamct
