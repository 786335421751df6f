// Checks of the call's arguments that need no forward pass (spec §1.2, §4.1,
// deviations D2/D3). They all run before the model runs, so a bad call fails
// in milliseconds and writes nothing.
#pragma once

#include <string>
#include <vector>

#include "openamct/openamct.h"

namespace openamct {

// config_file must name a file: not '', not ending in '/', not an existing
// directory, basename shorter than 255 bytes. Returns the path to write,
// with symlinks resolved like the reference's os.path.realpath.
std::string check_config_file(const std::string& config_file);

void check_batch_num(int64_t batch_num);

// A model that contains the reference's own quantization modules has been
// quantized already.
void check_no_amct_operations(const std::vector<ModuleEntry>& modules);

}  // namespace openamct
