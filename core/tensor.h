// Dense tensors: float32 or complex64, contiguous row-major, 64-byte aligned.
//
//   Tensor x = Tensor::Zeros({8, 1024, 128});       // float32
//   float* p = x.data<float>();                     // row-major, last axis fastest
//   Tensor y = x;                                   // cheap: shares storage (like a shared_ptr)
//   Tensor z = x.Clone();                           // deep copy
//   Tensor m = x.Reshape({8 * 1024, 128});          // same storage, new shape (no copy)
//   Tensor k = Tensor::Empty({128, 513}, DType::kC64);
//   std::complex<float>* c = k.data<std::complex<float>>();
//
// Memory comes from a process-wide caching pool (BufferPool): a freed buffer goes back to a
// free list keyed by its (rounded) size and is handed out again to the next request of that size.
// A training step that repeats the same shapes therefore takes nothing from the system after the
// first step, and never page-faults freshly mmapped memory: glibc serves blocks above
// M_MMAP_THRESHOLD with mmap and returns them with munmap on free (mallopt(3)), so every new
// large buffer would fault its pages in again, which is slow on virtual machines. Buffers are never returned to the system unless
// BufferPool::Trim() is called.
//
// A Tensor is either empty (no storage, numel() == 0, !defined()) or owns a shared buffer.
// Writes through one copy are visible through every copy that shares storage: call Clone()
// when you need an independent buffer.
#ifndef LRA_CORE_TENSOR_H_
#define LRA_CORE_TENSOR_H_

#include <array>
#include <atomic>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace lra {

using c64 = std::complex<float>;

enum class DType : uint8_t { kF32 = 0, kC64 = 1 };

// Bytes per element.
inline size_t DTypeSize(DType d) { return d == DType::kF32 ? 4 : 8; }
const char* DTypeName(DType d);

// Up to kMaxRank dims stored inline, so a Shape never allocates.
class Shape {
 public:
  static constexpr int kMaxRank = 6;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  // Negative axes count from the end (-1 is the last axis).
  int64_t dim(int axis) const { return dims_[Axis(axis)]; }
  int Axis(int axis) const;  // normalizes a possibly negative axis; aborts if out of range
  int64_t numel() const;
  // Product of dims before `axis` / from `axis` on (for viewing as a matrix).
  int64_t Rows(int axis) const;
  int64_t Cols(int axis) const;
  std::vector<int64_t> ToVector() const { return {dims_.begin(), dims_.begin() + rank_}; }
  std::string ToString() const;  // "[8, 1024, 128]"

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// Process-wide caching allocator for tensor buffers. Thread-safe.
class BufferPool {
 public:
  static constexpr size_t kAlignment = 64;
  static BufferPool& Get();

  void* Allocate(size_t bytes);            // 64-byte aligned; bytes may be 0
  void Release(void* p, size_t bytes);     // back to the free list (bytes as allocated)
  void Trim();                             // frees every cached buffer to the system

  struct Stats {
    int64_t system_allocs = 0;   // calls that went to the system allocator
    int64_t reuses = 0;          // calls served from the free lists
    int64_t bytes_in_use = 0;    // handed out and not released
    int64_t bytes_cached = 0;    // on the free lists
    int64_t peak_bytes_in_use = 0;
  };
  Stats stats() const;
  void ResetPeak();

  // Rounded size actually reserved for a request of `bytes`.
  static size_t RoundedSize(size_t bytes);

 private:
  BufferPool() = default;
  struct Impl;
  Impl* impl();
};

namespace internal {
// Intrusively ref-counted buffer from the pool.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  std::atomic<int> refs{1};
};
}  // namespace internal

class Tensor {
 public:
  Tensor() = default;
  ~Tensor() { Unref(); }
  Tensor(const Tensor& o) : st_(o.st_), shape_(o.shape_), dtype_(o.dtype_) { Ref(); }
  Tensor(Tensor&& o) noexcept : st_(o.st_), shape_(o.shape_), dtype_(o.dtype_) {
    o.st_ = nullptr;
  }
  Tensor& operator=(const Tensor& o);
  Tensor& operator=(Tensor&& o) noexcept;

  // Uninitialized contents (whatever the pool hands back).
  static Tensor Empty(const Shape& shape, DType dtype = DType::kF32);
  static Tensor Zeros(const Shape& shape, DType dtype = DType::kF32);
  static Tensor Full(const Shape& shape, float value);
  // Copies `values` (size must equal shape.numel()).
  static Tensor FromVector(const Shape& shape, const std::vector<float>& values);
  static Tensor FromComplex(const Shape& shape, const std::vector<c64>& values);
  static Tensor Scalar(float v) { return FromVector(Shape{}, std::vector<float>{v}); }

  bool defined() const { return st_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int axis) const { return shape_.dim(axis); }
  int64_t numel() const { return defined() ? shape_.numel() : 0; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return numel() * DTypeSize(dtype_); }

  // Typed access; aborts if T does not match dtype().
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  float item() const;  // the single value of a 1-element float tensor

  // Same storage, new shape (numel must match). One dim may be -1 (inferred).
  Tensor Reshape(const std::vector<int64_t>& dims) const;
  Tensor ReshapeTo(const Shape& shape) const;
  Tensor Clone() const;
  void CopyFrom(const Tensor& src);  // shapes' numel and dtypes must match
  void Fill(float v);
  void SetZero();
  std::vector<float> ToVector() const;  // float tensors only
  bool SharesStorageWith(const Tensor& o) const { return st_ && st_ == o.st_; }
  int use_count() const { return st_ ? st_->refs.load(std::memory_order_relaxed) : 0; }

 private:
  void Ref() {
    if (st_) st_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  void Unref();
  void CheckType(DType want) const;

  internal::Storage* st_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::kF32;
};

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOf<c64> {
  static constexpr DType value = DType::kC64;
};

template <typename T>
T* Tensor::data() {
  CheckType(DTypeOf<T>::value);
  return st_ ? static_cast<T*>(st_->data) : nullptr;
}
template <typename T>
const T* Tensor::data() const {
  CheckType(DTypeOf<T>::value);
  return st_ ? static_cast<const T*>(st_->data) : nullptr;
}

// A float or complex tensor as the floats it holds (a c64 is two: real, imaginary): what
// optimizers, gradient accumulation and gradient exchange work on.
inline int64_t RealCount(const Tensor& t) {
  return t.numel() * (t.dtype() == DType::kC64 ? 2 : 1);
}
inline float* Reals(Tensor& t) {
  return t.dtype() == DType::kC64 ? reinterpret_cast<float*>(t.data<c64>()) : t.data<float>();
}
inline const float* Reals(const Tensor& t) {
  return t.dtype() == DType::kC64 ? reinterpret_cast<const float*>(t.data<c64>())
                                  : t.data<float>();
}

}  // namespace lra

#endif  // LRA_CORE_TENSOR_H_
