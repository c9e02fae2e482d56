// Reading text-format protobuf files with errors a person can act on.
//
//   RunConfig config;
//   LRA_RETURN_IF_ERROR(ParseTextProtoFile(path, &config));
//
// A syntax error or an unknown field comes back as InvalidArgumentError
// "<path>:<line>:<column>: <what protobuf says>", so the user sees which file, line and field.
#ifndef LRA_CORE_BASE_TEXTPROTO_H_
#define LRA_CORE_BASE_TEXTPROTO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace lra {

// Parses `text` (named `name` in errors) into `message`, replacing its contents.
absl::Status ParseTextProto(absl::string_view text, absl::string_view name,
                            google::protobuf::Message* message);

// Reads and parses a file. NotFoundError when it cannot be read.
absl::Status ParseTextProtoFile(const std::string& path, google::protobuf::Message* message);

// Text format of `message`, as written to config.txt / manifest.txt files.
std::string ToTextProto(const google::protobuf::Message& message);

}  // namespace lra

#endif  // LRA_CORE_BASE_TEXTPROTO_H_
