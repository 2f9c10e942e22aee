// A model seen as prefill + single-token decode steps. run_generation (generation_loop.h) turns
// any StepModel into a full generation with the semantics documented in engine.h, so new
// architectures and formats only implement the forward passes.
//
// Ownership: a StepModel owns its weights and its cache (KV cache, or the token context of a
// full-recompute model). Not thread-safe: one generation at a time (engine.h's contract).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "engine.h"

namespace aeb {

// Thrown by a prefill that saw the generation's cancel flag between layers.
struct PrefillCancelled {};

class StepModel {
 public:
  virtual ~StepModel() = default;
  // The flag run_generation polls, also visible to a long prefill (nullptr outside generations).
  void set_cancel_flag(const std::atomic<bool>* flag) { cancel_flag_ = flag; }
  // ModelInfo.vocab_size, max_seq_len, eos_ids and threads drive validation and stopping.
  virtual const ModelInfo& info() const = 0;
  // Forgets every cached position; the next call is prefill.
  virtual void reset() = 0;
  // Runs the prompt from position 0. Returns the last position's logits: [vocab], any
  // floating dtype, on the host or the device (the loop copies and synchronises).
  virtual at::Tensor prefill(const std::vector<int64_t>& ids) = 0;
  // Feeds one token at the next position and returns its logits ([vocab], as above).
  virtual at::Tensor decode(int64_t id) = 0;

 protected:
  // For prefills that run layer by layer: throws PrefillCancelled once cancel was requested,
  // so abort() and dispose() wait for one layer of a long prompt, not the whole prompt.
  void throw_if_cancelled() const {
    if (cancel_flag_ != nullptr && cancel_flag_->load(std::memory_order_relaxed)) throw PrefillCancelled{};
  }

 private:
  const std::atomic<bool>* cancel_flag_ = nullptr;
};

// Load-time option parsing shared by StepModel loaders (same rules and codes as the core's
// safetensors loader): "cpu" | "cuda" | "cuda:N" → DEVICE_UNAVAILABLE / INVALID_ARGUMENT;
// "f32" | "bf16" | "f16" (f16 on CUDA only) → DTYPE_UNSUPPORTED / INVALID_ARGUMENT.
at::Device resolve_device(const std::string& text);
at::ScalarType resolve_dtype(const std::string& text, const at::Device& device);
const char* dtype_name(at::ScalarType t);  // "f32", "bf16", "f16", else c10's name
int resolve_threads(int requested);        // 0 = available cores
std::string shape_string(const std::vector<int64_t>& shape);  // "[2, 3]"
// Zero-filled KV cache tensor; an allocation failure is OUT_OF_MEMORY naming the size and the
// way out (a smaller max_seq_len), not the allocator's internals.
at::Tensor allocate_kv_cache(const std::vector<int64_t>& shape, const at::TensorOptions& options);

}  // namespace aeb
