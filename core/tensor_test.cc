#include "core/tensor.h"

#include "gtest/gtest.h"

namespace lra {
namespace {

TEST(ShapeTest, Basics) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.dim(-1), 4);
  EXPECT_EQ(s.Rows(2), 6);
  EXPECT_EQ(s.Cols(1), 12);
  EXPECT_EQ(s.ToString(), "[2, 3, 4]");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_NE(s, (Shape{2, 12}));
}

TEST(TensorTest, CopySharesStorageCloneDoesNot) {
  Tensor a = Tensor::Zeros({2, 3});
  Tensor b = a;
  b.data<float>()[4] = 5.0f;
  EXPECT_EQ(a.data<float>()[4], 5.0f);
  EXPECT_EQ(a.use_count(), 2);
  Tensor c = a.Clone();
  c.data<float>()[4] = 1.0f;
  EXPECT_EQ(a.data<float>()[4], 5.0f);
  EXPECT_FALSE(c.SharesStorageWith(a));
  Tensor r = a.Reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_TRUE(r.SharesStorageWith(a));
}

TEST(TensorTest, AlignedAndComplex) {
  Tensor t = Tensor::Empty({3, 5}, DType::kC64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<c64>()) % 64, 0u);
  EXPECT_EQ(t.nbytes(), 15u * 8);
  Tensor f = Tensor::FromComplex({2}, std::vector<c64>{{1, 2}, {3, 4}});
  EXPECT_EQ(f.data<c64>()[1], c64(3, 4));
  EXPECT_DEATH(f.data<float>(), "accessed as f32");
}

// The pool hands back freed buffers, so a repeated "step" makes no system allocations.
TEST(BufferPoolTest, StepAfterFirstAllocatesNothing) {
  auto step = [] {
    std::vector<Tensor> ts;
    for (int i = 0; i < 10; ++i) ts.push_back(Tensor::Empty({1000 + i, 37}));
    ts.push_back(Tensor::Empty({4096, 128}));
  };
  step();
  const auto before = BufferPool::Get().stats();
  step();
  step();
  const auto after = BufferPool::Get().stats();
  EXPECT_EQ(after.system_allocs, before.system_allocs);
  EXPECT_EQ(after.reuses - before.reuses, 22);
}

TEST(BufferPoolTest, RoundingIsBounded) {
  for (size_t b : {1ul, 63ul, 64ul, 65ul, 70000ul, 1000001ul, 123456789ul}) {
    const size_t r = BufferPool::RoundedSize(b);
    EXPECT_GE(r, b);
    EXPECT_EQ(r % 64, 0u);
    EXPECT_LE(r, b + b / 8 + 64) << b;
  }
}

}  // namespace
}  // namespace lra
