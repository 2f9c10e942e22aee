// N-API surface of native/core/nvml.h. JS values are converted on the main thread; reads run
// on a worker (NVML queries can take milliseconds) and resolve a Promise.
//
//   nvmlOpen(path?: string) -> session (External); throws Error{code, nvmlReturn}
//   nvmlInfo(session) -> { path, deviceCount, missingFunctions: string[] }
//   nvmlDevices(session) -> [{ index, name, busId, uuid, errors: {field: message} }]
//   nvmlRead(session, indices: number[], fields: number) -> Promise<[{ index, tNs: bigint,
//            values: {field: number | null}, errors: {field: {code, message}} }]>
//   nvmlClose(session) -> undefined (idempotent; pending reads finish first)
//   nvmlFields -> { energy: 1, power: 2, ... } (bits for `fields`)
#include "nvml_binding.h"

#include <cctype>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nvml.h"

namespace {

using aeb::nvml::Library;
using aeb::nvml::Reading;
using aeb::nvml::Value;

// The External owns one reference to the library; a pending read holds another, so close()
// during a read defers nvmlShutdown/dlclose until the read is done.
struct Session {
  std::shared_ptr<const Library> lib;
};

constexpr napi_type_tag kSessionTag = {0x6165622d6e766d6cULL, 0x73657373696f6e31ULL};

[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& message, const std::string& code,
                             int nvmlReturn = -1) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (nvmlReturn >= 0) err.Set("nvmlReturn", Napi::Number::New(env, nvmlReturn));
  throw err;
}

std::shared_ptr<const Library> SessionArg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal() ||
      !info[0].As<Napi::External<Session>>().CheckTypeTag(&kSessionTag)) {
    throw Napi::TypeError::New(env, "first argument must be an NVML session from nvmlOpen()");
  }
  Session* s = info[0].As<Napi::External<Session>>().Data();
  if (!s->lib) ThrowCoded(env, "NVML session is closed", "NVML_CLOSED");
  return s->lib;
}

std::string KindToCode(const std::string& kind) {
  std::string code = "NVML_";
  for (char c : kind) code += (c == '-') ? '_' : static_cast<char>(std::toupper(c));
  return code;
}

// Field table: JS name, NVML function that serves it, member of Reading, bit.
struct FieldDef {
  const char* name;
  const char* function;
  Value Reading::*member;
  unsigned bit;
};
const FieldDef kFields[] = {
    {"energyMj", "nvmlDeviceGetTotalEnergyConsumption", &Reading::energyMj,
     aeb::nvml::kFieldEnergy},
    {"powerMw", "nvmlDeviceGetPowerUsage", &Reading::powerMw, aeb::nvml::kFieldPower},
    {"powerLimitMw", "nvmlDeviceGetEnforcedPowerLimit", &Reading::powerLimitMw,
     aeb::nvml::kFieldPowerLimit},
    {"utilGpuPct", "nvmlDeviceGetUtilizationRates", &Reading::utilGpuPct,
     aeb::nvml::kFieldUtilization},
    {"utilMemPct", "nvmlDeviceGetUtilizationRates", &Reading::utilMemPct,
     aeb::nvml::kFieldUtilization},
    {"memUsedBytes", "nvmlDeviceGetMemoryInfo", &Reading::memUsedBytes, aeb::nvml::kFieldMemory},
    {"memTotalBytes", "nvmlDeviceGetMemoryInfo", &Reading::memTotalBytes,
     aeb::nvml::kFieldMemory},
    {"temperatureC", "nvmlDeviceGetTemperature", &Reading::temperatureC,
     aeb::nvml::kFieldTemperature},
    {"clockSmMhz", "nvmlDeviceGetClockInfo", &Reading::clockSmMhz, aeb::nvml::kFieldClocks},
    {"clockMemMhz", "nvmlDeviceGetClockInfo", &Reading::clockMemMhz, aeb::nvml::kFieldClocks},
};

