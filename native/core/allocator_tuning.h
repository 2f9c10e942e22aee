// glibc malloc settings for inference: keep freed activation memory for reuse.
#pragma once

#include <string>

namespace aeb {

// Once per process (later calls return the first result). glibc hands every allocation above
// its mmap threshold (128 KiB at first) fresh pages from the kernel and gives freed heap top
// back above the trim threshold; a prefill allocates and frees such temporaries (attention
// scores, activations) in every layer, so each one pays first-touch page faults again (15-20 us
// per 4 KiB in a VM: a 256-token prefill of a 260K-parameter model took 99 ms instead of 6).
// Raises both thresholds with mallopt, unless AEB_MALLOC_TUNING=0 or GLIBC_TUNABLES already
// sets malloc tunables (the user's choice wins). Returns what was done, for runtime_info.
std::string tune_allocator_for_inference();

// What tune_allocator_for_inference() did, or "not tuned yet" before its first call (the
// addon calls it when it loads, load_model before anything else).
std::string allocator_tuning_state();

}  // namespace aeb
