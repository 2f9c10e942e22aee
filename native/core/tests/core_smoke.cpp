// Smoke check: the core links and reports the runtime.
#include "engine.h"

#include <cstdio>

int main() {
  auto info = aeb::runtime_info();
  std::printf("torch %s cuda=%d devices=%lld blas=%s threads=%d sdpa=%d\n", info.torch_version.c_str(),
              info.cuda_available ? 1 : 0, static_cast<long long>(info.cuda_device_count), info.blas.c_str(),
              info.threads, info.sdpa_available ? 1 : 0);
  try {
    aeb::LoadOptions opts;
    opts.path = "/nonexistent";
    aeb::load_model(opts);
  } catch (const aeb::EngineError& e) {
    std::printf("load_model error %s: %s\n", e.code().c_str(), e.what());
  }
  return 0;
}
