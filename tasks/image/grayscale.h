// tf.image.rgb_to_grayscale on uint8 pixels, bit for bit (long-range-arena@cd31e5c,
// lra_benchmarks/image/input_pipeline.py, get_cifar10_datasets: tf.image.rgb_to_grayscale).
//
// TensorFlow converts uint8 to float32 by multiplying with float32(1/255), takes the dot product
// with the float32 weights [0.2989, 0.5870, 0.1140], and converts back by multiplying with
// 255.5 and truncating (convert_image_dtype, saturate=False). We sum in index order without fused
// multiply-adds, as Eigen's non-FMA kernels (TF 2.7 pip builds) do. Of the 16,777,216 RGB
// triples, 31 would come out one level different under an FMA build and 47 with the sum in
// reverse order (measured; see grayscale_test.cc). PIL's "L" conversion (S4, Mega) differs from
// this on 26% of triples.
#ifndef LRA_TASKS_IMAGE_GRAYSCALE_H_
#define LRA_TASKS_IMAGE_GRAYSCALE_H_

#include <cstdint>

namespace lra::tasks {

uint8_t TfRgbToGray(uint8_t r, uint8_t g, uint8_t b);

}  // namespace lra::tasks

#endif  // LRA_TASKS_IMAGE_GRAYSCALE_H_
