#include "tasks/image/grayscale.h"

namespace lra::tasks {

// fp-contract=off keeps the compiler from fusing the multiply-adds even under -march=native,
// which would change 31 triples (see the header).
__attribute__((optimize("fp-contract=off"))) uint8_t TfRgbToGray(uint8_t r, uint8_t g,
                                                                 uint8_t b) {
  const float scale = static_cast<float>(1.0 / 255.0);
  const float fr = static_cast<float>(r) * scale;
  const float fg = static_cast<float>(g) * scale;
  const float fb = static_cast<float>(b) * scale;
  const float gray = (fr * 0.2989f + fg * 0.5870f) + fb * 0.1140f;
  return static_cast<uint8_t>(gray * 255.5f);
}

}  // namespace lra::tasks
