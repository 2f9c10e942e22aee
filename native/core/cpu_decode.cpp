#include "cpu_decode.h"

// GCC 12 reports a false -Wuninitialized inside _mm512_reduce_add_ps (avx512fintrin.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace aeb {

// ---------------------------------------------------------------------------------------------
// Kernels. dot4: four dot products of rows r[0..3] (length n) with x, written to out[0..3].
// Weights are f32 or bf16 (upper half of an f32); activations and sums are f32.

namespace {

// xp: x rearranged by permute_for_bf16 (only the AVX-512 bf16 kernel reads it; may be null otherwise).
using Dot4Fn = void (*)(const void* const* rows, const float* x, const float* xp, int64_t n, float* out);
using DotFn = float (*)(const float* a, const float* b, int64_t n);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <typename T>
inline float load_weight(const T* p, int64_t i);
template <>
inline float load_weight<float>(const float* p, int64_t i) { return p[i]; }
template <>
inline float load_weight<uint16_t>(const uint16_t* p, int64_t i) { return bf16_to_f32(p[i]); }

// The scalar remainder [k, n) of four row dot products whose vector parts are in s; writes out.
template <typename T>
inline void finish_rows4(const T* w0, const T* w1, const T* w2, const T* w3, const float* x, int64_t k, int64_t n,
                         float s[4], float* out) {
  for (; k < n; ++k) {
    s[0] += load_weight(w0, k) * x[k];
    s[1] += load_weight(w1, k) * x[k];
    s[2] += load_weight(w2, k) * x[k];
    s[3] += load_weight(w3, k) * x[k];
  }
  for (int r = 0; r < 4; ++r) out[r] = s[r];
}

template <typename T>
void dot4_scalar(const void* const* rows, const float* x, const float*, int64_t n, float* out) {
  for (int r = 0; r < 4; ++r) {
    const T* w = static_cast<const T*>(rows[r]);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
      for (int j = 0; j < 8; ++j) acc[j] += load_weight(w, k + j) * x[k + j];
    float s = 0;
    for (; k < n; ++k) s += load_weight(w, k) * x[k];
    for (float a : acc) s += a;
    out[r] = s;
  }
}

float dot_scalar(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
  float s = 0;
  for (; k < n; ++k) s += a[k] * b[k];
  for (float v : acc) s += v;
  return s;
}

// ---- AVX2 + FMA ----
#define AEB_AVX2 __attribute__((target("avx2,fma")))

AEB_AVX2 inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  lo = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, lo);
  lo = _mm_add_ss(lo, sh);
  return _mm_cvtss_f32(lo);
}

AEB_AVX2 inline __m256 load8_f32(const float* p) { return _mm256_loadu_ps(p); }
AEB_AVX2 inline __m256 load8_bf16(const uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

template <typename T>
AEB_AVX2 inline __m256 load8(const T* p);
template <>
AEB_AVX2 inline __m256 load8<float>(const float* p) { return load8_f32(p); }
template <>
AEB_AVX2 inline __m256 load8<uint16_t>(const uint16_t* p) { return load8_bf16(p); }

template <typename T>
AEB_AVX2 void dot4_avx2(const void* const* rows, const float* x, const float*, int64_t n, float* out) {
  const T* w0 = static_cast<const T*>(rows[0]);
  const T* w1 = static_cast<const T*>(rows[1]);
  const T* w2 = static_cast<const T*>(rows[2]);
  const T* w3 = static_cast<const T*>(rows[3]);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 xv = _mm256_loadu_ps(x + k);
    a0 = _mm256_fmadd_ps(load8<T>(w0 + k), xv, a0);
    a1 = _mm256_fmadd_ps(load8<T>(w1 + k), xv, a1);
    a2 = _mm256_fmadd_ps(load8<T>(w2 + k), xv, a2);
    a3 = _mm256_fmadd_ps(load8<T>(w3 + k), xv, a3);
  }
  float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
  finish_rows4(w0, w1, w2, w3, x, k, n, s, out);
}

AEB_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  float s = hsum256(acc);
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

// ---- AVX-512 ----
#define AEB_AVX512 __attribute__((target("avx512f,avx2,fma")))

template <typename T>
AEB_AVX512 inline __m512 load16(const T* p);
template <>
AEB_AVX512 inline __m512 load16<float>(const float* p) { return _mm512_loadu_ps(p); }

