// Thread counts for CPU work, set on the thread that runs a model.
//
// libtorch (OpenMP backend) keeps the intra-op count per thread, but a thread's first parallel
// call lazily re-applies the process-wide count last set by any thread: with two models on
// their own threads, the first one's setting would be replaced by the other's. Setting it
// after forcing that lazy step keeps each model thread at its own count.
// OpenBLAS's pool is process-wide whatever we do: set it right before the work that uses it.
#pragma once

namespace aeb {

/** libtorch intra-op threads for the calling thread. */
void set_intraop_threads(int threads);

/** Intra-op threads for the calling thread, and OpenBLAS's (process-wide) pool. */
void set_cpu_threads(int threads);

}  // namespace aeb
