// Thin bindings of include/openamct/algorithms.h: tensors in, plain Python
// values and tensors out. The algorithms' warnings (D10) go to the core's log
// sink, i.e. Python's `logging` logger "openamct".
#include "algorithms_bindings.h"

#include <pybind11/stl.h>
#include <torch/extension.h>

#include "openamct/algorithms.h"
#include "openamct/log.h"

namespace py = pybind11;
namespace alg = openamct::algorithms;

namespace openamct_py {

namespace {

py::dict activation_dict(const alg::ActivationQuant& q) {
  py::dict d;
  d["scale"] = static_cast<double>(q.scale);
  d["offset"] = q.offset;
  d["clip_max"] = static_cast<double>(q.clip_max);
  d["clip_min"] = static_cast<double>(q.clip_min);
  return d;
}

void warn(const std::optional<std::string>& w) {
  if (w) openamct::log_warning(*w);
}

}  // namespace

void register_algorithms(py::module_& parent) {
  py::module_ m = parent.def_submodule("algorithms", "openamct calibration algorithms (C++)");

  m.def("ifmr", [](const std::vector<at::Tensor>& batches, int64_t num_bits, bool with_offset,
                   double max_percentile, double min_percentile, double search_start,
                   double search_end, double search_step) {
    alg::IfmrOptions o;
    o.num_bits = num_bits;
    o.with_offset = with_offset;
    o.max_percentile = max_percentile;
    o.min_percentile = min_percentile;
    o.search_start = search_start;
    o.search_end = search_end;
    o.search_step = search_step;
    alg::ActivationQuant r;
    {
      py::gil_scoped_release nogil;
      r = alg::ifmr(batches, o);
    }
    return activation_dict(r);
  });

  m.def("hfmg", [](const std::vector<at::Tensor>& batches, int64_t num_bits, bool with_offset,
                   int64_t nbins) {
    alg::HfmgOptions o;
    o.num_bits = num_bits;
    o.with_offset = with_offset;
    o.nbins = nbins;
    alg::ActivationQuant r;
    {
      py::gil_scoped_release nogil;
      r = alg::hfmg(batches, o);
    }
    return activation_dict(r);
  });

  m.def("minmax_scale_offset", [](float max_val, float min_val, bool asymmetric, int64_t num_bits) {
    const alg::ScaleOffset r = alg::minmax_scale_offset(max_val, min_val, asymmetric, num_bits);
    py::dict d;
    d["scale"] = static_cast<double>(r.scale);
    d["offset"] = r.offset;
    return d;
  });

  m.def("arq", [](const at::Tensor& weight, bool channel_wise, int64_t num_bits,
                  const std::string& layout, int64_t groups, bool with_offset) {
    alg::ArqOptions o;
    o.channel_wise = channel_wise;
    o.num_bits = num_bits;
    o.layout = alg::parse_weight_layout(layout);
    o.groups = groups;
    o.with_offset = with_offset;
    alg::ArqResult r;
    {
      py::gil_scoped_release nogil;
      r = alg::arq(weight, o);
    }
    py::dict d;
    py::list scale;
    for (float s : r.scale) scale.append(static_cast<double>(s));
    d["scale"] = scale;
    d["offset"] = r.offset;
    d["fake_quant_weight"] = r.fake_quant_weight;
    d["int_weight"] = r.int_weight;
    return d;
  });

  // AdaRound (§10). No GIL release: ada_soft_weight runs in the Python
  // training loop, where autograd records its ATen ops.
  m.def("ada_kl_scale", [](const at::Tensor& weight, bool channel_wise, const std::string& layout,
                           int64_t groups) {
    const std::vector<float> s =
        alg::ada_kl_scale(weight, channel_wise, alg::parse_weight_layout(layout), groups);
    return std::vector<double>(s.begin(), s.end());
  });
  m.def("ada_scale_tensor", [](const std::vector<float>& scale, const at::Tensor& weight,
                               const std::string& layout, int64_t groups) {
    return alg::ada_scale_tensor(scale, weight, alg::parse_weight_layout(layout), groups);
  });
  m.def("ada_init_alpha", &alg::ada_init_alpha);
  m.def("ada_rectified_sigmoid", &alg::ada_rectified_sigmoid);
  m.def("ada_soft_weight", &alg::ada_soft_weight);
  m.attr("ADA_GAMMA") = alg::kAdaGamma;
  m.attr("ADA_ZETA") = alg::kAdaZeta;

  // Hessian-guided rounding (quantize_model's hessian_rounding): the Hessian;
  // the rounding itself runs inside the flow (QuantizeModelFlow::round_with_hessian).
  m.def("layer_input_hessian",
        [](const at::Tensor& input, int64_t in_channels, std::vector<int64_t> kernel,
           std::vector<int64_t> stride, std::vector<int64_t> padding,
           std::vector<int64_t> dilation, int64_t groups) {
          alg::LayerGeometry g{in_channels, kernel, stride, padding, dilation, groups};
          return alg::layer_input_hessian(input, g);
        });

  m.def("dmq_factor", [](const at::Tensor& act_max, const at::Tensor& weight_max,
                         double migration_strength) {
    alg::DmqFactor f = alg::dmq_factor(act_max, weight_max, migration_strength);
    if (f.warning) openamct::log_warning("dmq_factor: " + *f.warning);
    return f.factor;
  });

  m.def("dmq_layer", [](const std::string& layer_type, const at::Tensor& activation,
                        const at::Tensor& weight, double migration_strength, int64_t groups,
                        const std::string& layer_name) {
    const alg::DmqLayerType t = alg::parse_dmq_layer_type(layer_type);
    alg::DmqLayerResult r = alg::dmq_layer(t, activation, weight, migration_strength, groups,
                                           layer_name);
    warn(r.warning);
    py::dict d;
    d["factor"] = r.factor;
    d["balanced_weight"] = r.balanced_weight;
    return d;
  });

  m.def("fuse_conv_bn", [](const at::Tensor& weight, std::optional<at::Tensor> bias,
                           const at::Tensor& bn_weight, const at::Tensor& bn_bias,
                           const at::Tensor& bn_mean, const at::Tensor& bn_var, double eps,
                           bool bn_training) {
    alg::ConvBnFusion r =
        alg::fuse_conv_bn(weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps, bn_training);
    warn(r.warning);
    py::dict d;
    d["fused"] = r.fused;
    d["weight"] = r.weight;
    d["bias"] = r.bias.defined() ? py::cast(r.bias) : py::none();
    return d;
  });
}

}  // namespace openamct_py