// Two accumulators per row (32 elements per iteration) keep enough FMAs in flight.
template <typename T>
AEB_AVX512 void dot4_avx512(const void* const* rows, const float* x, const float*, int64_t n, float* out) {
  const T* w0 = static_cast<const T*>(rows[0]);
  const T* w1 = static_cast<const T*>(rows[1]);
  const T* w2 = static_cast<const T*>(rows[2]);
  const T* w3 = static_cast<const T*>(rows[3]);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps(), b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m512 x0 = _mm512_loadu_ps(x + k);
    const __m512 x1 = _mm512_loadu_ps(x + k + 16);
    a0 = _mm512_fmadd_ps(load16<T>(w0 + k), x0, a0);
    a1 = _mm512_fmadd_ps(load16<T>(w1 + k), x0, a1);
    a2 = _mm512_fmadd_ps(load16<T>(w2 + k), x0, a2);
    a3 = _mm512_fmadd_ps(load16<T>(w3 + k), x0, a3);
    b0 = _mm512_fmadd_ps(load16<T>(w0 + k + 16), x1, b0);
    b1 = _mm512_fmadd_ps(load16<T>(w1 + k + 16), x1, b1);
    b2 = _mm512_fmadd_ps(load16<T>(w2 + k + 16), x1, b2);
    b3 = _mm512_fmadd_ps(load16<T>(w3 + k + 16), x1, b3);
  }
  for (; k + 16 <= n; k += 16) {
    const __m512 x0 = _mm512_loadu_ps(x + k);
    a0 = _mm512_fmadd_ps(load16<T>(w0 + k), x0, a0);
    a1 = _mm512_fmadd_ps(load16<T>(w1 + k), x0, a1);
    a2 = _mm512_fmadd_ps(load16<T>(w2 + k), x0, a2);
    a3 = _mm512_fmadd_ps(load16<T>(w3 + k), x0, a3);
  }
  float s[4] = {_mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)),
                _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)), _mm512_reduce_add_ps(_mm512_add_ps(a3, b3))};
  finish_rows4(w0, w1, w2, w3, x, k, n, s, out);
}

AEB_AVX512 float dot_avx512(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc);
  float s = _mm512_reduce_add_ps(acc);
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

