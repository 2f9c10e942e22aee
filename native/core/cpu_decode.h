// Single-token (batch 1) decode step on the CPU without libtorch: hand-written matrix-vector
// kernels (AVX-512 / AVX2+FMA / scalar, chosen at run time), split across a persistent worker
// pool by output rows so each weight byte is streamed from memory once per token.
//
// Ownership: CpuDecoder only borrows the pointers in CpuDecoderSpec (weights and KV cache are
// owned by the model, which outlives it). Not thread-safe: one step() at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aeb {

enum class CpuWeightType { F32, BF16 };

struct CpuLayerSpec {
  const void *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;  // [out, in] row-major
  const void *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
  // f32 vectors; nullptr when absent
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;
  const float *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;
  const float *in_norm = nullptr, *post_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr;
  float* k_cache = nullptr;  // [kv_heads, max_seq_len, head_dim] f32
  float* v_cache = nullptr;
  int64_t sliding_window = 0;  // attend to the last N positions (itself included); 0 = all
};

struct CpuDecoderSpec {
  CpuWeightType weight_type = CpuWeightType::F32;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0, max_seq_len = 0;
  float rms_norm_eps = 1e-6f;
  int threads = 1;
  const void* embed = nullptr;    // [vocab, hidden]
  const void* lm_head = nullptr;  // [vocab, hidden]
  const float* final_norm = nullptr;
  const float* rope_cos = nullptr;  // [max_seq_len, head_dim / 2]
  const float* rope_sin = nullptr;
  std::vector<CpuLayerSpec> layers;
};

class WorkerPool;

class CpuDecoder {
 public:
  explicit CpuDecoder(const CpuDecoderSpec& spec);
  ~CpuDecoder();
  CpuDecoder(const CpuDecoder&) = delete;
  CpuDecoder& operator=(const CpuDecoder&) = delete;

  // Feeds `token` at position `pos` (writing its K/V into the cache) and writes the next-token
  // logits (vocab_size floats). Positions 0..pos-1 must already be in the cache.
  void step(int64_t token, int64_t pos, float* logits);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "avx512", "avx2" or "scalar": the kernel set in use. AEB_CPU_KERNEL=avx512|avx2|scalar
// forces a lower one (for tests); an unsupported request falls back to the best available.
std::string cpu_kernel_isa();

// Kernel entry points, exposed for the core's own test harness.
// y[r] (+)= dot(W[r, :], x) (+ bias[r]) for r in [0, rows).
void cpu_matvec(CpuWeightType type, const void* w, const float* x, float* y, int64_t rows, int64_t cols,
                const float* bias, bool accumulate);

}  // namespace aeb