std::string FieldError(const Library& lib, int code, const char* function) {
  if (code == aeb::nvml::kFunctionMissing) {
    return std::string(function) + " is not in '" + lib.path() + "' (driver too old?)";
  }
  std::string text = lib.ErrorString(code);
  if (code == aeb::nvml::kNotSupported) text += ": not supported on this GPU";
  if (code == aeb::nvml::kNoPermission) text += ": no permission to query this GPU";
  return text;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "nvmlOpen(path): path must be a string");
    path = info[0].As<Napi::String>().Utf8Value();
  }
  std::shared_ptr<const Library> lib;
  try {
    lib = Library::Open(path);
  } catch (const aeb::nvml::Error& e) {
    ThrowCoded(env, e.what(), KindToCode(e.kind()), e.code());
  }
  auto ext = Napi::External<Session>::New(env, new Session{std::move(lib)},
                                          [](Napi::Env, Session* s) { delete s; });
  ext.TypeTag(&kSessionTag);
  return ext;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto lib = SessionArg(info);
  Napi::Object out = Napi::Object::New(env);
  out.Set("path", lib->path());
  out.Set("deviceCount", lib->deviceCount());
  Napi::Array missing = Napi::Array::New(env, lib->missingFunctions().size());
  for (size_t i = 0; i < lib->missingFunctions().size(); ++i) {
    missing.Set(static_cast<uint32_t>(i), lib->missingFunctions()[i]);
  }
  out.Set("missingFunctions", missing);
  return out;
}

Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto lib = SessionArg(info);
  Napi::Array out = Napi::Array::New(env, lib->deviceCount());
  for (unsigned i = 0; i < lib->deviceCount(); ++i) {
    aeb::nvml::DeviceInfo d = lib->Describe(i);
    Napi::Object o = Napi::Object::New(env);
    Napi::Object errors = Napi::Object::New(env);
    auto put = [&](const char* key, const std::string& value, int code, const char* fn) {
      if (code == aeb::nvml::kSuccess) {
        o.Set(key, value);
      } else {
        o.Set(key, env.Null());
        errors.Set(key, FieldError(*lib, code, fn));
      }
    };
    o.Set("index", i);
    put("name", d.name, d.nameCode, "nvmlDeviceGetName");
    put("busId", d.busId, d.busIdCode, "nvmlDeviceGetPciInfo_v3");
    put("uuid", d.uuid, d.uuidCode, "nvmlDeviceGetUUID");
    if (d.handleCode != aeb::nvml::kSuccess) {
      errors.Set("handle", FieldError(*lib, d.handleCode, "nvmlDeviceGetHandleByIndex_v2"));
    }
    o.Set("errors", errors);
    out.Set(i, o);
  }
  return out;
}

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::shared_ptr<const Library> lib, std::vector<unsigned> indices,
             unsigned fields)
      : Napi::AsyncWorker(env, "aeb:nvmlRead"),
        deferred_(Napi::Promise::Deferred::New(env)),
        lib_(std::move(lib)),
        indices_(std::move(indices)),
        fields_(fields) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      readings_.reserve(indices_.size());
      for (unsigned i : indices_) readings_.push_back(lib_->Read(i, fields_));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, readings_.size());
    for (size_t k = 0; k < readings_.size(); ++k) {
      const Reading& r = readings_[k];
      Napi::Object o = Napi::Object::New(env);
      Napi::Object values = Napi::Object::New(env);
      Napi::Object errors = Napi::Object::New(env);
      o.Set("index", r.index);
      o.Set("tNs", Napi::BigInt::New(env, r.steadyNs));
      for (const FieldDef& f : kFields) {
        if (!(fields_ & f.bit)) continue;
        const Value& v = r.*(f.member);
        if (v.ok()) {
          values.Set(f.name, Napi::Number::New(env, static_cast<double>(v.value)));
        } else {
          values.Set(f.name, env.Null());
          Napi::Object e = Napi::Object::New(env);
          e.Set("code", v.code);
          e.Set("message", FieldError(*lib_, v.code, f.function));
          errors.Set(f.name, e);
        }
      }
      o.Set("values", values);
      o.Set("errors", errors);
      out.Set(static_cast<uint32_t>(k), o);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<const Library> lib_;
  std::vector<unsigned> indices_;
  unsigned fields_;
  std::vector<Reading> readings_;
};

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto lib = SessionArg(info);
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "nvmlRead(session, indices: number[], fields: number)");
  }
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<unsigned> indices;
  indices.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d != static_cast<double>(static_cast<unsigned>(d)) ||
        static_cast<unsigned>(d) >= lib->deviceCount()) {
      throw Napi::RangeError::New(env, "nvmlRead: index " + v.ToString().Utf8Value() +
                                           " is not an NVML device index (" +
                                           std::to_string(lib->deviceCount()) + " devices)");
    }
    indices.push_back(static_cast<unsigned>(d));
  }
  double fd = info[2].As<Napi::Number>().DoubleValue();
  if (!(fd >= 1) || fd > aeb::nvml::kFieldAll || fd != static_cast<double>(static_cast<unsigned>(fd))) {
    throw Napi::RangeError::New(env, "nvmlRead: fields must be a non-empty mask of nvmlFields bits");
  }
  auto* worker = new ReadWorker(env, lib, std::move(indices), static_cast<unsigned>(fd));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal() ||
      !info[0].As<Napi::External<Session>>().CheckTypeTag(&kSessionTag)) {
    throw Napi::TypeError::New(env, "nvmlClose(session): not an NVML session");
  }
  info[0].As<Napi::External<Session>>().Data()->lib.reset();
  return env.Undefined();
}

}  // namespace

Napi::Object RegisterNvml(Napi::Env env, Napi::Object exports) {
  exports.Set("nvmlOpen", Napi::Function::New(env, Open, "nvmlOpen"));
  exports.Set("nvmlInfo", Napi::Function::New(env, Info, "nvmlInfo"));
  exports.Set("nvmlDevices", Napi::Function::New(env, Devices, "nvmlDevices"));
  exports.Set("nvmlRead", Napi::Function::New(env, Read, "nvmlRead"));
  exports.Set("nvmlClose", Napi::Function::New(env, Close, "nvmlClose"));
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("energy", static_cast<double>(aeb::nvml::kFieldEnergy));
  fields.Set("power", static_cast<double>(aeb::nvml::kFieldPower));
  fields.Set("powerLimit", static_cast<double>(aeb::nvml::kFieldPowerLimit));
  fields.Set("utilization", static_cast<double>(aeb::nvml::kFieldUtilization));
  fields.Set("memory", static_cast<double>(aeb::nvml::kFieldMemory));
  fields.Set("temperature", static_cast<double>(aeb::nvml::kFieldTemperature));
  fields.Set("clocks", static_cast<double>(aeb::nvml::kFieldClocks));
  exports.Set("nvmlFields", fields);
  return exports;
}