// bf16 weights without widening shuffles: a 32-bit lane of 64 loaded bytes holds elements
// 2j (low half) and 2j+1 (high half); `lane << 16` and `lane & 0xffff0000` are both exact f32.
// xp holds x per 32-element block as [16 even-index values, 16 odd-index values].
AEB_AVX512 void dot4_bf16_pairs_avx512(const void* const* rows, const float* x, const float* xp, int64_t n, float* out) {
  const uint16_t* w[4] = {static_cast<const uint16_t*>(rows[0]), static_cast<const uint16_t*>(rows[1]),
                          static_cast<const uint16_t*>(rows[2]), static_cast<const uint16_t*>(rows[3])};
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 even[4], odd[4];
  for (int r = 0; r < 4; ++r) even[r] = odd[r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m512 xe = _mm512_loadu_ps(xp + k);
    const __m512 xo = _mm512_loadu_ps(xp + k + 16);
    for (int r = 0; r < 4; ++r) {
      const __m512i v = _mm512_loadu_si512(w[r] + k);
      even[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xe, even[r]);
      odd[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), xo, odd[r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    float s = _mm512_reduce_add_ps(_mm512_add_ps(even[r], odd[r]));
    for (int64_t j = k; j < n; ++j) s += bf16_to_f32(w[r][j]) * x[j];
    out[r] = s;
  }
}

struct Kernels {
  const char* isa;
  Dot4Fn dot4_f32;
  Dot4Fn dot4_bf16;
  DotFn dot;
  bool bf16_needs_pairs;  // dot4_bf16 reads xp (see permute_for_bf16)
};

Kernels select_kernels() {
  __builtin_cpu_init();
  const char* forced = std::getenv("AEB_CPU_KERNEL");
  const std::string want = forced != nullptr ? forced : "";
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (want != "scalar" && want != "avx2" && has512)
    return {"avx512", dot4_avx512<float>, dot4_bf16_pairs_avx512, dot_avx512, true};
  if (want != "scalar" && has2) return {"avx2", dot4_avx2<float>, dot4_avx2<uint16_t>, dot_avx2, false};
  return {"scalar", dot4_scalar<float>, dot4_scalar<uint16_t>, dot_scalar, false};
}

const Kernels& kernels() {
  static const Kernels k = select_kernels();
  return k;
}

inline const void* row_ptr(CpuWeightType type, const void* w, int64_t row, int64_t cols) {
  const size_t elt = type == CpuWeightType::F32 ? 4 : 2;
  return static_cast<const uint8_t*>(w) + static_cast<size_t>(row) * static_cast<size_t>(cols) * elt;
}

// Rearranges x for dot4_bf16_pairs_avx512: per 32-element block, even then odd indices.
// Returns xp (buf's storage), or nullptr when the kernels in use do not need it.
const float* permute_for_bf16(CpuWeightType type, const float* x, int64_t n, std::vector<float>& buf) {
  if (type != CpuWeightType::BF16 || !kernels().bf16_needs_pairs) return nullptr;
  buf.resize(static_cast<size_t>(n));
  int64_t k = 0;
  for (; k + 32 <= n; k += 32)
    for (int j = 0; j < 16; ++j) {
      buf[static_cast<size_t>(k + j)] = x[k + 2 * j];
      buf[static_cast<size_t>(k + 16 + j)] = x[k + 2 * j + 1];
    }
  for (; k < n; ++k) buf[static_cast<size_t>(k)] = x[k];
  return buf.data();
}

// Rows [r0, r1) of y = W x (+ bias), optionally added to y.
void matvec_rows(Dot4Fn dot4, CpuWeightType type, const void* w, const float* x, const float* xp, float* y, int64_t cols,
                 int64_t r0, int64_t r1, const float* bias, bool accumulate) {
  float out[4];
  for (int64_t r = r0; r < r1; r += 4) {
    const void* rows[4];
    const int64_t count = std::min<int64_t>(4, r1 - r);
    for (int j = 0; j < 4; ++j) rows[j] = row_ptr(type, w, r + std::min<int64_t>(j, count - 1), cols);
    dot4(rows, x, xp, cols, out);
    for (int64_t j = 0; j < count; ++j) {
      float v = out[j] + (bias != nullptr ? bias[r + j] : 0.0f);
      y[r + j] = accumulate ? y[r + j] + v : v;
    }
  }
}

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

}  // namespace

std::string cpu_kernel_isa() { return kernels().isa; }

void cpu_matvec(CpuWeightType type, const void* w, const float* x, float* y, int64_t rows, int64_t cols,
                const float* bias, bool accumulate) {
  const Kernels& k = kernels();
  std::vector<float> buf;
  const float* xp = permute_for_bf16(type, x, cols, buf);
  matvec_rows(type == CpuWeightType::F32 ? k.dot4_f32 : k.dot4_bf16, type, w, x, xp, y, cols, 0, rows, bias, accumulate);
}

// ---------------------------------------------------------------------------------------------
// Worker pool: threads - 1 persistent workers plus the calling thread.
//
// A job is published as one 64-bit word, claim_ = [epoch:32 | chunks:16 | next chunk:16].
// A thread takes a chunk with a CAS on that word, so it can only take a chunk of the job it
// saw published, and the caller waits for the *chunks* to be done (done_), never for workers
// to check in: a worker the OS has not scheduled (2 cores shared with the JS thread, other
// processes, libtorch's pools) simply takes no chunk and the caller runs them itself. Only a
// worker that claimed a chunk and was then preempted mid-chunk can delay the caller.
//
// Workers spin briefly between regions of one step (they come back-to-back), then sleep on a
// condition variable. park() (end of a decode step) sends them to sleep at once, so between
// tokens the pool holds no core and the JS thread receiving the token finds one free.

class WorkerPool {
 public:
  using ChunkFn = void (*)(void* ctx, int64_t chunk, int64_t nchunks);

  explicit WorkerPool(int threads) : threads_(std::max(1, threads)) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
  }

  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
      claim_.fetch_add(kEpochOne);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int size() const { return threads_; }

  // Runs fn(ctx, c, nchunks) for every c in [0, nchunks); returns when all chunks are done.
  // threads == 1 runs them on the caller only.
  void run(int threads, int64_t nchunks, ChunkFn fn, void* ctx) {
    if (threads_ == 1 || threads <= 1 || nchunks <= 1) {
      for (int64_t c = 0; c < nchunks; ++c) fn(ctx, c, nchunks);
      return;
    }
    nchunks = std::min<int64_t>(nchunks, kMaxChunks);  // callers size chunks by n, so fewer is fine
    job_fn_ = fn;
    job_ctx_ = ctx;
    done_.store(0, std::memory_order_relaxed);
    parked_.store(false, std::memory_order_relaxed);
    const uint64_t epoch = (claim_.load(std::memory_order_relaxed) >> 32) + 1;
    claim_.store((epoch << 32) | (static_cast<uint64_t>(nchunks) << 16));  // seq_cst: pairs with sleepers_
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      cv_.notify_all();
    }
    work(epoch);
    for (int spins = 0; done_.load(std::memory_order_acquire) != nchunks; ++spins) {
      if (spins < kSpinIterations) _mm_pause();
      else std::this_thread::yield();
    }
  }

  // Sends idle workers to sleep now instead of spinning (the next run() wakes them).
  void park() { parked_.store(true, std::memory_order_relaxed); }

 private:
  static constexpr uint64_t kEpochOne = uint64_t{1} << 32;
  static constexpr int64_t kMaxChunks = 0xffff;
  static constexpr int kSpinIterations = 4000;  // ~0.1-0.5 ms of pause

  // Takes and runs chunks of job `epoch` until none is left (or a newer job replaced it).
  void work(uint64_t epoch) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    for (;;) {
      const int64_t n = static_cast<int64_t>((v >> 16) & 0xffff), c = static_cast<int64_t>(v & 0xffff);
      if ((v >> 32) != epoch || c >= n) return;
      if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      // Claimed: the caller waits for this chunk, so the job fields stay valid until done_ counts it.
      job_fn_(job_ctx_, c, n);
      done_.fetch_add(1, std::memory_order_release);
      v = claim_.load(std::memory_order_acquire);
    }
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t epoch;
      int spins = 0;
      while ((epoch = claim_.load(std::memory_order_acquire) >> 32) == seen) {
        if (++spins < kSpinIterations && !parked_.load(std::memory_order_relaxed)) {
          _mm_pause();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          sleepers_.fetch_add(1);  // seq_cst: run() either sees it or this wait sees the new epoch
          cv_.wait(lock, [&] { return (claim_.load() >> 32) != seen; });
          sleepers_.fetch_sub(1);
          spins = 0;
        }
      }
      seen = epoch;
      if (stop_.load()) return;
      work(epoch);
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> parked_{false};
  std::atomic<bool> stop_{false};
  ChunkFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// The decode step.

