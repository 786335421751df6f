// Reading quant.cfg text (spec §5.2): libprotobuf's TextFormat in merge mode,
// which is what the reference's `text_format.Merge` does: a scalar given twice
// keeps the last value, a second member of a oneof replaces the first,
// repeated message blocks merge, `#` starts a comment, and `required` fields
// may be missing.
//
// Errors are reported the way Python's text_format reports them: 1-based
// "<line>:<column> : <problem>", the column counted in characters (a tab is
// one), at the token Python blames — which is not always the one the C++
// parser blames (it often reports the token after the offending one).
#pragma once

#include <string>

#include "amct_config.pb.h"

namespace openamct {

// Throws Error(kConfigParse, "<line>:<col> : <problem>") on malformed text,
// and Error(kValue, "'utf-8' codec can't decode ...") on text that is not
// UTF-8 (the reference decodes each line before tokenizing it).
AMCTPytorchProto::AMCTConfig parse_cfg_text(const std::string& text);

}  // namespace openamct
