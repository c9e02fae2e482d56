#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/check.h"

namespace lra {

const char* DTypeName(DType d) { return d == DType::kF32 ? "f32" : "c64"; }

// ---------------------------------------------------------------------------------------------
// Shape

Shape::Shape(std::initializer_list<int64_t> dims) {
  LRA_CHECK(dims.size() <= kMaxRank) << "rank " << dims.size() << " > " << kMaxRank;
  for (int64_t d : dims) {
    LRA_CHECK(d >= 0) << "negative dim " << d;
    dims_[rank_++] = d;
  }
}

Shape::Shape(const std::vector<int64_t>& dims) {
  LRA_CHECK(dims.size() <= kMaxRank) << "rank " << dims.size() << " > " << kMaxRank;
  for (int64_t d : dims) {
    LRA_CHECK(d >= 0) << "negative dim " << d;
    dims_[rank_++] = d;
  }
}

int Shape::Axis(int axis) const {
  int a = axis < 0 ? axis + rank_ : axis;
  LRA_CHECK(a >= 0 && a < rank_) << "axis " << axis << " out of range for " << ToString();
  return a;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

int64_t Shape::Rows(int axis) const {
  int a = axis == rank_ ? rank_ : Axis(axis);
  int64_t n = 1;
  for (int i = 0; i < a; ++i) n *= dims_[i];
  return n;
}

int64_t Shape::Cols(int axis) const {
  int a = axis == rank_ ? rank_ : Axis(axis);
  int64_t n = 1;
  for (int i = a; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// BufferPool

struct BufferPool::Impl {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  Stats stats;
};

BufferPool& BufferPool::Get() {
  // Leaked on purpose: tensors in static objects may be released after main() returns.
  static BufferPool* pool = new BufferPool;
  return *pool;
}

BufferPool::Impl* BufferPool::impl() {
  static Impl* impl = new Impl;
  return impl;
}

// Small requests round to 64 B (one cache line). Above 64 KiB the granularity is 1/8 of the
// enclosing power of two, so buffers whose size varies a little between steps (e.g. a batch
// padded to its own max length) still hit the cache, at most 12.5% wasted.
size_t BufferPool::RoundedSize(size_t bytes) {
  if (bytes == 0) bytes = 1;
  size_t r = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (r <= (size_t{64} << 10)) return r;
  int log2 = 63 - __builtin_clzll(r);
  size_t gran = size_t{1} << (log2 - 3);
  return (r + gran - 1) / gran * gran;
}

void* BufferPool::Allocate(size_t bytes) {
  const size_t r = RoundedSize(bytes);
  Impl* im = impl();
  {
    std::lock_guard<std::mutex> lock(im->mu);
    auto it = im->free.find(r);
    if (it != im->free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      im->stats.reuses++;
      im->stats.bytes_cached -= r;
      im->stats.bytes_in_use += r;
      im->stats.peak_bytes_in_use = std::max(im->stats.peak_bytes_in_use, im->stats.bytes_in_use);
      return p;
    }
    im->stats.system_allocs++;
    im->stats.bytes_in_use += r;
    im->stats.peak_bytes_in_use = std::max(im->stats.peak_bytes_in_use, im->stats.bytes_in_use);
  }
  void* p = std::aligned_alloc(kAlignment, r);
  LRA_CHECK(p != nullptr) << "out of memory allocating " << r << " bytes";
  return p;
}

void BufferPool::Release(void* p, size_t bytes) {
  if (!p) return;
  const size_t r = RoundedSize(bytes);
  Impl* im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->free[r].push_back(p);
  im->stats.bytes_in_use -= r;
  im->stats.bytes_cached += r;
}

void BufferPool::Trim() {
  Impl* im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  for (auto& [size, list] : im->free)
    for (void* p : list) std::free(p);
  im->free.clear();
  im->stats.bytes_cached = 0;
}

BufferPool::Stats BufferPool::stats() const {
  Impl* im = const_cast<BufferPool*>(this)->impl();
  std::lock_guard<std::mutex> lock(im->mu);
  return im->stats;
}

void BufferPool::ResetPeak() {
  Impl* im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->stats.peak_bytes_in_use = im->stats.bytes_in_use;
}

// ---------------------------------------------------------------------------------------------
// Tensor

Tensor& Tensor::operator=(const Tensor& o) {
  if (this != &o) {
    if (o.st_) o.st_->refs.fetch_add(1, std::memory_order_relaxed);
    Unref();
    st_ = o.st_;
    shape_ = o.shape_;
    dtype_ = o.dtype_;
  }
  return *this;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    Unref();
    st_ = o.st_;
    shape_ = o.shape_;
    dtype_ = o.dtype_;
    o.st_ = nullptr;
  }
  return *this;
}

void Tensor::Unref() {
  if (st_ && st_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    BufferPool::Get().Release(st_->data, st_->bytes);
    delete st_;
  }
  st_ = nullptr;
}

void Tensor::CheckType(DType want) const {
  LRA_CHECK(dtype_ == want) << "tensor is " << DTypeName(dtype_) << ", accessed as "
                            << DTypeName(want);
}

Tensor Tensor::Empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.st_ = new internal::Storage;
  t.st_->bytes = shape.numel() * DTypeSize(dtype);
  t.st_->data = BufferPool::Get().Allocate(t.st_->bytes);
  return t;
}

Tensor Tensor::Zeros(const Shape& shape, DType dtype) {
  Tensor t = Empty(shape, dtype);
  t.SetZero();
  return t;
}

Tensor Tensor::Full(const Shape& shape, float value) {
  Tensor t = Empty(shape);
  t.Fill(value);
  return t;
}

Tensor Tensor::FromVector(const Shape& shape, const std::vector<float>& values) {
  LRA_CHECK(static_cast<int64_t>(values.size()) == shape.numel())
      << values.size() << " values for shape " << shape.ToString();
  Tensor t = Empty(shape);
  if (!values.empty()) std::memcpy(t.data<float>(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::FromComplex(const Shape& shape, const std::vector<c64>& values) {
  LRA_CHECK(static_cast<int64_t>(values.size()) == shape.numel())
      << values.size() << " values for shape " << shape.ToString();
  Tensor t = Empty(shape, DType::kC64);
  if (!values.empty()) std::memcpy(t.data<c64>(), values.data(), values.size() * sizeof(c64));
  return t;
}

float Tensor::item() const {
  LRA_CHECK(numel() == 1) << "item() on a tensor of shape " << shape_.ToString();
  return data<float>()[0];
}

Tensor Tensor::Reshape(const std::vector<int64_t>& dims) const {
  std::vector<int64_t> d = dims;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1) {
      LRA_CHECK(infer < 0) << "Reshape: more than one -1";
      infer = static_cast<int>(i);
    } else {
      known *= d[i];
    }
  }
  if (infer >= 0) {
    LRA_CHECK(known > 0 && numel() % known == 0)
        << "Reshape: cannot infer -1 for " << shape_.ToString();
    d[infer] = numel() / known;
  }
  return ReshapeTo(Shape(d));
}

Tensor Tensor::ReshapeTo(const Shape& shape) const {
  LRA_CHECK(shape.numel() == shape_.numel())
      << "Reshape " << shape_.ToString() << " -> " << shape.ToString();
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  Tensor t = Empty(shape_, dtype_);
  std::memcpy(t.st_->data, st_->data, nbytes());
  return t;
}

void Tensor::CopyFrom(const Tensor& src) {
  LRA_CHECK(numel() == src.numel() && dtype_ == src.dtype_)
      << "CopyFrom " << src.shape_.ToString() << " into " << shape_.ToString();
  if (numel()) std::memmove(st_->data, src.st_->data, nbytes());
}

void Tensor::Fill(float v) {
  float* p = data<float>();
  std::fill(p, p + numel(), v);
}

void Tensor::SetZero() {
  if (numel()) std::memset(st_->data, 0, nbytes());
}

std::vector<float> Tensor::ToVector() const {
  const float* p = data<float>();
  return std::vector<float>(p, p + numel());
}

}  // namespace lra