namespace {

// Below this many weight elements a region runs on one thread: waking workers costs more.
constexpr int64_t kMinElementsPerThread = 256 * 1024;

struct MatvecJob {
  const void* w;
  const float* x;
  const float* xp;
  float* y;
  const float* bias;
  int64_t rows;
  bool accumulate;
};

// Several matvecs with the same input length, split by rows across threads as one region.
struct RowsRegion {
  Dot4Fn dot4;
  CpuWeightType type;
  int64_t cols;
  MatvecJob jobs[3];
  int count;
  int64_t total_rows;

  static void run(void* ctx, int64_t chunk, int64_t n) {
    auto* self = static_cast<RowsRegion*>(ctx);
    // Chunk boundaries on multiples of 16 rows keep each thread's outputs on separate lines.
    const int64_t per = ((self->total_rows + n - 1) / n + 15) / 16 * 16;
    const int64_t begin = std::min(self->total_rows, per * chunk);
    const int64_t end = std::min(self->total_rows, begin + per);
    int64_t base = 0;
    for (int j = 0; j < self->count; ++j) {
      const MatvecJob& m = self->jobs[j];
      const int64_t lo = std::max(begin, base), hi = std::min(end, base + m.rows);
      if (lo < hi) matvec_rows(self->dot4, self->type, m.w, m.x, m.xp, m.y, self->cols, lo - base, hi - base, m.bias, m.accumulate);
      base += m.rows;
    }
  }
};

// out[r] = silu(gate[r] . x + bg[r]) * (up[r] . x + bu[r])
struct GateUpRegion {
  Dot4Fn dot4;
  CpuWeightType type;
  const void* w_gate;
  const void* w_up;
  const float* b_gate;
  const float* b_up;
  const float* x;
  const float* xp;
  float* out;
  int64_t rows, cols;

