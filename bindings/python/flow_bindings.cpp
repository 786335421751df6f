// openamct._C's calibration-flow entry points for python/openamct/_flow.py:
// the config read on a captured layer table, the quantize_model session, the
// calibration and DMQ recorders, and save_model. Only conversion here; the
// flow lives in core/flow.
#include "flow_bindings.h"

#include <pybind11/stl.h>
#include <torch/extension.h>

#include "api/argument_checks.h"
#include "config/config_reader.h"
#include "eager_source.h"
#include "flow/quantize_flow.h"
#include "openamct/openamct.h"
#include "record/record_file.h"

namespace py = pybind11;
namespace fl = openamct::flow;

namespace openamct_py {

void register_flow(py::module_& m) {
  py::class_<openamct::CalibrationSettings>(m, "CalibrationSettings")
      .def_readonly("batch_num", &openamct::CalibrationSettings::batch_num)
      .def_property_readonly("layers", [](const openamct::CalibrationSettings& s) {
        py::list out;
        for (const auto& l : s.layers) {
          py::dict d;
          d["name"] = l.name;
          d["type"] = l.type_name;
          d["dmq_balancer_param"] = l.dmq_balancer_param ? py::cast(*l.dmq_balancer_param)
                                                          : py::none();
          d["wts_algo"] = std::string(openamct::wts_algo_name(l.wts_algo));
          d["channel_wise"] = l.channel_wise;
          d["wts_num_bits"] = l.wts_num_bits;
          if (l.wts_algo == openamct::WtsAlgo::kAda) {
            d["num_iteration"] = l.num_iteration;
            d["reg_param"] = l.reg_param;
            d["warm_start"] = l.warm_start;
            d["beta_range"] = py::make_tuple(l.beta_range_start, l.beta_range_end);
          }
          out.append(d);
        }
        return out;
      });

  m.def("flow_check_file_name", &openamct::check_file_name);

  // Captures the layer table (as create_quant_config does) and reads the config.
  m.def("flow_read_config", [](const std::string& config_path, py::list modules,
                               py::function run_forward) {
    EagerSource source(std::move(modules), std::move(run_forward));
    openamct::check_no_amct_operations(source.modules());
    return openamct::read_calibration_config_file(config_path, source.capture());
  });

  m.def("flow_write_empty_record", [](const std::string& path) {
    openamct::write_record_file(path, openamct::RecordContent{}, true);
  });

  py::class_<fl::CalibrationRecorder, std::shared_ptr<fl::CalibrationRecorder>>(
      m, "CalibrationRecorder")
      .def("add_batch", &fl::CalibrationRecorder::add_batch)
      .def("measures_output", &fl::CalibrationRecorder::measures_output)
      .def("add_output", &fl::CalibrationRecorder::add_output)
      .def("calibrates_hidden", &fl::CalibrationRecorder::calibrates_hidden)
      .def("add_hidden", &fl::CalibrationRecorder::add_hidden)
      .def_property_readonly("complete", &fl::CalibrationRecorder::complete)
      .def_property_readonly("kept_bytes", &fl::CalibrationRecorder::kept_bytes);

  py::class_<fl::DmqRecorder, std::shared_ptr<fl::DmqRecorder>>(m, "DmqRecorder")
      .def(py::init<std::vector<std::string>, std::vector<std::string>, std::vector<double>,
                    std::string>())
      .def("add_batch", &fl::DmqRecorder::add_batch)
      .def_property_readonly("written", &fl::DmqRecorder::written);

  py::class_<fl::QuantizeModelFlow>(m, "QuantizeModelFlow")
      .def(py::init([](const openamct::CalibrationSettings& s, const py::bytes& exported,
                       const fl::ExportedParams& params, const std::string& record_path,
                       bool read_dmq_record) {
        // The graph alone (the weights come as `params`): a few kB to copy.
        return new fl::QuantizeModelFlow(s, std::string(exported), params, record_path,
                                         read_dmq_record);
      }))
      .def("fusion_candidates", [](const fl::QuantizeModelFlow& f) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& p : f.fusion_candidates()) out.emplace_back(p.conv, p.bn);
        return out;
      })
      .def("fuse", [](fl::QuantizeModelFlow& f, const std::string& conv, const std::string& bn,
                      const at::Tensor& w, std::optional<at::Tensor> b, const at::Tensor& bn_w,
                      const at::Tensor& bn_b, const at::Tensor& mean, const at::Tensor& var,
                      double eps, bool training, bool fusable_kind) -> py::object {
        fl::BatchNormFacts facts{bn_w, bn_b, mean, var, eps, training, fusable_kind};
        auto r = f.fuse({conv, bn}, w, b, facts);
        if (!r) return py::none();
        return py::make_tuple(r->weight, r->bias);
      })
      .def("weight_pass", [](fl::QuantizeModelFlow& f, const std::string& layer,
                             std::optional<at::Tensor> w, int64_t groups) -> py::object {
        at::Tensor r = f.weight_pass(layer, w ? *w : at::Tensor(), groups);
        if (!r.defined()) return py::none();
        return py::cast(r);
      })
      .def("rnn_weight_pass", &fl::QuantizeModelFlow::rnn_weight_pass)
      .def("set_calibration_weight", &fl::QuantizeModelFlow::set_calibration_weight)
      .def("set_bias", &fl::QuantizeModelFlow::set_bias)
      .def("round_with_hessian", &fl::QuantizeModelFlow::round_with_hessian)
      .def("deconv_fake_quant_weight",
           [](const fl::QuantizeModelFlow& f, const std::string& layer) -> py::object {
             at::Tensor w = f.deconv_fake_quant_weight(layer);
             if (!w.defined()) return py::none();
             return py::cast(w);
           })
      .def("weight_scale", &fl::QuantizeModelFlow::weight_scale)
      .def("graph_position", &fl::QuantizeModelFlow::graph_position)
      .def("following_activation", [](const fl::QuantizeModelFlow& f, const std::string& layer) {
        const fl::FollowingActivation a = f.following_activation(layer);
        py::dict d;
        d["kind"] = a.kind;
        d["alpha"] = a.alpha;
        d["slope"] = a.slope;
        return d;
      })
      .def("balance_factor", &fl::QuantizeModelFlow::balance_factor)
      .def("measure_outputs", &fl::QuantizeModelFlow::measure_outputs)
      .def("write", &fl::QuantizeModelFlow::write)
      .def("recorder", &fl::QuantizeModelFlow::recorder);

  // The record file's quantisation fields per layer (accuracy_based_auto_calibration's
  // fake-quant evaluation model): {key: {scale_d, offset_d, scale_w, scale_h, scale_r,
  // act_bits, wts_bits}}.
  m.def("read_record", [](const std::string& path) {
    const openamct::RecordContent content = openamct::read_record_file(path);
    py::dict out;
    auto bits = [](const std::optional<std::string>& type) {
      return type && type->rfind("INT", 0) == 0 ? std::stoi(type->substr(3)) : 8;
    };
    for (const auto& r : content.layers) {
      py::dict d;
      d["scale_d"] = r.scale_d ? py::cast(static_cast<double>(*r.scale_d)) : py::none();
      d["offset_d"] = r.offset_d ? py::cast(*r.offset_d) : py::none();
      d["scale_w"] = std::vector<double>(r.scale_w.begin(), r.scale_w.end());
      d["scale_h"] = r.scale_h ? py::cast(static_cast<double>(*r.scale_h)) : py::none();
      d["scale_r"] = std::vector<double>(r.scale_r.begin(), r.scale_r.end());
      d["act_bits"] = bits(r.act_type);
      d["wts_bits"] = bits(r.wts_type);
      out[py::str(r.key)] = d;
    }
    return out;
  });

  m.def("save_model", &openamct::save_model, py::arg("modified_onnx_file"),
        py::arg("record_file"), py::arg("save_path"), py::arg("formats"),
        py::arg("activation_dtype"));
}

}  // namespace openamct_py
