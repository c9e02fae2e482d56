// The processes that train one run together: every rank of `mpirun -np K lra train ...`, or this
// process alone when lra is started without an MPI launcher (then every collective returns at
// once and MPI is never initialised).
//
// Data-parallel training needs its sums to be reproducible. The MPI standard lets a reduction
// use associativity and commutativity to change its order of evaluation, which changes
// floating-point sums (MPI 1.1 report, section 4.9.1 "Reduce",
// https://netlib.org/mpi/mpi-report-1.1/node77.html; unchanged in later versions), so
// MPI_Allreduce's result may depend on the process count, the message size or the library's
// algorithm choice. SumInRankOrder
// instead adds the ranks' contributions strictly left to right in rank order,
//
//   out = (...((x_0 + x_1) + x_2) + ... ) + x_{K-1},
//
// which is what one process gets by accumulating K micro-batch gradients in order. It is a
// reduce-scatter followed by an allgather, both done as exact copies (MPI_Alltoallv,
// MPI_Allgatherv): rank r receives slice r of every rank's vector, adds the K slices in rank order,
// and sends its summed slice to everyone. Each rank sends 2 (K-1)/K of the vector, the same volume
// as a ring allreduce.
//
// Errors: an MPI error comes back as a Status. A rank that cannot go on calls Abort, which ends
// every rank of the job (MPI_Abort) so that no peer waits forever in a collective; a rank that
// dies makes the launcher end the others (Open MPI's mpirun does this by default).
#ifndef LRA_CORE_DIST_GROUP_H_
#define LRA_CORE_DIST_GROUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace lra::dist {

// What this process has sent and how long it spent in collectives, for the benchmark and the
// per-run report.
struct Traffic {
  int64_t calls = 0;
  int64_t bytes_sent = 0;
  double seconds = 0;
};

class Group {
 public:
  // The group this program was launched in. The first call initialises MPI when an MPI launcher
  // started the process (it sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK); otherwise the
  // group is this process alone. MPI is finalised at exit.
  static absl::StatusOr<Group*> World();

  // A group of one, for tests and for code that must not communicate.
  static Group& Solo();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // Replaces `data` on every rank by the elementwise sum over ranks, added in rank order (see the
  // file comment). Every rank must call it with the same length.
  absl::Status SumInRankOrder(absl::Span<float> data);
  absl::Status SumInRankOrder(absl::Span<double> data);
  absl::Status SumInRankOrder(absl::Span<int64_t> data);

  // Gradient accumulation over P = size() * per_rank micro-batches: `data` holds this rank's
  // `per_rank` vectors of n = data.size() / per_rank values back to back (its micro-batches
  // rank * per_rank ... rank * per_rank + per_rank - 1). On return data[0, n) holds, on every
  // rank, the sum of all P vectors added strictly left to right in micro-batch order; the rest
  // of `data` is scratch. So the result depends on P alone, not on how the micro-batches are
  // spread over ranks: 2 ranks x 2 micro-batches, 4 ranks x 1 and 1 process x 4 agree bit for
  // bit. In one process this is a local loop. Across K ranks each sends per_rank * n (K-1)/K
  // values in the reduce-scatter (every local vector's other slices) and n (K-1)/K in the
  // allgather (its summed slice), so per_rank > 1 costs more traffic than summing locally first;
  // that would group the additions by rank and make the bits depend on K.
  absl::Status SumInOrder(absl::Span<float> data, int per_rank);
  absl::Status SumInOrder(absl::Span<double> data, int per_rank);

  // Rank 0's `bytes` on every rank.
  absl::Status Broadcast(std::string* bytes);

  // Every rank's `mine`, in rank order, on every rank.
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine);

  absl::Status Barrier();

  // Ends every rank of the job with `why` printed once per rank; never returns. In a group of one
  // it prints `why` and exits with status 1.
  [[noreturn]] void Abort(const absl::Status& why);

  const Traffic& traffic() const { return traffic_; }

 private:
  Group(int rank, int size, bool mpi) : rank_(rank), size_(size), mpi_(mpi) {}
  template <typename T>
  absl::Status SumInOrderImpl(absl::Span<T> data, int per_rank);

  int rank_;
  int size_;
  bool mpi_;
  Traffic traffic_;
  std::vector<char> scratch_;  // kept across calls: page faults are expensive
};

// Whether an MPI launcher started this process (without initialising anything).
bool LaunchedByMpi();

// How many processes of this job the launcher started on this machine (Open MPI's
// OMPI_COMM_WORLD_LOCAL_SIZE, else MPI_LOCALNRANKS, else SLURM_NTASKS_PER_NODE); 1 when not
// launched by MPI or the launcher does not say. Sets the default threads per process.
int LocalProcessCount();

}  // namespace lra::dist

#endif  // LRA_CORE_DIST_GROUP_H_
