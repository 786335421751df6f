// Writes the quantization config of a TorchScript file:
//   make_config model.pt config.json N C H W
#include <openamct/openamct.h>
#include <torch/script.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: make_config model.pt config.json N C H W\n";
    return 2;
  }
  torch::jit::Module model = torch::jit::load(argv[1]);
  std::vector<int64_t> shape;
  for (int i = 3; i < 7; ++i) shape.push_back(std::stoll(argv[i]));
  torch::manual_seed(1);
  try {
    openamct::create_quant_config(argv[2], model, {torch::randn(shape)});
  } catch (const openamct::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
