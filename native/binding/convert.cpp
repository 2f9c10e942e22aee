#include "convert.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace aeb_binding {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

const char* TypeName(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return v.IsArray() ? "array" : "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

std::string Show(const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    if (s.find('.') != std::string::npos) {
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
    }
    return s;
  }
  return TypeName(v);
}

[[noreturn]] void TypeErr(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] void RangeErr(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

// An integer in [min, max] from a JS number (or bigint). `name` is what the message calls it.
int64_t ToInt(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t min, int64_t max) {
  double d;
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t i = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless || i < min || i > max) {
      RangeErr(env, name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return i;
  }
  if (!v.IsNumber()) TypeErr(env, name + " must be an integer, got " + TypeName(v));
  d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > kMaxSafeInteger) {
    RangeErr(env, name + " must be an integer, got " + Show(v));
  }
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    RangeErr(env, name + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + Show(v));
  }
  return static_cast<int64_t>(d);
}

std::vector<int64_t> ToIntList(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t min) {
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      out.reserve(a.ElementLength());
      for (size_t i = 0; i < a.ElementLength(); ++i) {
        if (a[i] < min) RangeErr(env, name + "[" + std::to_string(i) + "] must be >= " + std::to_string(min));
        out.push_back(a[i]);
      }
      return out;
    }
    TypeErr(env, name + " must be an array of integers or an Int32Array");
  }
  if (!v.IsArray()) TypeErr(env, name + " must be an array of integers, got " + TypeName(v));
  auto arr = v.As<Napi::Array>();
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    out.push_back(ToInt(env, arr.Get(i), name + "[" + std::to_string(i) + "]", min, INT64_MAX));
  }
  return out;
}

// Reads optional properties of an options object; `undefined` means "use the default".
class OptionReader {
 public:
  OptionReader(Napi::Env env, Napi::Value value, std::string name) : env_(env), name_(std::move(name)) {
    if (value.IsUndefined() || value.IsNull()) return;
    if (!value.IsObject() || value.IsArray() || value.IsFunction()) {
      TypeErr(env, name_ + " must be an object, got " + TypeName(value));
    }
    obj_ = value.As<Napi::Object>();
  }

  Napi::Value Get(const char* key) const {
    if (obj_.IsEmpty()) return env_.Undefined();
    return obj_.Get(key);
  }
  std::string Name(const char* key) const { return name_ + "." + key; }

  std::optional<int64_t> Int(const char* key, int64_t min, int64_t max) const {
    Napi::Value v = Get(key);
    if (v.IsUndefined()) return std::nullopt;
    return ToInt(env_, v, Name(key), min, max);
  }

  std::optional<double> Number(const char* key, double min, bool min_exclusive, double max) const {
    Napi::Value v = Get(key);
    if (v.IsUndefined()) return std::nullopt;
    if (!v.IsNumber()) TypeErr(env_, Name(key) + " must be a number, got " + TypeName(v));
    double d = v.As<Napi::Number>().DoubleValue();
    bool below = min_exclusive ? d <= min : d < min;
    if (!std::isfinite(d) || below || d > max) {
      RangeErr(env_, Name(key) + " must be a finite number " + (min_exclusive ? "> " : ">= ") + Show(Napi::Number::New(env_, min)) +
                         " and <= " + Show(Napi::Number::New(env_, max)) + ", got " + Show(v));
    }
    return d;
  }

  std::optional<bool> Bool(const char* key) const {
    Napi::Value v = Get(key);
    if (v.IsUndefined()) return std::nullopt;
    if (!v.IsBoolean()) TypeErr(env_, Name(key) + " must be a boolean, got " + TypeName(v));
    return v.As<Napi::Boolean>().Value();
  }

  std::optional<std::string> String(const char* key, std::initializer_list<const char*> allowed = {}) const {
    Napi::Value v = Get(key);
    if (v.IsUndefined()) return std::nullopt;
    if (!v.IsString()) TypeErr(env_, Name(key) + " must be a string, got " + TypeName(v));
    std::string s = v.As<Napi::String>().Utf8Value();
    if (allowed.size() == 0) return s;
    std::string list;
    for (const char* a : allowed) {
      if (s == a) return s;
      list += (list.empty() ? "" : ", ") + std::string("'") + a + "'";
    }
    RangeErr(env_, Name(key) + " must be one of " + list + ", got '" + s + "'");
  }

 private:
  Napi::Env env_;
  std::string name_;
  Napi::Object obj_;
};

Napi::Array IdsToJs(Napi::Env env, const std::vector<int64_t>& ids) {
  Napi::Array a = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(ids[i])));
  return a;
}

}  // namespace

