#include "generation_loop.h"
#include "cpu_threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <cstring>
#include <set>
#include <thread>

#include "sampler.h"

namespace aeb {

namespace {

void validate(const GenerateOptions& o, const ModelInfo& info) {
  if (o.prompt_ids.empty()) throw EngineError("INVALID_ARGUMENT", "prompt_ids is empty");
  for (int64_t id : o.prompt_ids)
    if (id < 0 || id >= info.vocab_size)
      throw EngineError("INVALID_ARGUMENT", "prompt token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                std::to_string(info.vocab_size) + ")");
  if (o.max_new_tokens < 1) throw EngineError("INVALID_ARGUMENT", "max_new_tokens must be >= 1");
  if (o.min_new_tokens < 0) throw EngineError("INVALID_ARGUMENT", "min_new_tokens must be >= 0");
  const auto prompt = static_cast<int64_t>(o.prompt_ids.size());
  // The last generated token is never fed back: the model sees prompt + max_new - 1 positions.
  if (prompt > info.max_seq_len || o.max_new_tokens - 1 > info.max_seq_len - prompt)  // no overflow for huge values
    throw EngineError("INVALID_ARGUMENT", "prompt (" + std::to_string(prompt) + " tokens) + max_new_tokens (" +
                                              std::to_string(o.max_new_tokens) + ") - 1 exceeds the KV cache capacity max_seq_len (" +
                                              std::to_string(info.max_seq_len) + ")");
  if (!o.use_default_stop_ids)
    for (int64_t id : o.stop_ids)
      if (id < 0) throw EngineError("INVALID_ARGUMENT", "stop id " + std::to_string(id) + " is negative");
}

// Copies [vocab] logits to host f32. The device → host copy synchronises the device, so the
// step's work is finished when this returns. NaN or +inf logits, or no finite one, would be
// sampled as an arbitrary id (argmax and sorts are meaningless on them): refused, naming the
// step (0 = the prompt's last position). -inf alone is a mask and stays allowed.
void to_host(const at::Tensor& logits, int64_t vocab, std::vector<float>& out, int64_t step) {
  if (!logits.defined() || logits.numel() != vocab)
    throw EngineError("MODEL_OUTPUT_INVALID", "the model returned " +
                                                  (logits.defined() ? std::to_string(logits.numel()) : std::string("no")) +
                                                  " logits for one position; expected vocab_size = " + std::to_string(vocab));
  at::Tensor host = logits.reshape({vocab}).to(at::kCPU, at::kFloat).contiguous();
  out.resize(static_cast<size_t>(vocab));
  std::memcpy(out.data(), host.data_ptr<float>(), sizeof(float) * static_cast<size_t>(vocab));
  bool bad = false, any_finite = false;
  for (float v : out) {
    bad |= !(v <= std::numeric_limits<float>::max()) && v != -std::numeric_limits<float>::infinity();  // NaN, +inf
    any_finite |= std::isfinite(v);
  }
  if (bad || !any_finite) {
    size_t i = 0;
    while (i < out.size() && !(std::isnan(out[i]) || out[i] == std::numeric_limits<float>::infinity())) ++i;
    throw EngineError("MODEL_OUTPUT_INVALID",
                      "the model's logits at step " + std::to_string(step) + (step == 0 ? " (the prompt's last position)" : "") +
                          (bad ? " contain " + std::string(std::isnan(out[i]) ? "NaN" : "+inf") + " (token id " + std::to_string(i) + ")"
                               : " are all -inf") +
                          ": the weights or the computation in this dtype are broken, and sampling them would be arbitrary");
  }
}

// min_new_tokens, as Hugging Face's MinNewTokensLengthLogitsProcessor and vLLM's min_tokens do
// it: until that many tokens exist a stop id cannot be sampled at all (its logit is -inf), so
// the output holds min_new_tokens real tokens and never a stop id followed by more text.
void block_stop_ids(std::vector<float>& logits, const std::set<int64_t>& stops, int64_t step) {
  bool other_left = false;
  for (size_t i = 0; i < logits.size() && !other_left; ++i)
    other_left = logits[i] != -std::numeric_limits<float>::infinity() && stops.count(static_cast<int64_t>(i)) == 0;
  if (!other_left)
    throw EngineError("MODEL_OUTPUT_INVALID", "min_new_tokens cannot be met: at step " + std::to_string(step) +
                                                  " every token the model allows is a stop id");
  for (int64_t id : stops)
    if (id < static_cast<int64_t>(logits.size())) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
}

// Shows the generation's cancel flag to the model for the prefill only.
class CancelFlagScope {
 public:
  CancelFlagScope(StepModel& model, const std::atomic<bool>& flag) : model_(model) { model_.set_cancel_flag(&flag); }
  ~CancelFlagScope() { model_.set_cancel_flag(nullptr); }
  CancelFlagScope(const CancelFlagScope&) = delete;
  CancelFlagScope& operator=(const CancelFlagScope&) = delete;

