// quant.cfg text (spec §5.2): merge semantics, Python text_format's error
// positions and wording, reading files, and the float32 path of cfg numbers
// (spec §4.5).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "config/quant_config.h"
#include "openamct/errors.h"
#include "rules/layer_verdict.h"
#include "simple_config/simple_config.h"
#include "test_util.h"

namespace openamct {
namespace {

std::string parse_error(const std::string& text) {
  ErrorKind kind = ErrorKind::kRuntime;
  std::string message = error_of([&] { SimpleConfig::parse(text); }, &kind);
  EXPECT_EQ(kind, ErrorKind::kConfigParse) << message;
  return message;
}

// conv (Conv2d) and fc (Linear), under a root module.
struct TinyNet {
  TinyNet() {
    table.modules = {module_record("", "Net", {}), module_record("conv", "Conv2d", {8, 4, 3, 3}),
                     module_record("fc", "Linear", {10, 8})};
    decisions = analyse_layers(table);
  }
  QuantConfig expand(const std::string& cfg) const {
    return SimpleConfig::parse(cfg).expand(table.entries(), decisions);
  }
  LayerTable table;
  std::vector<LayerDecision> decisions;
};

// ---- Python's positions and wording -----------------------------------------------

TEST(SimpleConfigParse, UnclosedBlockPointsAtTheLastToken) {
  EXPECT_EQ(parse_error("common_config : {\n    arq_quantize : {\n        channel_wise : true\n"
                        "    }\n"),
            "4:5 : Expected \"}\".");
}

TEST(SimpleConfigParse, UnknownFieldPointsAtItsName) {
  EXPECT_EQ(parse_error("unknown_field : 1\n"),
            "1:1 : Message type \"AMCTPytorchProto.AMCTConfig\" has no field named "
            "\"unknown_field\".");
}

TEST(SimpleConfigParse, UnknownNestedFieldNamesItsMessage) {
  EXPECT_EQ(parse_error("common_config {\n  ifmr_quantize { step: 1 }\n}\n"),
            "2:19 : Message type \"AMCTPytorchProto.FMRQuantize\" has no field named \"step\".");
}

TEST(SimpleConfigParse, StringForIntegerQuotesTheLine) {
  EXPECT_EQ(parse_error("batch_num : \"two\"\n"),
            "1:13 : 'batch_num : \"two\"': Couldn't parse integer: \"two\"");
}

TEST(SimpleConfigParse, UnknownEnumNamePointsAtTheValue) {
  EXPECT_EQ(parse_error("fakequant_precision_mode : DEFAULT\n"),
            "1:28 : 'fakequant_precision_mode : DEFAULT': Enum type "
            "\"AMCTPytorchProto.FakequantPrecisionMode\" has no value named DEFAULT.");
}

TEST(SimpleConfigParse, UnknownEnumNumberPointsAtTheValue) {
  EXPECT_EQ(parse_error("common_config { ifmr_quantize { dst_type: 7 } }"),
            "1:43 : 'common_config { ifmr_quantize { dst_type: 7 } }': Enum type "
            "\"AMCTPytorchProto.FMRQuantize.CalibrationDataType\" has no value with number 7.");
}

// The enum is declared inside each message that uses it, as in the
// reference's schema, so its name says which block the bad value is in.
TEST(SimpleConfigParse, UnknownDstTypeUnderIfmrNamesTheEnumNestedInFmrQuantize) {
  EXPECT_EQ(parse_error("common_config {\n  ifmr_quantize {\n    dst_type: INT4\n  }\n}\n"),
            "3:15 : '    dst_type: INT4': Enum type "
            "\"AMCTPytorchProto.FMRQuantize.CalibrationDataType\" has no value named INT4.");
}

TEST(SimpleConfigParse, UnknownDstTypeUnderHfmgNamesTheEnumNestedInHfmgQuantize) {
  EXPECT_EQ(parse_error("override_layer_types {\n  layer_type: \"Conv2d\"\n  calibration_config {\n"
                        "    hfmg_quantize { dst_type: 3 }\n  }\n}\n"),
            "4:31 : '    hfmg_quantize { dst_type: 3 }': Enum type "
            "\"AMCTPytorchProto.HFMGQuantize.CalibrationDataType\" has no value with number 3.");
}

TEST(SimpleConfigParse, Int16UnderEitherActivationBlockStillMeans16Bits) {
  TinyNet net;
  for (const char* block : {"ifmr_quantize", "hfmg_quantize"}) {
    QuantConfig c = net.expand(std::string("override_layer_configs { layer_name: \"conv\" "
                                           "calibration_config { ") +
                               block + " { dst_type: INT16 } } }");
    for (const auto& l : c.layers)
      EXPECT_EQ(l.activation.num_bits, l.name == "conv" ? 16 : 8) << block << " " << l.name;
  }
}

TEST(SimpleConfigParse, TabCountsAsOneColumn) {
  EXPECT_EQ(parse_error("\tbatch_num: \"x\""), "1:13 : '\tbatch_num: \"x\"': Couldn't parse integer: \"x\"");
}

TEST(SimpleConfigParse, NonAsciiCountsAsOneColumn) {
  EXPECT_EQ(parse_error("skip_layers: \"\xc3\xa9\" batch_num: x"),
            "1:29 : 'skip_layers: \"\xc3\xa9\" batch_num: x': Couldn't parse integer: x");
}

TEST(SimpleConfigParse, BadBooleanPointsAtTheValue) {
  EXPECT_EQ(parse_error("do_fusion: yes\n"), "1:12 : 'do_fusion: yes': Expected \"true\" or \"false\".");
}

TEST(SimpleConfigParse, NegativeUnsignedIsOutOfRange) {
  EXPECT_EQ(parse_error("batch_num: -1"), "1:12 : 'batch_num: -1': Value out of range: -1");
}

TEST(SimpleConfigParse, FloatThatIsNotANumber) {
  EXPECT_EQ(parse_error("common_config {\n  dmq_balancer { migration_strength: abc }\n}"),
            "2:38 : '  dmq_balancer { migration_strength: abc }': Couldn't parse float: abc");
}

TEST(SimpleConfigParse, MissingColonBeforeScalar) {
  EXPECT_EQ(parse_error("batch_num 3"), "1:11 : 'batch_num 3': Expected \":\".");
}

TEST(SimpleConfigParse, MissingBraceAfterMessageField) {
  EXPECT_EQ(parse_error("common_config x"), "1:15 : 'common_config x': Expected \"{\".");
}

TEST(SimpleConfigParse, UnterminatedString) {
  EXPECT_EQ(parse_error("skip_layers: \"abc\n"),
            "1:14 : 'skip_layers: \"abc': String missing ending quote: '\"abc'");
}

TEST(SimpleConfigParse, StrayClosingBrace) {
  EXPECT_EQ(parse_error("batch_num: 1\n}\n"), "2:1 : '}': Expected identifier or number, got }.");
}

TEST(SimpleConfigParse, ValueMissingAtEndOfText) {
  EXPECT_EQ(parse_error("batch_num:"), "1:11 : '': Couldn't parse integer: ");
}

TEST(SimpleConfigParse, UnclosedBlockAtEndOfTextWithoutNewline) {
  EXPECT_EQ(parse_error("common_config {"), "1:15 : Expected \"}\".");
}

TEST(SimpleConfigParse, NumberAsFieldNameIsAnUnknownField) {
  EXPECT_EQ(parse_error("1: 2"),
            "1:1 : Message type \"AMCTPytorchProto.AMCTConfig\" has no field named \"1\".");
}

TEST(SimpleConfigParse, WrongClosingDelimiter) {
  EXPECT_EQ(parse_error("common_config { ifmr_quantize { > }"),
            "1:33 : 'common_config { ifmr_quantize { > }': Expected identifier or number, got >.");
}

TEST(SimpleConfigParse, ExtensionSyntaxIsRejected) {
  EXPECT_EQ(parse_error("[foo]: 1"),
            "1:2 : Message type \"AMCTPytorchProto.AMCTConfig\" does not have extensions.");
}

TEST(SimpleConfigParse, EnumNumberWithLeadingZeroIsTakenAsAName) {
  EXPECT_EQ(parse_error("common_config { ifmr_quantize { dst_type: 07 } }"),
            "1:43 : 'common_config { ifmr_quantize { dst_type: 07 } }': Enum type "
            "\"AMCTPytorchProto.FMRQuantize.CalibrationDataType\" has no value named 07.");
}

TEST(SimpleConfigParse, TextThatIsNotUtf8IsAValueError) {
  ErrorKind kind = ErrorKind::kRuntime;
  EXPECT_EQ(error_of([] { SimpleConfig::parse("skip_layers: \"a\xff\"\n"); }, &kind),
            "'utf-8' codec can't decode byte 0xff in position 15: invalid start byte");
  EXPECT_EQ(kind, ErrorKind::kValue);
}

// ---- merge semantics ----------------------------------------------------------------

TEST(SimpleConfigParse, ScalarGivenTwiceKeepsTheLastValue) {
  QuantConfig c = TinyNet().expand("batch_num: 3\nbatch_num: 4\nactivation_offset: false\n"
                                   "activation_offset: true\n");
  EXPECT_EQ(c.batch_num, 4);
  EXPECT_TRUE(c.activation_offset);
}

TEST(SimpleConfigParse, SecondOneofMemberReplacesTheFirst) {
  QuantConfig c = TinyNet().expand(
      "common_config {\n"
      "  ifmr_quantize { search_step: 0.02 }\n"
      "  hfmg_quantize { num_of_bins: 2048 }\n"
      "  arq_quantize { quant_bits: 4 }\n"
      "  ada_quantize { num_iteration: 7 }\n"
      "}\n");
  const LayerQuantConfig& conv = find_layer(c, "conv");
  EXPECT_EQ(conv.activation.act_algo, ActAlgo::kHfmg);
  EXPECT_EQ(conv.activation.num_of_bins, 2048);
  EXPECT_FALSE(conv.activation.search_step);
  ASSERT_TRUE(conv.weight);
  EXPECT_EQ(conv.weight->wts_algo, WtsAlgo::kAda);
  EXPECT_EQ(conv.weight->num_bits, 8);
  EXPECT_EQ(conv.weight->num_iteration, 7);
}

TEST(SimpleConfigParse, TwoCommonConfigBlocksMerge) {
  QuantConfig c = TinyNet().expand(
      "common_config { ifmr_quantize { search_step: 0.02 } }\n"
      "common_config { arq_quantize { quant_bits: 4 } }\n"
      "common_config { ifmr_quantize { max_percentile: 0.9 } }\n");
  const LayerQuantConfig& conv = find_layer(c, "conv");
  EXPECT_EQ(conv.activation.search_step, 0.02);
  EXPECT_EQ(conv.activation.max_percentile, 0.9);
  EXPECT_EQ(conv.weight->num_bits, 4);
}

TEST(SimpleConfigParse, ListsHexAndAdjacentStrings) {
  QuantConfig c = TinyNet().expand(
      "batch_num: 0x10 do_fusion: t\n"
      "skip_fusion_layers: 'co' \"nv\"\n");
  EXPECT_EQ(c.batch_num, 16);
  EXPECT_TRUE(c.do_fusion);
  EXPECT_EQ(c.skip_fusion_layers, std::vector<std::string>{"conv"});
  EXPECT_EQ(error_of([] { TinyNet().expand("skip_layers: [\"conv\", \"fc\"]"); }),
            "Except skip_layers or skip_types, no layer need to quantize.");
}

TEST(SimpleConfigParse, CommentsColonsAndSeparatorsAreOptional) {
  QuantConfig c = TinyNet().expand(
      "# comment\nbatch_num: 2; do_fusion: false, # trailing comment\n"
      "common_config < ifmr_quantize { asymmetric: false } >\n");
  EXPECT_EQ(c.batch_num, 2);
  EXPECT_FALSE(c.do_fusion);
  EXPECT_EQ(find_layer(c, "conv").activation.asymmetric, false);
}

TEST(SimpleConfigParse, MissingRequiredFieldsAreAccepted) {
  QuantConfig c = TinyNet().expand("override_layer_types { layer_type: \"Conv2d\" }\n");
  EXPECT_EQ(find_layer(c, "conv").activation.search_step, 0.01);
  EXPECT_EQ(error_of([] {
              TinyNet().expand("override_layer_types { calibration_config { } }\n");
            }),
            "Layer type  does not support quantize.");
}

// ---- files --------------------------------------------------------------------------------

TEST(SimpleConfigRead, MissingFileIsFileNotFoundError) {
  ErrorKind kind = ErrorKind::kRuntime;
  EXPECT_EQ(error_of([] { SimpleConfig::read("/nonexistent_dir_amct/quant.cfg"); }, &kind),
            "[Errno 2] No such file or directory: '/nonexistent_dir_amct/quant.cfg'");
  EXPECT_EQ(kind, ErrorKind::kFileNotFound);
}

TEST(SimpleConfigRead, DirectoryIsAnOSError) {
  ErrorKind kind = ErrorKind::kRuntime;
  EXPECT_EQ(error_of([] { SimpleConfig::read("/tmp"); }, &kind),
            "[Errno 21] Is a directory: '/tmp'");
  EXPECT_EQ(kind, ErrorKind::kOS);
}

TEST(SimpleConfigRead, ReadsTheFile) {
  char path[] = "/tmp/openamct_cfg_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "batch_num: 7\n";
  TinyNet net;
  QuantConfig c = SimpleConfig::read(path).expand(net.table.entries(), net.decisions);
  std::remove(path);
  EXPECT_EQ(c.batch_num, 7);
}

// ---- float32 numbers (spec §4.5) ----------------------------------------------------------

TEST(SimpleConfigFloats, CfgFloatsAreWrittenAsShortestFloat32Decimals) {
  TinyNet net;
  const std::string text = to_config_text(net.expand(
      "common_config {\n"
      "  ifmr_quantize { search_step: 0.02 max_percentile: 0.999999 }\n"
      "  ada_quantize { reg_param: 0.123456789 beta_range_start: 20 beta_range_end: 2 }\n"
      "}\n"
      "override_layer_configs {\n"
      "  layer_name: \"fc\"\n"
      "  calibration_config { ifmr_quantize { search_step: 1e-7 } }\n"
      "}\n"));
  EXPECT_NE(text.find("\"search_step\":0.02,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"max_percentile\":0.999999,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"reg_param\":0.12345679,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"beta_range\":[\n                20.0,\n                2.0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"search_step\":1e-07,"), std::string::npos) << text;
}

}  // namespace
}  // namespace openamct
