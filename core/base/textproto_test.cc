#include "core/base/textproto.h"

#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using google::protobuf::FileDescriptorProto;

TEST(TextProto, ParsesAndPrintsBack) {
  FileDescriptorProto f;
  ASSERT_TRUE(ParseTextProto("name: 'a.proto'\npackage: 'p'\n", "inline", &f).ok());
  EXPECT_EQ(f.name(), "a.proto");
  FileDescriptorProto g;
  ASSERT_TRUE(ParseTextProto(ToTextProto(f), "round trip", &g).ok());
  EXPECT_EQ(g.package(), "p");
}

TEST(TextProto, UnknownFieldNamesFileLineAndField) {
  FileDescriptorProto f;
  absl::Status s = ParseTextProto("name: 'a'\n  no_such_field: 3\n", "cfg.textproto", &f);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cfg.textproto:2:"), std::string::npos) << s;
  EXPECT_NE(s.message().find("no_such_field"), std::string::npos) << s;
}

TEST(TextProto, MissingFileIsNotFound) {
  FileDescriptorProto f;
  EXPECT_EQ(ParseTextProtoFile("/nonexistent/x.textproto", &f).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lra
