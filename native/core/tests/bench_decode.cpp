// Decode-step throughput of the CPU kernels vs the machine's measured read bandwidth.
//   bench_decode [threads] [f32|bf16] [tokens] [preset: 125m|stories]
// Builds a random-weight Llama (125m: hidden 768, 12 layers, 12 heads, intermediate 2048,
// vocab 32000, untied head) directly on CpuDecoder and times single-token steps.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu_decode.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

__attribute__((target("avx512f"))) float sum_avx512(const float* p, size_t n) {
  __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps(), c = _mm512_setzero_ps(), d = _mm512_setzero_ps();
  for (size_t i = 0; i + 64 <= n; i += 64) {
    a = _mm512_add_ps(a, _mm512_load_ps(p + i));
    b = _mm512_add_ps(b, _mm512_load_ps(p + i + 16));
    c = _mm512_add_ps(c, _mm512_load_ps(p + i + 32));
    d = _mm512_add_ps(d, _mm512_load_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
}

// Best-of-5 read bandwidth (GB/s) over 512 MB split across `threads` threads.
double read_bandwidth(int threads) {
  const size_t n = (512ull << 20) / sizeof(float);
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  for (size_t i = 0; i < n; ++i) buf[i] = 1.0f;
  double best = 0;
  volatile float sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<float> partial(static_cast<size_t>(threads));
    const double t0 = now_s();
    std::vector<std::thread> ts;
    const size_t chunk = n / static_cast<size_t>(threads) / 64 * 64;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { partial[static_cast<size_t>(t)] = sum_avx512(buf + chunk * static_cast<size_t>(t), chunk); });
    for (auto& th : ts) th.join();
    const double dt = now_s() - t0;
    for (float v : partial) sink = sink + v;
    best = std::max(best, static_cast<double>(chunk * static_cast<size_t>(threads) * sizeof(float)) / dt / 1e9);
  }
  std::free(buf);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const bool bf16 = argc > 2 && std::string(argv[2]) == "bf16";
  const int tokens = argc > 3 ? std::atoi(argv[3]) : 64;
  const std::string preset = argc > 4 ? argv[4] : "125m";
  int64_t H = 768, L = 12, NH = 12, NKV = 12, I = 2048, V = 32000, S = 1024;
  if (preset == "stories") { H = 64; L = 5; NH = 8; NKV = 4; I = 172; V = 512; S = 512; }
  const int64_t D = H / NH;
  const size_t elt = bf16 ? 2 : 4;

  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<uint8_t>> store;
  auto matrix = [&](int64_t rows, int64_t cols) -> const void* {
    store.emplace_back(static_cast<size_t>(rows * cols) * elt);
    auto& b = store.back();
    for (int64_t i = 0; i < rows * cols; ++i) {
      float v = normal(rng);
      if (bf16) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        uint16_t h = static_cast<uint16_t>(bits >> 16);
        std::memcpy(b.data() + i * 2, &h, 2);
      } else {
        std::memcpy(b.data() + i * 4, &v, 4);
      }
    }
    return b.data();
  };
  std::vector<float> ones(static_cast<size_t>(std::max(H, D)), 1.0f);
  std::vector<float> kc(static_cast<size_t>(L * NKV * S * D)), vc(kc.size());
  std::vector<float> cosv(static_cast<size_t>(S * D / 2)), sinv(cosv.size());
  for (int64_t p = 0; p < S; ++p)
    for (int64_t i = 0; i < D / 2; ++i) {
      const double a = p / std::pow(10000.0, 2.0 * i / D);
      cosv[static_cast<size_t>(p * D / 2 + i)] = static_cast<float>(std::cos(a));
      sinv[static_cast<size_t>(p * D / 2 + i)] = static_cast<float>(std::sin(a));
    }
  aeb::CpuDecoderSpec s;
  s.weight_type = bf16 ? aeb::CpuWeightType::BF16 : aeb::CpuWeightType::F32;
  s.vocab_size = V; s.hidden_size = H; s.intermediate_size = I; s.num_heads = NH; s.num_kv_heads = NKV;
  s.head_dim = D; s.max_seq_len = S; s.rms_norm_eps = 1e-5f; s.threads = threads;
  s.embed = matrix(V, H);
  s.lm_head = matrix(V, H);
  s.final_norm = ones.data();
  s.rope_cos = cosv.data();
  s.rope_sin = sinv.data();
  for (int64_t l = 0; l < L; ++l) {
    aeb::CpuLayerSpec c;
    c.wq = matrix(NH * D, H); c.wk = matrix(NKV * D, H); c.wv = matrix(NKV * D, H); c.wo = matrix(H, NH * D);
    c.w_gate = matrix(I, H); c.w_up = matrix(I, H); c.w_down = matrix(H, I);
    c.in_norm = ones.data(); c.post_norm = ones.data();
    c.k_cache = kc.data() + l * NKV * S * D; c.v_cache = vc.data() + l * NKV * S * D;
    s.layers.push_back(c);
  }
  // Bytes streamed per token: every matrix except the embedding table (one row).
  const double bytes = static_cast<double>(elt) *
                       static_cast<double>(V * H + H + L * (H * NH * D * 2 + 2 * H * NKV * D + 3 * H * I));
  aeb::CpuDecoder dec(s);
  std::vector<float> logits(static_cast<size_t>(V));
  for (int w = 0; w < 4; ++w) dec.step(1, w, logits.data());
  const double t0 = now_s();
  for (int t = 0; t < tokens; ++t) dec.step(static_cast<int64_t>(t % V), 4 + t % (S - 4), logits.data());
  const double dt = now_s() - t0;
  const double tps = tokens / dt;
  const double bw = read_bandwidth(threads);
  std::printf("preset=%s isa=%s weights=%s threads=%d: %.1f tok/s, %.1f MB/token, %.2f GB/s effective; "
              "read bandwidth %.2f GB/s -> limit %.1f tok/s, %.0f%% of limit\n",
              preset.c_str(), aeb::cpu_kernel_isa().c_str(), bf16 ? "bf16" : "f32", threads, tps, bytes / 1e6,
              tps * bytes / 1e9, bw, bw * 1e9 / bytes, 100.0 * tps * bytes / 1e9 / bw);
  return 0;
}
