#include "api/argument_checks.h"

#include <sys/stat.h>

#include <filesystem>

#include "common/python_repr.h"
#include "rules/capability_table.h"

namespace openamct {

std::string check_config_file(const std::string& config_file) {
  const std::string fix = " Pass the path of a file, e.g. './quant_config.json'.";
  if (config_file.empty())
    throw_value_error("config_file '' is invalid: it is empty." + fix);
  if (config_file.back() == '/')
    throw_value_error("config_file " + python_str_repr(config_file) +
                      " is invalid: it ends with '/', which names a directory." + fix);
  struct stat st {};
  if (::stat(config_file.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw_value_error("config_file " + python_str_repr(config_file) +
                      " is invalid: it is an existing directory." + fix);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(config_file, ec), ec);
  if (ec) resolved = config_file;
  const std::string base = resolved.filename().string();
  if (base.empty() || base.size() > 254)
    throw_value_error("config_file's name{" + base +
                      "} is invalid, '/' is reserved characters, length should be less than 255.");
  return resolved.string();
}

void check_batch_num(int64_t batch_num) {
  if (batch_num <= 0)
    throw_value_error("The batch_num must be greater than zero. Got " +
                      std::to_string(batch_num) + "; pass a positive number of batches.");
}

void check_no_amct_operations(const std::vector<ModuleEntry>& modules) {
  std::string found;
  for (const auto& m : modules)
    for (auto op : amct_operation_types())
      if (m.type_name == op)
        found += (found.empty() ? "" : ", ") + python_str_repr(m.name) + ": " +
                 python_str_repr(m.type_name);
  if (!found.empty())
    throw_runtime_error(
        "The model cannot be quantized for following quant layers are in the model {" + found +
        "}");
}

}  // namespace openamct
