// Writes a small .npz with every ZIP64 record forced (NpzOptions::force_zip64), for checking
// that numpy.load reads the > 4 GiB layout (harness/export_numpy_test.sh):
//   npz_write_example OUT.npz
#include <cstdio>
#include <string>
#include <vector>

#include "core/base/npz.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: npz_write_example OUT.npz\n");
    return 2;
  }
  const std::vector<float> scalar = {0.5f}, matrix = {0, 1, 2, 3, 4, 5}, complex = {1, -1, 0.25f, 2};
  auto bytes = [](const std::vector<float>& v) {
    return absl::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  };
  lra::NpzOptions options;
  options.force_zip64 = true;
  const absl::Status s = lra::WriteNpz(argv[1],
                                       {{"scalar", "<f4", {}, bytes(scalar)},
                                        {"matrix", "<f4", {2, 3}, bytes(matrix)},
                                        {"complex", "<f4", {2, 2}, bytes(complex)}},
                                       {{"__meta__.json", R"({"zip64": true})"}}, options);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
