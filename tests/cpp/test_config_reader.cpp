// The hand-edited config reader (spec §3): Python json's messages, repeated
// keys, the order of the checks, the type and value messages of §3.2, D12,
// defaults and the fallback of `asymmetric`, and the typed result.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "config/config_reader.h"
#include "config/python_json_reader.h"
#include "openamct/errors.h"

namespace openamct {
namespace {

// ---- the model: a root, conv (Conv2d), conv3d, fc (Linear, no bias), pool, relu

ModuleRecord module(const std::string& name, const std::string& type, int rank,
                    std::vector<int64_t> weight, bool bias = true) {
  ModuleRecord r;
  r.name = name;
  r.type_name = type;
  r.call_count = 1;
  r.input_rank = rank;
  r.padding_mode = type.find("Conv") != std::string::npos ? "zeros" : "";
  r.dilation = type == "Conv3d" ? std::vector<int64_t>{1, 1, 1} : std::vector<int64_t>{1, 1};
  r.has_bias = bias;
  r.weight_shape = std::move(weight);
  static int64_t next_id = 1;
  r.weight_id = r.weight_shape.empty() ? -1 : next_id++;
  return r;
}

LayerTable model() {
  LayerTable t;
  t.modules.push_back(module("", "Net", -1, {}));
  t.modules.push_back(module("conv", "Conv2d", 4, {8, 3, 3, 3}));
  t.modules.push_back(module("conv3d", "Conv3d", 5, {8, 8, 1, 1, 1}));
  t.modules.push_back(module("fc", "Linear", 2, {10, 8}, /*bias=*/false));
  t.modules.push_back(module("pool", "AvgPool2d", 4, {}));
  t.modules.push_back(module("relu", "ReLU", 4, {}));
  return t;
}

const char kIfmr[] =
    "\"activation_quant_params\":{\"num_bits\":8,\"max_percentile\":0.999999,"
    "\"min_percentile\":0.999999,\"search_range\":[0.7,1.3],\"search_step\":0.01,"
    "\"act_algo\":\"ifmr\",\"asymmetric\":true}";

std::string layer(const std::string& name, const std::string& extra = "") {
  return "\"" + name + "\":{\"quant_enable\":true," + kIfmr +
         ",\"weight_quant_params\":{\"num_bits\":8,\"wts_algo\":\"arq_quantize\"}" + extra + "}";
}

std::string config(const std::string& layers, const std::string& root = "") {
  return "{\"version\":1,\"batch_num\":2,\"activation_offset\":true,\"do_fusion\":true," +
         root + "\"skip_fusion_layers\":[]," + layers + "}";
}

CalibrationSettings read(const std::string& text) {
  return read_calibration_config(text, "/w/q.json", model());
}

// The error `text` raises: its kind and message.
std::pair<ErrorKind, std::string> error_of(const std::string& text) {
  try {
    read(text);
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  ADD_FAILURE() << "no error for " << text;
  return {ErrorKind::kRuntime, ""};
}

void expect_error(const std::string& text, ErrorKind kind, const std::string& message) {
  const auto [k, m] = error_of(text);
  EXPECT_EQ(m, message) << text;
  EXPECT_EQ(k, kind) << m;
}

// ---- JSON as Python reads it -------------------------------------------------------

TEST(PythonJson, SyntaxErrorsUsePythonsJsonDecodeErrorText) {
  const std::string p = "/w/q.json";
  const auto message = [&](const std::string& text) {
    try {
      parse_python_json(text, p);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kValue);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(""), "Expecting value: line 1 column 1 (char 0)");
  EXPECT_EQ(message("{\"a\":1,}"), "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)");
  EXPECT_EQ(message("{\"a\" 1}"), "Expecting ':' delimiter: line 1 column 6 (char 5)");
  EXPECT_EQ(message("{\"a\":1\n \"b\":2}"), "Expecting ',' delimiter: line 2 column 2 (char 8)");
  EXPECT_EQ(message("[1,]"), "Expecting value: line 1 column 4 (char 3)");
  EXPECT_EQ(message("{} x"), "Extra data: line 1 column 4 (char 3)");
  EXPECT_EQ(message("\"ab"), "Unterminated string starting at: line 1 column 1 (char 0)");
  EXPECT_EQ(message("\"a\\qb\""), "Invalid \\escape: line 1 column 3 (char 2)");
  EXPECT_EQ(message("\"a\tb\""), "Invalid control character at: line 1 column 3 (char 2)");
  EXPECT_EQ(message("\"\\u12x4\""), "Invalid \\uXXXX escape: line 1 column 3 (char 2)");
  // Columns count characters, not bytes.
  EXPECT_EQ(message("{\"\xc3\xa9\":}"), "Expecting value: line 1 column 6 (char 5)");
}

TEST(PythonJson, AcceptsWhatPythonAccepts) {
  const JsonValue v = parse_python_json(
      "{\"n\":NaN,\"i\":-Infinity,\"big\":123456789012345678901234567890,\"e\":1E2,"
      "\"s\":\"\\ud83d\\ude00\\u00e9\",\"t\":true}",
      "p");
  EXPECT_TRUE(std::isnan(v.find("n")->number));
  EXPECT_EQ(v.find("i")->number, -INFINITY);
  EXPECT_EQ(v.find("big")->kind, JsonValue::Kind::kInt);
  EXPECT_EQ(v.find("big")->python_str(), "123456789012345678901234567890");
  EXPECT_EQ(v.find("e")->kind, JsonValue::Kind::kFloat);
  EXPECT_EQ(v.find("e")->number, 100.0);
  EXPECT_EQ(v.find("s")->text, "\xf0\x9f\x98\x80\xc3\xa9");
  EXPECT_EQ(std::string(v.find("t")->python_type()), "<class 'bool'>");
}

TEST(PythonJson, CarriageReturnsReadAsNewlines) {
  try {
    parse_python_json("{\r\n\"a\":}", "p");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Expecting value: line 2 column 5 (char 6)");
  }
}

TEST(PythonJson, TextThatIsNotUtf8IsAUnicodeDecodeErrorMessage) {
  try {
    parse_python_json("{\"a\xff\":1}", "p");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_EQ(std::string(e.what()).rfind(
                  "'utf-8' codec can't decode byte 0xff in position 3: invalid start byte", 0),
              0u);
  }
}

TEST(PythonJson, DeepNestingIsARecursionErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_python_json(deep, "p");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
  }
}

// ---- step 1: repeated keys, innermost object first -----------------------------------

TEST(ConfigReader, RepeatedRootKeyIsTheReferencesValueError) {
  expect_error(config(layer("conv")) .replace(0, 1, "{\"batch_num\":1,"), ErrorKind::kValue,
               "Please delete repeated items in /w/q.json, repeated items are ['batch_num'] ");
}

TEST(ConfigReader, RepeatedKeyInALayerIsReportedBeforeTheRoot) {
  const std::string text =
      "{\"conv\":{\"quant_enable\":true,\"quant_enable\":false},\"conv\":{}}";
  expect_error(text, ErrorKind::kValue,
               "Please delete repeated items in /w/q.json, repeated items are ['quant_enable'] ");
}

// ---- step 2: INT16, symmetric-only, D12 ----------------------------------------------

TEST(ConfigReader, LayerWithoutActivationParamsIsAValueErrorNamingLayerAndKey) {
  const auto [kind, message] = error_of(config("\"conv\":{\"quant_enable\":true}"));
  EXPECT_EQ(kind, ErrorKind::kValue);
  EXPECT_EQ(message.rfind("activation_quant_params is missing in layer conv", 0), 0u) << message;
}

TEST(ConfigReader, ActivationParamsThatAreNotAnObjectAreAValueError) {
  expect_error(config("\"conv\":{\"quant_enable\":true,\"activation_quant_params\":[8]}"),
               ErrorKind::kValue,
               "Type of activation_quant_params should be <class 'dict'>, but is <class 'list'> "
               "in layer conv");
}

TEST(ConfigReader, Int16OnALinearWithoutBiasIsRejectedEvenWhenDisabled) {
  std::string fc = layer("fc");
  fc.replace(fc.find("\"num_bits\":8"), 12, "\"num_bits\":16");
  fc.replace(fc.find("true"), 4, "false");
  expect_error(config(layer("conv") + "," + fc), ErrorKind::kValue,
               "current layer fc does not support int16 quant.");
}

TEST(ConfigReader, EnabledConv3dWithAsymmetricTrueIsRejected) {
  expect_error(config(layer("conv3d")), ErrorKind::kValue,
               "current layer conv3d only support act symmetric quant.");
}

// ---- step 3: names, types and values -------------------------------------------------

TEST(ConfigReader, UnknownRootKey) {
  expect_error(config(layer("conv"), "\"weight_offset\":false,"), ErrorKind::kValue,
               "weight_offset is an invalid layer name or parameter.");
}

TEST(ConfigReader, ModuleThatIsNotAQuantizableLayer) {
  expect_error(config(layer("conv") + "," + layer("relu")), ErrorKind::kValue,
               "layer relu does not support quant.");
}

TEST(ConfigReader, RootTypes) {
  expect_error("{\"do_fusion\":1," + layer("conv") + "}", ErrorKind::kType,
               "Type of do_fusion should be <class 'bool'>, but is <class 'int'>");
  expect_error("{\"version\":1.0," + layer("conv") + "}", ErrorKind::kType,
               "Type of version should be <class 'int'>, but is <class 'float'>");
  expect_error("{\"version\":2," + layer("conv") + "}", ErrorKind::kValue, "The version must be 1.");
  expect_error("{\"batch_num\":0," + layer("conv") + "}", ErrorKind::kValue,
               "The batch_num must be greater than zero.");
  expect_error("{\"fakequant_precision_mode\":\"FP16\"," + layer("conv") + "}", ErrorKind::kValue,
               "Type of fakequant_precision_mode should be ['DEFAULT', 'FORCE_FP16_QUANT'], but "
               "is FP16");
  expect_error("{\"skip_fusion_layers\":[\"fc\"]," + layer("conv") + "}", ErrorKind::kValue,
               "Skip fusion layer \"fc\"'s type not in supported list ['Conv2d', 'Conv3d', "
               "'Conv1d']");
}

TEST(ConfigReader, BatchNumTruePassesAsOne) {
  EXPECT_EQ(read("{\"batch_num\":true," + layer("conv") + "}").batch_num, 1);
}

TEST(ConfigReader, LayerValueErrorsNameTheLayer) {
  expect_error(config(layer("conv", ",\"dmq_balancer_param\":0.9")), ErrorKind::kValue,
               "The dmq_balancer_param must be in range [0.2, 0.8] in layer conv");
  expect_error(config(layer("conv", ",\"dmq_balancer_param\":1")), ErrorKind::kType,
               "Type of dmq_balancer_param should be <class 'float'>, but is <class 'int'> in "
               "layer conv");
  expect_error(config(layer("conv", ",\"batch_num\":2")), ErrorKind::kValue,
               "Unknown parameter batch_num in layer conv");
  std::string bad = layer("conv");
  const std::string from = "\"max_percentile\":0.999999";
  bad.replace(bad.find(from), from.size(), "\"max_percentile\":0.5");
  expect_error(config(bad), ErrorKind::kValue,
               "The max_percentile must be greater than 0.5 and less than or equal to 1.0 in "
               "layer conv");
}

TEST(ConfigReader, ActivationKeyErrors) {
  const auto with_act = [](const std::string& act) {
    return config("\"conv\":{\"quant_enable\":true,\"activation_quant_params\":{" + act + "}}");
  };
  expect_error(with_act("\"num_bits\":6"), ErrorKind::kValue,
               "activation num_bits is not in [4, 8, 16] in layer conv");
  expect_error(with_act("\"foo\":1"), ErrorKind::kValue,
               "Unknown parameter foo in activation_quant_params in layer conv");
  expect_error(with_act("\"search_range\":[0.7]"), ErrorKind::kValue,
               "The search_range must have two floating-point number in layer conv");
  expect_error(with_act("\"num_of_bins\":4096,\"search_step\":0.01"), ErrorKind::kValue,
               "['search_step', 'search_range', 'min_percentile', 'max_percentile'] and "
               "['num_of_bins'] can not appear at same time in layer conv");
  expect_error(with_act("\"num_of_bins\":1000"), ErrorKind::kValue,
               "num_of_bins 1000 must be in [1024, 2048, 4096, 8192] in layer conv");
  expect_error(with_act("\"act_algo\":\"kl\""), ErrorKind::kValue,
               "act_algo must be ifmr or hfmg in layer conv");
  expect_error(with_act("\"asymmetric\":\"yes\""), ErrorKind::kType,
               "Type of asymmetric should be <class 'bool'>, but is <class 'str'> in layer conv");
  expect_error(with_act("\"search_range\":[0.7,1.3],\"search_step\":0.7"), ErrorKind::kValue,
               "The search_step must be less than or equal to (search_range[1] - "
               "search_range[0]) in layer conv");
}

TEST(ConfigReader, WeightKeyErrors) {
  const auto with_wts = [](const std::string& wts) {
    return config("\"conv\":{\"quant_enable\":true,\"activation_quant_params\":{},"
                  "\"weight_quant_params\":{" + wts + "}}");
  };
  expect_error(with_wts("\"num_bits\":5"), ErrorKind::kValue,
               "weight num_bits is not in [4, 6, 7, 8] in layer conv");
  expect_error(with_wts("\"reg_param\":0.1"), ErrorKind::kValue,
               "reg_param is not valid param of quantize arq_quantize in layer conv");
  expect_error(with_wts("\"wts_algo\":\"ada_quantize\",\"warm_start\":1.5"), ErrorKind::kValue,
               "warm_start must be less than 1 and larger than 0 in layer conv");
  expect_error(config("\"fc\":{\"quant_enable\":true,\"activation_quant_params\":{},"
                      "\"weight_quant_params\":{\"channel_wise\":true}}"),
               ErrorKind::kValue, "The channel_wise must be False for layer type Linear in layer fc");
}

// ---- steps 4-5 ---------------------------------------------------------------------------

TEST(ConfigReader, NoEnabledLayerIsTheReferencesRuntimeError) {
  std::string off = layer("conv");
  off.replace(off.find("true"), 4, "false");
  expect_error(config(off), ErrorKind::kRuntime,
               "No quant enable layer in quant config file, please check the quant config file.");
  expect_error("{}", ErrorKind::kRuntime,
               "No quant enable layer in quant config file, please check the quant config file.");
}

TEST(ConfigReader, EnabledLayersInModuleOrderWithResolvedValues) {
  // File order pool, fc, conv; module order conv, fc, pool.
  const std::string text = config(
      "\"pool\":{\"quant_enable\":true,\"activation_quant_params\":{\"num_of_bins\":2048}},"
      "\"fc\":{\"quant_enable\":true,\"dmq_balancer_param\":0.3,\"activation_quant_params\":"
      "{\"asymmetric\":false}},"
      "\"conv\":{\"quant_enable\":true,\"activation_quant_params\":{}}",
      "\"activation_offset\":false,");
  // activation_offset appears twice in `config`: the reader must say so.
  EXPECT_EQ(error_of(text).second,
            "Please delete repeated items in /w/q.json, repeated items are ['activation_offset'] ");
  std::string fixed = text;
  fixed.replace(fixed.find("\"activation_offset\":true,"), 25, "");
  const CalibrationSettings s = read(fixed);
  ASSERT_EQ(s.layers.size(), 3u);
  EXPECT_EQ(s.layers[0].name, "conv");
  EXPECT_EQ(s.layers[1].name, "fc");
  EXPECT_EQ(s.layers[2].name, "pool");
  const auto& conv = s.layers[0];
  EXPECT_EQ(conv.act_algo, ActAlgo::kIfmr);
  EXPECT_FALSE(conv.asymmetric);  // from activation_offset
  EXPECT_EQ(conv.max_percentile, 0.999999);
  EXPECT_EQ(conv.search_range_start, 0.7);
  EXPECT_EQ(conv.search_range_end, 1.3);
  EXPECT_EQ(conv.search_step, 0.01);
  EXPECT_TRUE(conv.channel_wise);
  EXPECT_EQ(conv.wts_algo, WtsAlgo::kArq);
  EXPECT_EQ(conv.wts_num_bits, 8);
  EXPECT_FALSE(conv.dmq_balancer_param);
  EXPECT_FALSE(s.layers[1].channel_wise);
  EXPECT_EQ(s.layers[1].dmq_balancer_param, 0.3);
  EXPECT_EQ(s.layers[2].act_algo, ActAlgo::kHfmg);
  EXPECT_EQ(s.layers[2].num_of_bins, 2048);
  EXPECT_EQ(s.batch_num, 2);
  EXPECT_TRUE(s.any_dmq());
}

TEST(ConfigReader, MissingFileIsTheReferencesOSError) {
  try {
    read_calibration_config_file("/nonexistent-openamct/q.json", model());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOS);
    EXPECT_EQ(std::string(e.what()), "file (/nonexistent-openamct/q.json) does not exist!");
  }
}

}  // namespace
}  // namespace openamct
