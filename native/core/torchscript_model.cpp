#include "torchscript_model.h"

#include <sys/stat.h>
#include "cpu_threads.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <cstdlib>

#include <optional>
#include <sstream>

#include "generation_loop.h"
#include "json.h"
#include "model_config.h"
#include "step_model.h"
#include "zip_integrity.h"

namespace aeb {

namespace {

enum class ExportShape { FullRecompute, KvCache };

constexpr const char* kNotTorchScriptHint = " (a Hugging Face safetensors checkpoint is loaded by its directory, not a file)";

// What the file's metadata (module attributes, then the sidecar) says; absent = nullopt.
struct Metadata {
  std::optional<std::vector<int64_t>> eos_ids;
  std::optional<int64_t> vocab_size;
  std::optional<int64_t> max_seq_len;
  std::optional<std::string> tokenizer_dir;
  std::string sources;  // where it came from, for messages
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void read_module_attributes(const torch::jit::Module& m, Metadata& md) {
  auto int_attr = [&](const char* name, std::optional<int64_t>& out) {
    if (!m.hasattr(name)) return;
    c10::IValue v = m.attr(name);
    if (v.isInt() && v.toInt() > 0) out = v.toInt();
  };
  int_attr("vocab_size", md.vocab_size);
  int_attr("max_seq_len", md.max_seq_len);
  if (m.hasattr("eos_token_id")) {
    c10::IValue v = m.attr("eos_token_id");
    if (v.isInt()) md.eos_ids = std::vector<int64_t>{v.toInt()};
    if (v.isIntList()) md.eos_ids = v.toIntVector();
  }
  if (md.vocab_size || md.max_seq_len || md.eos_ids) md.sources = "module attributes";
}

void read_sidecar(const std::string& path, Metadata& md) {
  json::Value root;
  try {
    root = json::parse(read_text_file(path));
  } catch (const json::JsonError& e) {
    throw EngineError("CONFIG_INVALID", path + ": " + e.what());
  }
  if (!root.is_object()) throw EngineError("CONFIG_INVALID", path + ": expected a JSON object");
  auto fail = [&](const std::string& key, const std::string& what) -> void {
    throw EngineError("CONFIG_INVALID", path + ": \"" + key + "\" " + what);
  };
  auto positive = [&](const char* key, std::optional<int64_t>& out) {
    const json::Value* v = root.find(key);
    if (v == nullptr || v->is_null()) return;
    if (!v->is_integer() || v->as_int() <= 0) fail(key, "must be a positive integer");
    out = v->as_int();
  };
  positive("vocab_size", md.vocab_size);
  positive("max_seq_len", md.max_seq_len);
  if (const json::Value* v = root.find("eos_token_id"); v != nullptr && !v->is_null()) {
    std::vector<int64_t> ids;
    if (v->is_integer() && v->as_int() >= 0) {
      ids.push_back(v->as_int());
    } else if (v->is_array()) {
      for (const auto& item : v->items()) {
        if (!item.is_integer() || item.as_int() < 0) fail("eos_token_id", "must be a token id or a list of token ids");
        ids.push_back(item.as_int());
      }
    } else {
      fail("eos_token_id", "must be a token id or a list of token ids");
    }
    md.eos_ids = ids;
  }
  if (const json::Value* v = root.find("tokenizer_dir"); v != nullptr && !v->is_null()) {
    if (!v->is_string() || v->as_string().empty()) fail("tokenizer_dir", "must be a non-empty string");
    const std::string& dir = v->as_string();
    md.tokenizer_dir = dir[0] == '/' ? dir : parent_dir(path) + "/" + dir;
  }
  md.sources = md.sources.empty() ? path : md.sources + " and " + path;
}

std::string sidecar_path(const std::string& file) {
  if (file_exists(file + ".json")) return file + ".json";
  const std::string dir_sidecar = parent_dir(file) + "/aeb.json";
  return file_exists(dir_sidecar) ? dir_sidecar : std::string();
}

std::string schema_text(const c10::FunctionSchema& schema) {
  std::ostringstream ss;
  ss << schema;
  return ss.str();
}

bool is_tensor(const c10::TypePtr& t) { return t->kind() == c10::TypeKind::TensorType; }

// A cache list: List[Tuple[Tensor, Tensor]] or List[List[Tensor]].
bool is_cache_list(const c10::TypePtr& t) {
  const auto list = t->cast<c10::ListType>();
  if (!list) return false;
  const c10::TypePtr elem = list->getElementType();
  if (const auto tuple = elem->cast<c10::TupleType>())
    return tuple->elements().size() == 2 && is_tensor(tuple->elements()[0]) && is_tensor(tuple->elements()[1]);
  if (const auto inner = elem->cast<c10::ListType>()) return is_tensor(inner->getElementType());
  return false;
}

struct DetectedShape {
  ExportShape shape;
  bool optional_cache = false;   // KV cache: the first call passes None
  c10::TypePtr cache_element;    // KV cache: else a fresh empty List[cache_element]

