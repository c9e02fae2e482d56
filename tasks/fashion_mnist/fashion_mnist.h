// Fashion-MNIST from IDX files (Debian's dataset-fashion-mnist installs them gzipped under
// /usr/share/datasets/fashion-mnist). Not an LRA task: a real 10-class image task that every
// Debian machine can prepare without downloads.
//
// IDX: big-endian uint32 magic (0x00000803 = 2051 for 3-d ubyte images, 0x00000801 = 2049 for
// 1-d ubyte labels), then one uint32 per dimension, then the bytes in row-major order.
#ifndef LRA_TASKS_FASHION_MNIST_FASHION_MNIST_H_
#define LRA_TASKS_FASHION_MNIST_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tasks/common/task.h"

namespace lra::tasks {

struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Reads a gzipped (or plain: zlib reads both) IDX file of unsigned bytes and checks the magic
// number. Errors name the file and the byte offset (in the uncompressed stream).
absl::StatusOr<IdxArray> ReadIdxGz(const std::string& path, uint32_t expected_magic);

// `context.source`: a folder with {train,t10k}-images-idx3-ubyte.gz and
// {train,t10k}-labels-idx1-ubyte.gz. Val = 10% of train chosen by SeededPermutation(seed);
// train and val keep file order.
absl::StatusOr<Plan> PlanFashionMnist(const TaskContext& context);

}  // namespace lra::tasks

#endif  // LRA_TASKS_FASHION_MNIST_FASHION_MNIST_H_