  static void run(void* ctx, int64_t chunk, int64_t n) {
    auto* s = static_cast<GateUpRegion*>(ctx);
    const int64_t per = ((s->rows + n - 1) / n + 15) / 16 * 16;
    const int64_t begin = std::min(s->rows, per * chunk);
    const int64_t end = std::min(s->rows, begin + per);
    float d[4];
    for (int64_t r = begin; r < end; r += 2) {
      const int64_t r1 = std::min(r + 1, end - 1);
      const void* rows[4] = {row_ptr(s->type, s->w_gate, r, s->cols), row_ptr(s->type, s->w_gate, r1, s->cols),
                             row_ptr(s->type, s->w_up, r, s->cols), row_ptr(s->type, s->w_up, r1, s->cols)};
      s->dot4(rows, s->x, s->xp, s->cols, d);
      const int64_t rr[2] = {r, r1};
      for (int j = 0; j < (r1 > r ? 2 : 1); ++j) {
        const float g = d[j] + (s->b_gate != nullptr ? s->b_gate[rr[j]] : 0.0f);
        const float u = d[2 + j] + (s->b_up != nullptr ? s->b_up[rr[j]] : 0.0f);
        s->out[rr[j]] = silu(g) * u;
      }
    }
  }
};

struct AttentionRegion {
  DotFn dot;
  const float* q;       // [heads, D]
  const float* k_cache; // [kv_heads, S_max, D]
  const float* v_cache;
  float* out;           // [heads, D]
  float* scores;        // [heads, S_max]
  int64_t heads, group, head_dim, max_seq;
  int64_t first, length;  // attends to cache positions [first, first + length)
  float scale;

