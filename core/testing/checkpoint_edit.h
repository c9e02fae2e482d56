// Tests: rewrites a checkpoint file with an edit applied to its proto and a valid CRC, which is
// what a hand-edited or hostile file looks like to the reader.
//
//   EditCheckpoint(path, [](core::CheckpointProto* p) { p->set_step(-1000); });
#ifndef LRA_CORE_TESTING_CHECKPOINT_EDIT_H_
#define LRA_CORE_TESTING_CHECKPOINT_EDIT_H_

#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "core/checkpoint.pb.h"
#include "core/checkpoint_format.h"
#include "gtest/gtest.h"

namespace lra::testing {

inline void EditCheckpoint(const std::string& path,
                           const std::function<void(core::CheckpointProto*)>& edit) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<core::CheckpointProto> proto = ParseCheckpoint(bytes, path);
  ASSERT_TRUE(proto.ok()) << proto.status();
  edit(&*proto);
  absl::StatusOr<std::string> framed = FrameCheckpoint(*proto, path);
  ASSERT_TRUE(framed.ok()) << framed.status();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << *framed;
}

}  // namespace lra::testing

#endif  // LRA_CORE_TESTING_CHECKPOINT_EDIT_H_
