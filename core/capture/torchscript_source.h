// The layer table of a TorchScript module (traced or scripted).
//
//   torch::jit::Module m = torch::jit::load("model.pt");
//   TorchScriptSource source(m, {torch::randn({1, 3, 224, 224})});
//   LayerTable table = source.capture();   // runs m.forward once
//
// Module names and order follow Python's named_modules(): dotted names, ""
// for the root, registration order, a module registered under several names
// listed once under its first name. Two TorchScript objects count as one
// module when they are copies of one nn.Module registered under two names
// (same_module() in the .cpp says how they are recognised).
#pragma once

#include <memory>
#include <vector>

#include "openamct/layer_table.h"
#include "openamct/openamct.h"

namespace openamct {

class TorchScriptSource : public ModelSource {
 public:
  // Keeps a handle on `model` (no copy of its weights) and a copy of `inputs`.
  TorchScriptSource(torch::jit::Module& model, const std::vector<c10::IValue>& inputs);
  ~TorchScriptSource() override;

  std::vector<ModuleEntry> modules() override;
  // Runs the model once on the inputs: eval mode, no gradient; every training
  // flag and buffer is restored, also when forward() throws. Inputs that do
  // not fit forward() throw Error(kRuntime) with torch's message.
  LayerTable capture() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace openamct
