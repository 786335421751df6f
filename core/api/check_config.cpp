// check_config: the config reader of quantize_preprocess / quantize_model on
// its own, so that an edited config can be validated before a calibration
// run: check the file name -> capture the graph -> read the config.
#include <sys/stat.h>

#include "api/argument_checks.h"
#include "config/config_reader.h"
#include "openamct/openamct.h"

namespace openamct {

ConfigCheckSummary check_config(const std::string& config_file, ModelSource& source) {
  // 1. Arguments, before anything runs.
  const std::string path = check_file_name("config_file", config_file);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::kOS, "file (" + path + ") does not exist!");
  check_no_amct_operations(source.modules());

  // 2. The layer set, as create_quant_config computes it.
  const LayerTable table = source.capture();

  // 3. The config.
  const CalibrationSettings settings = read_calibration_config_file(path, table);
  ConfigCheckSummary summary;
  summary.batch_num = settings.batch_num;
  for (const auto& l : settings.layers)
    summary.layers.push_back({l.name, l.type_name, std::string(act_algo_name(l.act_algo)),
                              l.act_num_bits, l.asymmetric, l.wts_num_bits,
                              std::string(wts_algo_name(l.wts_algo)), l.dmq_balancer_param});
  log_info("Config " + path + " is valid for this model: " +
           std::to_string(summary.layers.size()) + " layers to quantize.");
  return summary;
}

}  // namespace openamct
