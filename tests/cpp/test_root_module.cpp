// A model that is itself a layer (spec §1.3, §9.8): the reference cannot put
// its marker module in the root's parent and raises "model has no parent
// module."; a root it does not mark is configured like any model.
#include <gtest/gtest.h>

#include "openamct/errors.h"
#include "rules/root_module.h"
#include "test_util.h"

namespace openamct {
namespace {

ModuleRecord root(const std::string& type_name) {
  ModuleRecord r;
  r.type_name = type_name;
  r.padding_mode = "zeros";
  return r;
}

std::string root_error(const ModuleRecord& r, bool facts_known = true) {
  ErrorKind kind = ErrorKind::kValue;
  std::string message = error_of([&] { check_root_is_not_a_layer(r, facts_known); }, &kind);
  if (message != "<no error>") EXPECT_EQ(kind, ErrorKind::kRuntime) << message;
  return message;
}

bool no_parent(const ModuleRecord& r, bool facts_known = true) {
  return root_error(r, facts_known).rfind("model has no parent module.", 0) == 0;
}

TEST(RootModule, BareLinearHasNoParentModule) {
  const std::string message = root_error(root("Linear"));
  EXPECT_EQ(message.rfind("model has no parent module. The model is itself a layer (Linear)", 0),
            0u)
      << message;
  EXPECT_NE(message.find("torch.nn.Sequential(model)"), std::string::npos) << message;
}

TEST(RootModule, BareActivationsAndBatchNormsHaveNoParentModule) {
  for (const char* type : {"ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
                           "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "AvgPool2d"})
    EXPECT_TRUE(no_parent(root(type))) << type;
}

TEST(RootModule, PruningTypesHaveNoParentModuleWhateverTheirPadding) {
  for (const char* type : {"Conv2d", "ConvTranspose2d"}) {
    auto r = root(type);
    r.padding_mode = "reflect";
    EXPECT_TRUE(no_parent(r)) << type;
    EXPECT_TRUE(no_parent(r, /*facts_known=*/false)) << type;  // known by the class alone
  }
}

TEST(RootModule, OtherConvsHaveNoParentModuleOnlyWithZerosPadding) {
  for (const char* type : {"Conv1d", "Conv3d", "ConvTranspose1d"}) {
    auto r = root(type);
    EXPECT_TRUE(no_parent(r)) << type;
    EXPECT_FALSE(no_parent(r, /*facts_known=*/false)) << type;  // needs the padding mode
    r.padding_mode = "circular";
    EXPECT_EQ(root_error(r), "<no error>") << type;
  }
}

TEST(RootModule, RecurrentLayersHaveNoParentModuleOnlyWithinTheRnnLimits) {
  for (const char* type : {"LSTM", "GRU"}) {
    auto r = root(type);
    EXPECT_TRUE(no_parent(r)) << type;
    r.bidirectional = true;
    EXPECT_EQ(root_error(r), "<no error>") << type;
  }
}

TEST(RootModule, ContainersAndUnmarkedClassesAreModels) {
  for (const char* type : {"Sequential", "Net", "Dropout", "MaxPool2d", "ConvTranspose3d", "GELU"})
    EXPECT_EQ(root_error(root(type)), "<no error>") << type;
}

}  // namespace
}  // namespace openamct