aeb::LoadOptions ToLoadOptions(Napi::Env env, Napi::Value path, Napi::Value options) {
  aeb::LoadOptions out;
  if (!path.IsString()) TypeErr(env, "path must be a string, got " + std::string(TypeName(path)));
  out.path = path.As<Napi::String>().Utf8Value();
  if (out.path.empty()) RangeErr(env, "path must not be empty");
  OptionReader r(env, options, "options");
  if (auto device = r.String("device")) {
    bool ok = *device == "cpu" || *device == "cuda" || device->rfind("cuda:", 0) == 0;
    if (!ok) RangeErr(env, "options.device must be 'cpu', 'cuda' or 'cuda:N', got '" + *device + "'");
    out.device = *device;
  }
  if (auto dtype = r.String("dtype", {"f32", "bf16", "f16"})) out.dtype = *dtype;
  if (auto threads = r.Int("threads", 0, 4096)) out.threads = static_cast<int>(*threads);
  if (auto len = r.Int("maxSeqLen", 0, INT32_MAX)) out.max_seq_len = *len;
  return out;
}

aeb::GenerateOptions ToGenerateOptions(Napi::Env env, Napi::Value prompt_ids, Napi::Value options) {
  aeb::GenerateOptions out;
  out.prompt_ids = ToIntList(env, prompt_ids, "promptIds", 0);
  if (out.prompt_ids.empty()) RangeErr(env, "promptIds must contain at least one token id");
  OptionReader r(env, options, "options");
  if (auto v = r.Int("maxNewTokens", 1, INT32_MAX)) out.max_new_tokens = *v;
  if (auto v = r.Int("minNewTokens", 0, INT32_MAX)) out.min_new_tokens = *v;
  Napi::Value stop = r.Get("stopIds");
  if (!stop.IsUndefined()) {
    out.use_default_stop_ids = false;
    out.stop_ids = ToIntList(env, stop, "options.stopIds", 0);
  }
  if (auto v = r.Number("temperature", 0.0, false, 1e6)) out.temperature = *v;
  if (auto v = r.Int("topK", 0, INT32_MAX)) out.top_k = *v;
  if (auto v = r.Number("topP", 0.0, true, 1.0)) out.top_p = *v;
  if (auto v = r.Int("seed", 0, INT64_MAX)) {
    out.has_seed = true;
    out.seed = static_cast<uint64_t>(*v);
  }
  if (auto v = r.Bool("returnFirstLogits")) out.return_first_logits = *v;
  return out;
}

Napi::Object ModelInfoToJs(Napi::Env env, const aeb::ModelInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](int64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
  o.Set("architecture", info.architecture);
  o.Set("format", info.format);
  o.Set("device", info.device);
  o.Set("dtype", info.dtype);
  o.Set("vocabSize", num(info.vocab_size));
  o.Set("hiddenSize", num(info.hidden_size));
  o.Set("numLayers", num(info.num_layers));
  o.Set("numHeads", num(info.num_heads));
  o.Set("numKvHeads", num(info.num_kv_heads));
  o.Set("headDim", num(info.head_dim));
  o.Set("maxSeqLen", num(info.max_seq_len));
  o.Set("numParameters", num(info.num_parameters));
  o.Set("weightBytes", num(info.weight_bytes));
  o.Set("eosIds", IdsToJs(env, info.eos_ids));
  o.Set("threads", num(info.threads));
  return o;
}

Napi::Object RuntimeInfoToJs(Napi::Env env, const aeb::RuntimeInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", info.torch_version);
  o.Set("cudaAvailable", info.cuda_available);
  o.Set("cudaDeviceCount", Napi::Number::New(env, static_cast<double>(info.cuda_device_count)));
  Napi::Array names = Napi::Array::New(env, info.cuda_device_names.size());
  for (size_t i = 0; i < info.cuda_device_names.size(); ++i) names.Set(static_cast<uint32_t>(i), info.cuda_device_names[i]);
  o.Set("cudaDeviceNames", names);
  o.Set("blas", info.blas);
  o.Set("threads", info.threads);
  o.Set("parallelInfo", info.parallel_info);
  o.Set("sdpaAvailable", info.sdpa_available);
  o.Set("allocator", info.allocator);
  return o;
}

Napi::Object ResultToJs(Napi::Env env, const aeb::GenerationResult& result) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ids", IdsToJs(env, result.ids));
  Napi::BigInt64Array stamps = Napi::BigInt64Array::New(env, result.token_ns.size());
  for (size_t i = 0; i < result.token_ns.size(); ++i) stamps[i] = result.token_ns[i];
  o.Set("tokenNs", stamps);
  o.Set("startNs", Napi::BigInt::New(env, result.start_ns));
  if (result.prefill_done_ns != 0) o.Set("prefillDoneNs", Napi::BigInt::New(env, result.prefill_done_ns));
  else o.Set("prefillDoneNs", env.Null());  // aborted before the prompt's forward finished
  o.Set("endNs", Napi::BigInt::New(env, result.end_ns));
  o.Set("promptTokens", Napi::Number::New(env, static_cast<double>(result.prompt_tokens)));
  o.Set("stopReason", result.stop_reason);
  if (!result.first_logits.empty()) {
    Napi::Float32Array logits = Napi::Float32Array::New(env, result.first_logits.size());
    std::copy(result.first_logits.begin(), result.first_logits.end(), logits.Data());
    o.Set("firstLogits", logits);
  }
  return o;
}

}  // namespace aeb_binding