  // Fresh each time: lists are shared by reference and a module may append to its input.
  c10::IValue empty_cache() const {
    if (shape != ExportShape::KvCache || optional_cache) return c10::IValue();
    return c10::IValue(c10::impl::GenericList(cache_element));
  }
};

DetectedShape detect_shape(const torch::jit::Module& m, const std::string& path) {
  if (!m.find_method("forward"))
    throw EngineError("TORCHSCRIPT_UNSUPPORTED", path + ": the module has no forward method");
  const c10::FunctionSchema& schema = m.get_method("forward").function().getSchema();
  const auto& args = schema.arguments();  // args[0] is self
  const auto& rets = schema.returns();
  const auto unsupported = [&]() {
    return EngineError("TORCHSCRIPT_UNSUPPORTED",
                       path + ": forward schema `" + schema_text(schema) +
                           "` is not a supported export shape; supported: (a) forward(input_ids: Tensor[1, T]) -> Tensor "
                           "logits [1, T, V] (full recompute), (b) forward(input_ids: Tensor[1, T], past_key_values: "
                           "List[Tuple[Tensor, Tensor]] | List[List[Tensor]] | Optional[...] of those) -> "
                           "Tuple[Tensor logits, past_key_values] (KV cache)");
  };
  if (rets.size() != 1 || args.empty() || args.size() > 3 || !is_tensor(args[1].type())) throw unsupported();
  const c10::TypePtr ret = rets[0].type();
  if (args.size() == 2) {
    if (!is_tensor(ret)) throw unsupported();
    return {ExportShape::FullRecompute, false, nullptr};
  }
  c10::TypePtr cache = args[2].type();
  bool optional = false;
  if (const auto opt = cache->cast<c10::OptionalType>()) {
    cache = opt->getElementType();
    optional = true;
  }
  if (!is_cache_list(cache)) throw unsupported();
  const auto tuple = ret->cast<c10::TupleType>();
  if (!tuple || tuple->elements().size() != 2 || !is_tensor(tuple->elements()[0]) ||
      !tuple->elements()[1]->isSubtypeOf(*cache))
    throw unsupported();
  return {ExportShape::KvCache, optional, cache->expect<c10::ListType>()->getElementType()};
}

// [1, T, V] or [T, V] → the last position's [V].
at::Tensor last_logits(const c10::IValue& v, const std::string& path) {
  if (!v.isTensor()) throw EngineError("MODEL_OUTPUT_INVALID", path + ": forward returned " + v.tagKind() + " where logits were expected");
  at::Tensor t = v.toTensor();
  if (t.dim() == 3 && t.size(0) == 1 && t.size(1) >= 1) return t[0][t.size(1) - 1];
  if (t.dim() == 2 && t.size(0) >= 1) return t[t.size(0) - 1];
  throw EngineError("MODEL_OUTPUT_INVALID", path + ": forward returned logits of shape " + shape_string(t.sizes().vec()) +
                                               "; expected [1, T, vocab]");
}

class TorchScriptModel final : public StepModel {
 public:
  TorchScriptModel(torch::jit::Module module, DetectedShape shape, at::Device device, std::string path)
      : module_(std::move(module)), shape_(std::move(shape)), device_(device), path_(std::move(path)) {}

  const ModelInfo& info() const override { return info_; }
  ModelInfo& mutable_info() { return info_; }

  void reset() override {
    context_.clear();
    past_ = shape_.empty_cache();
  }

  at::Tensor prefill(const std::vector<int64_t>& ids) override {
    if (shape_.shape == ExportShape::FullRecompute) {
      context_ = ids;
      return run(context_);
    }
    past_ = shape_.empty_cache();
    return run(ids);
  }

  at::Tensor decode(int64_t id) override {
    if (shape_.shape == ExportShape::FullRecompute) {
      context_.push_back(id);
      return run(context_);
    }
    return run({id});
  }

  // Number of (key, value) pairs in the cache after a step (KV-cache shape), else 0.
  int64_t cache_layers() const { return past_.isList() ? static_cast<int64_t>(past_.toListRef().size()) : 0; }

 private:
  at::Tensor run(const std::vector<int64_t>& ids) {
    // The profiling executor re-specialises (and may recompile fused kernels) for every new
    // input shape, i.e. at nearly every step of a generation: timings would measure the JIT.
    // Plain interpretation unless AEB_TORCHSCRIPT_OPTIMIZE=1.
    torch::jit::GraphOptimizerEnabledGuard optimizer(optimize_);
    at::Tensor input = at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())}).to(device_);
    if (shape_.shape == ExportShape::FullRecompute) return last_logits(module_.forward({input}), path_);
    c10::IValue out = module_.forward({input, past_});
    if (!out.isTuple() || out.toTupleRef().elements().size() != 2)
      throw EngineError("MODEL_OUTPUT_INVALID", path_ + ": forward did not return (logits, past_key_values)");
    past_ = out.toTupleRef().elements()[1];
    return last_logits(out.toTupleRef().elements()[0], path_);
  }

  torch::jit::Module module_;
  DetectedShape shape_;
  at::Device device_;
  std::string path_;
  ModelInfo info_;
  const bool optimize_ = [] {
    const char* env = std::getenv("AEB_TORCHSCRIPT_OPTIMIZE");
    return env != nullptr && std::string(env) == "1";
  }();
  std::vector<int64_t> context_;  // full recompute: every token so far
  c10::IValue past_;              // KV cache: what forward returned last
};

}  // namespace

