// Public C++ API of the inference core. The core is C++ and libtorch only: it never includes
// napi.h. The N-API layer (native/binding) converts JS values into these plain structs on the
// main thread and calls Model::generate on a dedicated thread per model.
//
// Ownership: a Model owns its weights and KV cache; checkpoint files are open only while loading.
// Thread-safety: one generate() at a time per Model (the binding serialises calls);
// different Models may generate concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace aeb {

// Every failure the core reports is an EngineError with a stable, machine-readable code
// (upper snake case, e.g. "SAFETENSORS_HEADER_INVALID", "UNSUPPORTED_ARCHITECTURE",
// "CONFIG_INVALID", "TENSOR_MISSING", "TENSOR_SHAPE_MISMATCH", "DEVICE_UNAVAILABLE",
// "DTYPE_UNSUPPORTED", "INVALID_ARGUMENT", "FILE_NOT_FOUND", "TORCH_ERROR") and a message
// that names the file / key / tensor at fault. Messages never contain a C++ backtrace.
class EngineError : public std::runtime_error {
 public:
  EngineError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

struct LoadOptions {
  std::string path;            // HF checkpoint directory (config.json + *.safetensors)
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  std::string dtype = "f32";   // "f32", "bf16", "f16" (f16 compute on CUDA only)
  int threads = 0;             // intra-op CPU threads; 0 = available cores
  int64_t max_seq_len = 0;     // KV cache capacity; 0 = min(config max_position_embeddings, 4096)
};

struct GenerateOptions {
  std::vector<int64_t> prompt_ids;  // non-empty, every id < vocab_size
  int64_t max_new_tokens = 128;     // >= 1
  int64_t min_new_tokens = 0;       // stop ids are ignored until this many tokens exist
  bool use_default_stop_ids = true; // eos ids from generation_config.json / config.json
  std::vector<int64_t> stop_ids;    // used when use_default_stop_ids is false
  double temperature = 0.0;         // 0 = greedy (argmax)
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  bool has_seed = false;
  uint64_t seed = 0;                // with has_seed: sampling is reproducible
  bool return_first_logits = false; // copy the logits of the first generated step (f32)
};

// Stamps are std::chrono::steady_clock nanoseconds (CLOCK_MONOTONIC on Linux, the same clock
// as Node's process.hrtime.bigint()).
struct TokenEvent {
  int64_t id;
  int64_t index;    // 0-based position among generated tokens
  int64_t time_ns;  // taken when the id is on the host (device work finished)
};

struct GenerationResult {
  std::vector<int64_t> ids;       // generated ids (the stop token, if any, is included)
  std::vector<int64_t> token_ns;  // one stamp per generated id
  int64_t start_ns = 0;           // generate() entered, before any device work
  int64_t prefill_done_ns = 0;    // prompt forward finished (device synchronised); 0 = it never finished (aborted)
  int64_t end_ns = 0;             // last token delivered
  int64_t prompt_tokens = 0;
  std::string stop_reason;        // "stop_id", "max_new_tokens", "aborted"
  std::vector<float> first_logits;  // when return_first_logits
};

struct ModelInfo {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string format;        // "safetensors" | "torchscript"
  std::string device;        // resolved, e.g. "cuda:0"
  std::string dtype;         // compute dtype actually used
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_seq_len = 0;   // KV cache capacity
  int64_t num_parameters = 0;
  int64_t weight_bytes = 0;  // bytes of weights read per decode step (for bandwidth figures)
  std::vector<int64_t> eos_ids;
  int threads = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Runs one generation on the calling thread. on_token is called once per generated token,
  // in order, from the calling thread. cancel is polled before every decode step; when set,
  // generation stops with stop_reason "aborted" and the tokens so far are returned.
  virtual GenerationResult generate(const GenerateOptions& options,
                                    const std::function<void(const TokenEvent&)>& on_token,
                                    const std::atomic<bool>& cancel) = 0;
};

// Validates everything (files, headers, config, shapes, device, dtype) before allocating.
std::unique_ptr<Model> load_model(const LoadOptions& options);

struct RuntimeInfo {
  std::string torch_version;
  bool cuda_available = false;
  int64_t cuda_device_count = 0;
  std::vector<std::string> cuda_device_names;
  std::string blas;              // e.g. "OpenBLAS (pthread)", "reference BLAS", from at::show_config
  int threads = 0;               // current intra-op thread count
  std::string parallel_info;     // at::get_parallel_info()
  bool sdpa_available = false;
  std::string allocator;         // what the first load_model did to malloc (allocator_tuning.h)
};
RuntimeInfo runtime_info();

int64_t steady_now_ns();

}  // namespace aeb