  // One chunk per head.
  static void run(void* ctx, int64_t h, int64_t) {
    auto* a = static_cast<AttentionRegion*>(ctx);
    const int64_t D = a->head_dim;
    {
      const int64_t kv = h / a->group;
      const float* qh = a->q + h * D;
      const float* kbase = a->k_cache + (kv * a->max_seq + a->first) * D;
      const float* vbase = a->v_cache + (kv * a->max_seq + a->first) * D;
      float* sc = a->scores + h * a->max_seq;
      float mx = -INFINITY;
      for (int64_t t = 0; t < a->length; ++t) {
        sc[t] = a->dot(qh, kbase + t * D, D) * a->scale;
        mx = std::max(mx, sc[t]);
      }
      float total = 0;
      for (int64_t t = 0; t < a->length; ++t) {
        sc[t] = std::exp(sc[t] - mx);
        total += sc[t];
      }
      const float inv = 1.0f / total;
      float* oh = a->out + h * D;
      std::fill(oh, oh + D, 0.0f);
      for (int64_t t = 0; t < a->length; ++t) {
        const float p = sc[t] * inv;
        const float* vt = vbase + t * D;
        for (int64_t d = 0; d < D; ++d) oh[d] += p * vt[d];
      }
    }
  }
};

void rms_norm(const float* x, const float* w, float* out, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

// HF "rotate half": pairs (x[i], x[i + D/2]).
void rope(float* x, const float* cos, const float* sin, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

}  // namespace

struct CpuDecoder::Impl {
  CpuDecoderSpec s;
  const Kernels& k = kernels();
  Dot4Fn dot4;
  WorkerPool pool;
  std::vector<float> x, h, q, kbuf, vbuf, att, mlp, scores;
  std::vector<float> xp_buf;  // permute_for_bf16 scratch (one input at a time)

  explicit Impl(const CpuDecoderSpec& spec)
      : s(spec),
        dot4(spec.weight_type == CpuWeightType::F32 ? kernels().dot4_f32 : kernels().dot4_bf16),
        pool(spec.threads) {
    x.resize(static_cast<size_t>(s.hidden_size));
    h.resize(static_cast<size_t>(s.hidden_size));
    q.resize(static_cast<size_t>(s.num_heads * s.head_dim));
    kbuf.resize(static_cast<size_t>(s.num_kv_heads * s.head_dim));
    vbuf.resize(static_cast<size_t>(s.num_kv_heads * s.head_dim));
    att.resize(static_cast<size_t>(s.num_heads * s.head_dim));
    mlp.resize(static_cast<size_t>(s.intermediate_size));
    scores.resize(static_cast<size_t>(s.num_heads * s.max_seq_len));
  }

  int threads_for(int64_t elements) const {
    return static_cast<int>(std::min<int64_t>(pool.size(), std::max<int64_t>(1, elements / kMinElementsPerThread)));
  }

  // Several chunks per thread let a thread that starts late take fewer.
  static int64_t chunks_for(int threads) { return threads == 1 ? 1 : 4 * threads; }

  void run_rows(RowsRegion& region) {
    const int t = threads_for(region.total_rows * region.cols);
    pool.run(t, chunks_for(t), &RowsRegion::run, &region);
  }

  void step(int64_t token, int64_t pos, float* logits) {
    const int64_t H = s.hidden_size, D = s.head_dim, half = D / 2;
    const int64_t q_out = s.num_heads * D, kv_out = s.num_kv_heads * D;
    const float eps = s.rms_norm_eps;
    if (s.weight_type == CpuWeightType::F32) {
      std::memcpy(x.data(), static_cast<const float*>(s.embed) + token * H, sizeof(float) * static_cast<size_t>(H));
    } else {
      const uint16_t* row = static_cast<const uint16_t*>(s.embed) + token * H;
      for (int64_t i = 0; i < H; ++i) x[static_cast<size_t>(i)] = bf16_to_f32(row[i]);
    }
    const float* cos = s.rope_cos + pos * half;
    const float* sin = s.rope_sin + pos * half;

    for (const CpuLayerSpec& L : s.layers) {
      rms_norm(x.data(), L.in_norm, h.data(), H, eps);
      const float* hp = permute_for_bf16(s.weight_type, h.data(), H, xp_buf);
      RowsRegion qkv{dot4, s.weight_type, H,
                     {{L.wq, h.data(), hp, q.data(), L.bq, q_out, false},
                      {L.wk, h.data(), hp, kbuf.data(), L.bk, kv_out, false},
                      {L.wv, h.data(), hp, vbuf.data(), L.bv, kv_out, false}},
                     3, q_out + 2 * kv_out};
      run_rows(qkv);
      for (int64_t hd = 0; hd < s.num_heads; ++hd) {
        float* qh = q.data() + hd * D;
        if (L.q_norm != nullptr) rms_norm(qh, L.q_norm, qh, D, eps);
        rope(qh, cos, sin, half);
      }
      for (int64_t kv = 0; kv < s.num_kv_heads; ++kv) {
        float* kh = kbuf.data() + kv * D;
        if (L.k_norm != nullptr) rms_norm(kh, L.k_norm, kh, D, eps);
        rope(kh, cos, sin, half);
        std::memcpy(L.k_cache + (kv * s.max_seq_len + pos) * D, kh, sizeof(float) * static_cast<size_t>(D));
        std::memcpy(L.v_cache + (kv * s.max_seq_len + pos) * D, vbuf.data() + kv * D, sizeof(float) * static_cast<size_t>(D));
      }
      const int64_t first = L.sliding_window > 0 ? std::max<int64_t>(0, pos + 1 - L.sliding_window) : 0;
      const int64_t span = pos + 1 - first;
      AttentionRegion attn{k.dot, q.data(), L.k_cache, L.v_cache, att.data(), scores.data(),
                           s.num_heads, s.num_heads / s.num_kv_heads, D, s.max_seq_len, first, span,
                           1.0f / std::sqrt(static_cast<float>(D))};
      pool.run(threads_for(2 * span * q_out), s.num_heads, &AttentionRegion::run, &attn);

      RowsRegion o{dot4, s.weight_type, q_out,
                   {{L.wo, att.data(), permute_for_bf16(s.weight_type, att.data(), q_out, xp_buf), x.data(), L.bo, H, true}}, 1, H};
      run_rows(o);

      rms_norm(x.data(), L.post_norm, h.data(), H, eps);
      GateUpRegion gu{dot4, s.weight_type, L.w_gate, L.w_up, L.b_gate, L.b_up, h.data(),
                      permute_for_bf16(s.weight_type, h.data(), H, xp_buf), mlp.data(), s.intermediate_size, H};
      const int gu_threads = threads_for(2 * s.intermediate_size * H);
      pool.run(gu_threads, chunks_for(gu_threads), &GateUpRegion::run, &gu);

      RowsRegion down{dot4, s.weight_type, s.intermediate_size,
                      {{L.w_down, mlp.data(), permute_for_bf16(s.weight_type, mlp.data(), s.intermediate_size, xp_buf), x.data(), L.b_down, H, true}},
                      1, H};
      run_rows(down);
    }
    rms_norm(x.data(), s.final_norm, h.data(), H, eps);
    RowsRegion head{dot4, s.weight_type, H,
                    {{s.lm_head, h.data(), permute_for_bf16(s.weight_type, h.data(), H, xp_buf), logits, nullptr, s.vocab_size, false}},
                    1, s.vocab_size};
    run_rows(head);
    pool.park();
  }
};

CpuDecoder::CpuDecoder(const CpuDecoderSpec& spec) : impl_(std::make_unique<Impl>(spec)) {}
CpuDecoder::~CpuDecoder() = default;
void CpuDecoder::step(int64_t token, int64_t pos, float* logits) { impl_->step(token, pos, logits); }

}  // namespace aeb