bool is_torchscript_path(const std::string& path) {
  if (file_exists(path)) return true;
  for (const char* ext : {".pt", ".pth", ".ts", ".torchscript", ".jit"})
    if (ends_with(path, ext)) return true;
  return false;
}

std::unique_ptr<Model> load_torchscript_model(const LoadOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) throw EngineError("INVALID_ARGUMENT", "load_model: path is empty");
  if (options.max_seq_len < 0) throw EngineError("INVALID_ARGUMENT", "max_seq_len must be >= 0");
  if (!file_exists(path)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
      throw EngineError("FILE_UNREADABLE", "TorchScript file " + path + " is not a regular file" + (S_ISDIR(st.st_mode) ? " (a directory)" : ""));
    throw EngineError("FILE_NOT_FOUND", "TorchScript file " + path + " does not exist");
  }
  const int threads = resolve_threads(options.threads);
  const at::Device device = resolve_device(options.device);
  const at::ScalarType dtype = resolve_dtype(options.dtype, device);

  Metadata md;
  const std::string sidecar = sidecar_path(path);
  try {
    set_intraop_threads(threads);
    c10::NoGradGuard no_grad;
    torch::jit::Module module;
    check_zip_integrity(path);
    try {
      module = torch::jit::load(path, device);
    } catch (const c10::Error& e) {
      throw EngineError("TORCHSCRIPT_INVALID", path + " is not a loadable TorchScript archive (torch.jit.save): " +
                                                   e.what_without_backtrace() + kNotTorchScriptHint);
    } catch (const std::exception& e) {
      throw EngineError("TORCHSCRIPT_INVALID",
                        path + " is not a loadable TorchScript archive (torch.jit.save): " + e.what() + kNotTorchScriptHint);
    }
    module.eval();
    DetectedShape shape = detect_shape(module, path);

    int64_t num_parameters = 0, weight_bytes = 0;
    bool cast = false;
    for (const at::Tensor& p : module.parameters())
      if (p.is_floating_point() && p.scalar_type() != dtype) cast = true;
    if (cast) module.to(dtype);
    for (const at::Tensor& p : module.parameters()) {
      num_parameters += p.numel();
      weight_bytes += static_cast<int64_t>(p.nbytes());
    }

    read_module_attributes(module, md);
    if (!sidecar.empty()) read_sidecar(sidecar, md);

    auto model = std::make_unique<TorchScriptModel>(std::move(module), shape, device, path);
    // One probe step validates the output structure and gives the vocabulary size.
    int64_t vocab = 0, layers = 0;
    {
      c10::InferenceMode guard;
      model->reset();
      vocab = model->prefill({0}).numel();
      if (vocab == 0) throw EngineError("MODEL_OUTPUT_INVALID", path + ": forward returned no logits per position (vocabulary of 0)");
      layers = model->cache_layers();
      model->reset();
    }
    if (md.vocab_size && *md.vocab_size != vocab)
      throw EngineError("CONFIG_INVALID", md.sources + ": vocab_size " + std::to_string(*md.vocab_size) +
                                              " disagrees with the module's logits (" + std::to_string(vocab) + " per position)");

    int64_t max_seq_len = options.max_seq_len;
    if (max_seq_len == 0) {
      if (!md.max_seq_len)
        throw EngineError("CONFIG_INVALID", path + ": the maximum sequence length is unknown; pass maxSeqLen or add "
                                                   "\"max_seq_len\" to a sidecar " + path + ".json");
      max_seq_len = *md.max_seq_len;
    } else if (md.max_seq_len && max_seq_len > *md.max_seq_len) {
      throw EngineError("INVALID_ARGUMENT", "max_seq_len " + std::to_string(max_seq_len) + " exceeds the model's limit of " +
                                                std::to_string(*md.max_seq_len) + " (" + md.sources + ")");
    }
    std::vector<int64_t> eos = md.eos_ids.value_or(std::vector<int64_t>{});
    for (int64_t id : eos)
      if (id >= vocab)
        throw EngineError("CONFIG_INVALID", md.sources + ": eos token id " + std::to_string(id) +
                                                " is outside the vocabulary (" + std::to_string(vocab) + ")");

    ModelInfo& info = model->mutable_info();
    info.architecture = shape.shape == ExportShape::FullRecompute ? "TorchScript(full-recompute)" : "TorchScript(kv-cache)";
    info.format = "torchscript";
    info.device = device.str();
    info.dtype = dtype_name(dtype);
    info.vocab_size = vocab;
    info.num_layers = layers;
    info.max_seq_len = max_seq_len;
    info.num_parameters = num_parameters;
    info.weight_bytes = weight_bytes;
    info.eos_ids = eos;
    info.threads = threads;
    return std::make_unique<StepModelAdapter>(std::move(model));
  } catch (const c10::Error& e) {
    throw EngineError("TORCH_ERROR", "load_model " + path + ": " + e.what_without_backtrace());
  }
}

}  // namespace aeb
