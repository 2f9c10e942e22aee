#include "cpu_threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>

namespace aeb {
namespace {

// OpenBLAS (pthread build) keeps its own pool, sized by its own setting, not at::set_num_threads.
// Found at run time: libtorch may be linked against another BLAS, or none.
void set_blas_threads(int threads) {
  using SetFn = void (*)(int);
  static const SetFn fn = [] {
    for (const char* name : {"libopenblas.so.0", "libblas.so.3"}) {
      void* lib = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
      if (lib == nullptr) continue;
      auto f = reinterpret_cast<SetFn>(dlsym(lib, "openblas_set_num_threads"));
      dlclose(lib);  // NOLOAD took a reference on a library that stays loaded
      if (f != nullptr) return f;
    }
    return static_cast<SetFn>(nullptr);
  }();
  if (fn != nullptr) fn(threads);
}

}  // namespace

void set_intraop_threads(int threads) {
  // Run this thread's lazy initialisation now, not after our setting. The flag lives in an
  // inline function: the copy inside libtorch's own ops (reached through get_num_threads) and
  // the one inlined into code built here (at::parallel_for) may differ, so trigger both.
  at::internal::lazy_init_num_threads();
  (void)at::get_num_threads();
  at::set_num_threads(threads);
}

void set_cpu_threads(int threads) {
  set_intraop_threads(threads);
  set_blas_threads(threads);
}

}  // namespace aeb
