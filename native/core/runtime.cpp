// runtime_info() and steady_now_ns(): facts about the linked libtorch and this process.
#include "engine.h"
#include "allocator_tuning.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <sstream>

namespace aeb {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// Device names come from the CUDA driver API, loaded at run time, so this file compiles
// against CPU-only libtorch (no CUDA headers) and still names GPUs on CUDA builds.
std::vector<std::string> cuda_device_names_from_driver(int64_t expected) {
  std::vector<std::string> names;
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) return names;
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int*);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<GetFn>(dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(dlsym(lib, "cuDeviceGetName"));
  int n = 0;
  if (init != nullptr && count != nullptr && get != nullptr && name != nullptr &&
      init(0) == 0 && count(&n) == 0) {
    for (int i = 0; i < n && i < expected; ++i) {
      int dev = 0;
      char buf[256] = {0};
      if (get(&dev, i) != 0 || name(buf, sizeof(buf) - 1, dev) != 0) break;
      names.emplace_back(buf);
    }
  }
  // The driver library stays loaded (libtorch's CUDA runtime holds it anyway).
  return names;
}

std::string blas_from_config(const std::string& config) {
  // at::show_config() lists e.g. "  - BLAS_INFO=open" and "  - LAPACK_INFO=open".
  std::istringstream in(config);
  std::string line;
  std::string blas;
  while (std::getline(in, line)) {
    auto pos = line.find("BLAS_INFO=");
    if (pos != std::string::npos) {
      blas = line.substr(pos + 10);
      break;
    }
  }
  if (blas.empty()) return "unknown";
  auto comma = blas.find(',');
  if (comma != std::string::npos) blas = blas.substr(0, comma);
  if (blas == "open") return "OpenBLAS";
  if (blas == "mkl") return "MKL";
  if (blas == "generic") {
    // Debian builds against the "generic" libblas.so.3 alternative: name the library the
    // dynamic linker actually resolved sgemm_ to, and OpenBLAS's own config string if present.
    std::string resolved = "generic libblas.so.3";
    void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info where{};
    if (sgemm != nullptr && dladdr(sgemm, &where) != 0 && where.dli_fname != nullptr) {
      char real[4096];
      resolved = realpath(where.dli_fname, real) != nullptr ? real : where.dli_fname;
    }
    using ConfigFn = char* (*)();
    auto openblas_config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    if (openblas_config != nullptr) return std::string(openblas_config()) + " (" + resolved + ")";
    return "reference/generic BLAS (" + resolved + ")";
  }
  return blas;
}

}  // namespace

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  try {
    info.cuda_available = torch::cuda::is_available();
    info.cuda_device_count = info.cuda_available ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
    if (info.cuda_device_count > 0) info.cuda_device_names = cuda_device_names_from_driver(info.cuda_device_count);
    info.blas = blas_from_config(at::show_config());
    info.threads = at::get_num_threads();
    info.parallel_info = at::get_parallel_info();
  } catch (const c10::Error& e) {
    throw EngineError("TORCH_ERROR", std::string("runtime_info: ") + e.what_without_backtrace());
  }
  // Every supported libtorch has an SDPA op: the public one from 2.0, the private
  // at::_scaled_dot_product_attention in 1.13.
  info.sdpa_available = true;
  info.allocator = allocator_tuning_state();
  return info;
}

}  // namespace aeb