 private:
  StepModel& model_;
};

}  // namespace

GenerationResult run_generation(StepModel& model, const GenerateOptions& options,
                                const std::function<void(const TokenEvent&)>& on_token,
                                const std::atomic<bool>& cancel) {
  GenerationResult result;
  result.start_ns = steady_now_ns();
  const ModelInfo& info = model.info();
  validate(options, info);
  SamplerOptions so;
  so.temperature = options.temperature;
  so.top_k = options.top_k;
  so.top_p = options.top_p;
  so.has_seed = options.has_seed;
  so.seed = options.seed;
  Sampler sampler(so);
  const std::vector<int64_t>& stop_list = options.use_default_stop_ids ? info.eos_ids : options.stop_ids;
  const std::set<int64_t> stops(stop_list.begin(), stop_list.end());
  result.prompt_tokens = static_cast<int64_t>(options.prompt_ids.size());

  try {
    if (info.threads > 0) set_intraop_threads(info.threads);
    c10::InferenceMode guard;  // thread-local: taken on the generating thread
    if (cancel.load()) {
      result.stop_reason = "aborted";
      result.end_ns = steady_now_ns();
      return result;
    }
    std::vector<float> logits;
    model.reset();
    try {
      CancelFlagScope scope(model, cancel);
      to_host(model.prefill(options.prompt_ids), info.vocab_size, logits, 0);
    } catch (const PrefillCancelled&) {
      result.stop_reason = "aborted";
      result.end_ns = steady_now_ns();
      return result;
    }
    result.prefill_done_ns = steady_now_ns();
    if (options.return_first_logits) result.first_logits = logits;

    for (;;) {
      const auto index = static_cast<int64_t>(result.ids.size());
      if (index < options.min_new_tokens) block_stop_ids(logits, stops, index);
      const int64_t id = sampler.sample(logits.data(), info.vocab_size);
      const int64_t now = steady_now_ns();
      result.ids.push_back(id);
      result.token_ns.push_back(now);
      if (on_token) on_token(TokenEvent{id, index, now});
      if (stops.count(id) != 0) {  // never before min_new_tokens: block_stop_ids masked them
        result.stop_reason = "stop_id";
        break;
      }
      if (index + 1 >= options.max_new_tokens) {
        result.stop_reason = "max_new_tokens";
        break;
      }
      if (cancel.load()) {
        result.stop_reason = "aborted";
        break;
      }
      to_host(model.decode(id), info.vocab_size, logits, index + 1);
    }
  } catch (const c10::Error& e) {
    throw EngineError("TORCH_ERROR", std::string("generate: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw EngineError("OUT_OF_MEMORY", "generate: out of memory");
  } catch (const EngineError&) {
    throw;
  } catch (const std::exception& e) {
    // A TorchScript forward that raises (torch::jit::JITException) is not a c10::Error.
    throw EngineError("MODEL_FORWARD_FAILED", std::string("generate: the model's forward failed: ") + e.what());
  }
  result.end_ns = steady_now_ns();
  return result;
}

at::Device resolve_device(const std::string& text) {
  if (text == "cpu") return at::Device(at::kCPU);
  int64_t index = 0;
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoll(text.substr(5));
  } else if (text != "cuda") {
    throw EngineError("INVALID_ARGUMENT", "device \"" + text + "\" is not one of cpu, cuda, cuda:N");
  }
  if (!torch::cuda::is_available())
    throw EngineError("DEVICE_UNAVAILABLE", "device " + text + " requested but CUDA is not available (libtorch " +
                                                std::string(TORCH_VERSION) + " without a usable GPU/driver)");
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count)
    throw EngineError("DEVICE_UNAVAILABLE",
                      "device " + text + " requested but only " + std::to_string(count) + " CUDA device(s) exist");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

at::ScalarType resolve_dtype(const std::string& text, const at::Device& device) {
  if (text == "f32") return at::kFloat;
  if (text == "bf16") return at::kBFloat16;
  if (text == "f16") {
    if (device.is_cpu())
      throw EngineError("DTYPE_UNSUPPORTED", "dtype f16 is CUDA-only (libtorch has no f16 matmul on CPU); use bf16 or f32 on cpu");
    return at::kHalf;
  }
  throw EngineError("INVALID_ARGUMENT", "dtype \"" + text + "\" is not one of f32, bf16, f16");
}

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "f32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "f16";
    default: return c10::toString(t);
  }
}

int resolve_threads(int requested) {
  if (requested < 0) throw EngineError("INVALID_ARGUMENT", "threads must be >= 0");
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

at::Tensor allocate_kv_cache(const std::vector<int64_t>& shape, const at::TensorOptions& options) {
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  const double gib = static_cast<double>(elements) * static_cast<double>(c10::elementSize(options.dtype().toScalarType())) / (1 << 30);
  try {
    return at::zeros(shape, options);
  } catch (const c10::Error& e) {
    // The allocator's own message (with its enforce text) says less than the cause here.
    char size[32];
    std::snprintf(size, sizeof size, "%.2f", gib);
    const std::string what = e.what_without_backtrace();
    throw EngineError("OUT_OF_MEMORY", std::string("the KV cache ") + shape_string(shape) + " (" + size + " GiB of " +
                                           dtype_name(options.dtype().toScalarType()) + " on " + options.device().str() +
                                           ", twice: keys and values) cannot be allocated: " + what.substr(0, what.find('\n')) +
                                           "; lower maxSeqLen");
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace aeb
