// The CPU matvec kernels against a double-precision reference, over awkward shapes (tails,
// fewer than four rows, bias, accumulate), for f32 and bf16 weights.
// Run with AEB_CPU_KERNEL=scalar|avx2|avx512 to check each kernel set. Exit 1 on mismatch.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu_decode.h"

int main() {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int failures = 0, checks = 0;
  for (auto type : {aeb::CpuWeightType::F32, aeb::CpuWeightType::BF16}) {
    for (int64_t rows : {1, 3, 4, 5, 17, 64}) {
      for (int64_t cols : {1, 7, 16, 31, 32, 33, 63, 64, 100, 768, 1000}) {
        std::vector<float> wf(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(cols)), bias(static_cast<size_t>(rows));
        std::vector<uint16_t> wb(wf.size());
        for (auto& v : wf) v = u(rng);
        for (size_t i = 0; i < wf.size(); ++i) {  // bf16 by truncation; wf keeps the exact value
          uint32_t bits;
          std::memcpy(&bits, &wf[i], 4);
          wb[i] = static_cast<uint16_t>(bits >> 16);
          bits = static_cast<uint32_t>(wb[i]) << 16;
          if (type == aeb::CpuWeightType::BF16) std::memcpy(&wf[i], &bits, 4);
        }
        for (auto& v : x) v = u(rng);
        for (auto& v : bias) v = u(rng);
        for (bool accumulate : {false, true}) {
          std::vector<float> y(static_cast<size_t>(rows), 0.5f);
          const void* w = type == aeb::CpuWeightType::F32 ? static_cast<const void*>(wf.data()) : wb.data();
          aeb::cpu_matvec(type, w, x.data(), y.data(), rows, cols, accumulate ? nullptr : bias.data(), accumulate);
          for (int64_t r = 0; r < rows; ++r) {
            double want = accumulate ? 0.5 : bias[static_cast<size_t>(r)], scale = 1;
            for (int64_t c = 0; c < cols; ++c) {
              want += static_cast<double>(wf[static_cast<size_t>(r * cols + c)]) * x[static_cast<size_t>(c)];
              scale += std::fabs(wf[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(c)]);
            }
            ++checks;
            if (std::fabs(want - y[static_cast<size_t>(r)]) > 1e-5 * scale) {
              if (++failures < 10)
                std::printf("MISMATCH %s rows=%lld cols=%lld row=%lld acc=%d: got %.7g want %.7g\n",
                            type == aeb::CpuWeightType::F32 ? "f32" : "bf16", static_cast<long long>(rows),
                            static_cast<long long>(cols), static_cast<long long>(r), accumulate ? 1 : 0,
                            y[static_cast<size_t>(r)], want);
            }
          }
        }
      }
    }
  }
  std::printf("kernels=%s: %d checks, %d mismatches\n", aeb::cpu_kernel_isa().c_str(), checks, failures);
  return failures == 0 ? 0 : 1;
}
