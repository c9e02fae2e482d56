#include "models/options.h"

#include "gtest/gtest.h"

namespace lra::models {
namespace {

const std::vector<OptionSpec> kSpecs = {
    {"d_model", "128", "width"},
    {"dropout", "0.1", "rate"},
    {"lr", "1", "an int default read as float", OptionType::kFloat},
    {"prenorm", "true", "pre-norm"},
    {"norm", "layer", "kind", OptionType::kString, {"layer", "batch"}},
    {"name", "abc", "free string"},
};

TEST(OptionsTest, DefaultsAndOverrides) {
  auto o = Options::Make(kSpecs, {{"d_model", "64"}, {"prenorm", "false"}, {"norm", "batch"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->Int("d_model"), 64);
  EXPECT_DOUBLE_EQ(o->Float("dropout"), 0.1);
  EXPECT_DOUBLE_EQ(o->Float("lr"), 1.0);
  EXPECT_FALSE(o->Bool("prenorm"));
  EXPECT_EQ(o->String("norm"), "batch");
  EXPECT_EQ(o->String("name"), "abc");
  EXPECT_EQ(ResolvedType(kSpecs[0]), OptionType::kInt);
  EXPECT_EQ(ResolvedType(kSpecs[1]), OptionType::kFloat);
  EXPECT_EQ(ResolvedType(kSpecs[3]), OptionType::kBool);
}

TEST(OptionsTest, UnknownNameListsTheOptions) {
  auto o = Options::Make(kSpecs, {{"d_modle", "64"}});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("d_modle"), std::string::npos);
  EXPECT_NE(o.status().message().find("d_model, dropout, lr, prenorm, norm, name"),
            std::string::npos)
      << o.status().message();
}

TEST(OptionsTest, MalformedValuesNameOptionAndType) {
  for (auto [name, value, type] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"d_model", "12.5", "int"}, {"dropout", "x", "float"}, {"prenorm", "yes", "bool"}}) {
    auto o = Options::Make(kSpecs, {{name, value}});
    ASSERT_FALSE(o.ok()) << name;
    EXPECT_NE(o.status().message().find("'" + name + "'"), std::string::npos);
    EXPECT_NE(o.status().message().find(type), std::string::npos) << o.status().message();
  }
  auto o = Options::Make(kSpecs, {{"norm", "group"}});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("layer, batch"), std::string::npos);
}

// Issue 11 item 8: numeric options are range-checked, and float options must be finite.
TEST(OptionsTest, NumbersOutsideTheirRangeNameOptionAndRange) {
  const std::vector<OptionSpec> specs = {
      OptionSpec{"n_layers", "4", "blocks"}.Min(0),
      OptionSpec{"dropout", "0.1", "rate", OptionType::kFloat}.Min(0).Max(1, true),
      {"scale", "1.5", "unbounded float"},
  };
  for (auto [name, value, range] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"n_layers", "-1", "[0, inf)"},
           {"dropout", "1", "[0, 1)"},
           {"dropout", "-0.1", "[0, 1)"},
           {"dropout", "nan", "[0, 1)"},
           {"scale", "inf", "a finite number"}}) {
    auto o = Options::Make(specs, {{name, value}});
    ASSERT_FALSE(o.ok()) << name << "=" << value;
    EXPECT_NE(o.status().message().find("'" + name + "' = " + value), std::string::npos)
        << o.status().message();
    EXPECT_NE(o.status().message().find(range), std::string::npos) << o.status().message();
  }
  EXPECT_TRUE(Options::Make(specs, {{"n_layers", "0"}, {"dropout", "0"}}).ok());
  EXPECT_EQ(specs[1].RangeText(), "[0, 1)");
  EXPECT_EQ(specs[2].RangeText(), "");
}

}  // namespace
}  // namespace lra::models
