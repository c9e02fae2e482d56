// results/published/*.textproto compiled into the binary by the genrule in BUILD.bazel, so the
// published numbers are found from any working directory (`bazel run` changes it) and cannot go
// missing from an installed binary. Use published.h, not this.
#ifndef LRA_HARNESS_REPORT_PUBLISHED_EMBEDDED_H_
#define LRA_HARNESS_REPORT_PUBLISHED_EMBEDDED_H_

namespace lra::report {

struct EmbeddedFile {
  const char* name;  // file name, e.g. "lra_table1.textproto"
  const char* text;
};

extern const EmbeddedFile kEmbeddedPublished[];
extern const int kNumEmbeddedPublished;

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_PUBLISHED_EMBEDDED_H_
