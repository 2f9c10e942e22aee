// saveTorchScriptModule({ source, parameters, attributes?, path }) -> undefined (synchronous)
//   source:     TorchScript method definitions (`def forward(self, ...)`, helpers), compiled
//               with Module::define.
//   parameters: { [name]: { data: Float32Array, shape: number[] } }, registered as parameters.
//   attributes: { [name]: integer | integer[] }, registered as int / List[int] attributes
//               (e.g. eos_token_id, vocab_size, max_seq_len read by the TorchScript loader).
//   path:       output file.
// Bad arguments: TypeError / RangeError naming the field. Compile failure: Error code
// TORCHSCRIPT_SOURCE_INVALID; write failure: FILE_UNWRITABLE.
#include "torchscript_binding.h"

#include <torch/script.h>

#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "engine.h"
#include "errors.h"
#include "step_model.h"

namespace aeb_binding {
namespace {

bool IsIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

std::string RequireString(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty())
    throw Napi::TypeError::New(env, std::string("saveTorchScriptModule: ") + key + " must be a non-empty string");
  return v.As<Napi::String>().Utf8Value();
}

void CheckName(Napi::Env env, const std::string& what, const std::string& name) {
  if (!IsIdentifier(name))
    throw Napi::RangeError::New(env, "saveTorchScriptModule: " + what + " name \"" + name +
                                         "\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
}

int64_t ToInteger(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "saveTorchScriptModule: " + what + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0)
    throw Napi::RangeError::New(env, "saveTorchScriptModule: " + what + " must be a safe integer");
  return static_cast<int64_t>(d);
}

at::Tensor ToTensor(Napi::Env env, const std::string& name, const Napi::Value& spec) {
  const std::string what = "parameters." + name;
  if (!spec.IsObject()) throw Napi::TypeError::New(env, "saveTorchScriptModule: " + what + " must be { data: Float32Array, shape: number[] }");
  Napi::Object o = spec.As<Napi::Object>();
  Napi::Value data = o.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "saveTorchScriptModule: " + what + ".data must be a Float32Array");
  Napi::Value shape_value = o.Get("shape");
  if (!shape_value.IsArray()) throw Napi::TypeError::New(env, "saveTorchScriptModule: " + what + ".shape must be an array of integers");
  Napi::Array shape_array = shape_value.As<Napi::Array>();
  std::vector<int64_t> shape;
  int64_t elements = 1;
  for (uint32_t i = 0; i < shape_array.Length(); ++i) {
    int64_t d = ToInteger(env, shape_array.Get(i), what + ".shape[" + std::to_string(i) + "]");
    if (d < 0 || d > (int64_t{1} << 40)) throw Napi::RangeError::New(env, "saveTorchScriptModule: " + what + ".shape has an invalid dimension");
    shape.push_back(d);
    elements *= d;
  }
  Napi::Float32Array values = data.As<Napi::Float32Array>();
  if (static_cast<int64_t>(values.ElementLength()) != elements)
    throw Napi::RangeError::New(env, "saveTorchScriptModule: " + what + " has shape " + aeb::shape_string(shape) + " (" +
                                         std::to_string(elements) + " elements) but " + std::to_string(values.ElementLength()) +
                                         " values");
  // Copied: the module must not alias JS memory.
  return torch::from_blob(values.Data(), shape, torch::kFloat).clone();
}

Napi::Value SaveTorchScriptModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return GuardCall(env, [&]() -> Napi::Value {
    if (info.Length() != 1 || !info[0].IsObject())
      throw Napi::TypeError::New(env, "saveTorchScriptModule({ source, parameters, attributes?, path }) takes one object");
    Napi::Object args = info[0].As<Napi::Object>();
    const std::string source = RequireString(env, args, "source");
    const std::string path = RequireString(env, args, "path");

    torch::jit::Module module(c10::QualifiedName("__torch__.aeb.SavedModule"));
    Napi::Value params = args.Get("parameters");
    if (!params.IsObject() || params.IsArray())
      throw Napi::TypeError::New(env, "saveTorchScriptModule: parameters must be an object { name: { data, shape } }");
    Napi::Object param_obj = params.As<Napi::Object>();
    Napi::Array names = param_obj.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      CheckName(env, "parameter", name);
      module.register_parameter(name, ToTensor(env, name, param_obj.Get(name)), /*is_buffer=*/false);
    }
    Napi::Value attrs = args.Get("attributes");
    if (!attrs.IsUndefined()) {
      if (!attrs.IsObject() || attrs.IsArray())
        throw Napi::TypeError::New(env, "saveTorchScriptModule: attributes must be an object { name: integer | integer[] }");
      Napi::Object attr_obj = attrs.As<Napi::Object>();
      Napi::Array attr_names = attr_obj.GetPropertyNames();
      for (uint32_t i = 0; i < attr_names.Length(); ++i) {
        const std::string name = attr_names.Get(i).As<Napi::String>().Utf8Value();
        CheckName(env, "attribute", name);
        if (module.hasattr(name)) throw Napi::RangeError::New(env, "saveTorchScriptModule: \"" + name + "\" is both a parameter and an attribute");
        Napi::Value v = attr_obj.Get(name);
        if (v.IsArray()) {
          Napi::Array arr = v.As<Napi::Array>();
          c10::List<int64_t> list;
          for (uint32_t j = 0; j < arr.Length(); ++j)
            list.push_back(ToInteger(env, arr.Get(j), "attributes." + name + "[" + std::to_string(j) + "]"));
          module.register_attribute(name, c10::ListType::ofInts(), c10::IValue(list));
        } else {
          module.register_attribute(name, c10::IntType::get(), c10::IValue(ToInteger(env, v, "attributes." + name)));
        }
      }
    }
    try {
      module.define(source);
    } catch (const std::exception& e) {
      throw aeb::EngineError("TORCHSCRIPT_SOURCE_INVALID", "saveTorchScriptModule: the source does not compile: " + StripBacktrace(e.what()));
    }
    try {
      module.save(path);
    } catch (const std::exception& e) {
      throw aeb::EngineError("FILE_UNWRITABLE", "saveTorchScriptModule: cannot write " + path + ": " + StripBacktrace(e.what()));
    }
    return env.Undefined();
  });
}

}  // namespace

Napi::Object RegisterTorchScript(Napi::Env env, Napi::Object exports) {
  exports.Set("saveTorchScriptModule", Napi::Function::New(env, SaveTorchScriptModule, "saveTorchScriptModule"));
  return exports;
}

}  // namespace aeb_binding
