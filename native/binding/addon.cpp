// Addon entry point (aeb.node). The surface is typed once, by hand, in src/native/addon.ts:
//   loadModel(path, options) -> Promise<NativeModel>
//   NativeModel#generate(promptIds, options, onToken?) -> Promise<result>, #abort(), #dispose(),
//     #info, #busy, #disposed
//   runtimeInfo() -> object          steadyNowNs() -> bigint (the clock of TokenEvent.timeNs)
//   measureReadBandwidth(bytes, threads, repeats) -> { bestGBps, medianGBps, bytes, threads }
//   nvml* (see nvml_binding.cpp)      saveTorchScriptModule (see torchscript_binding.cpp)
#include <napi.h>

#include <cstdint>

#include "allocator_tuning.h"
#include "bandwidth.h"
#include "convert.h"
#include "engine.h"
#include "errors.h"
#include "model_host.h"
#include "nvml_binding.h"
#include "torchscript_binding.h"

namespace aeb_binding {
namespace {

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return GuardCall(env, [&]() -> Napi::Value {
    return ModelHost::Load(env, ToLoadOptions(env, info[0], info[1]));
  });
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return GuardCall(env, [&]() -> Napi::Value { return RuntimeInfoToJs(env, aeb::runtime_info()); });
}

Napi::Value SteadyNowNs(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), aeb::steady_now_ns());
}

// Synchronous (blocks the event loop for the measurement): a benchmark helper.
Napi::Value MeasureReadBandwidthJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (size_t i = 0; i < 3; ++i) {
    if (!info[i].IsNumber()) {
      throw Napi::TypeError::New(env, "measureReadBandwidth(bytes, threads, repeats) takes three numbers");
    }
  }
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  int threads = info[1].As<Napi::Number>().Int32Value();
  int repeats = info[2].As<Napi::Number>().Int32Value();
  return GuardCall(env, [&]() -> Napi::Value {
    BandwidthResult r;
    try {
      r = MeasureReadBandwidth(static_cast<size_t>(bytes), threads, repeats);
    } catch (const std::invalid_argument& e) {
      throw Napi::RangeError::New(env, std::string("measureReadBandwidth: ") + e.what());
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("bestGBps", r.best_gb_per_s);
    o.Set("medianGBps", r.median_gb_per_s);
    o.Set("bytes", static_cast<double>(r.bytes));
    o.Set("threads", r.threads);
    o.Set("repeats", r.repeats);
    return o;
  });
}

// process.on('exit') listener: see model_host.h ("Process exit").
Napi::Value OnProcessExit(const Napi::CallbackInfo& info) {
  ModelHost::StopAllForExit(info.Env());
  return info.Env().Undefined();
}

void ListenForProcessExit(Napi::Env env) {
  Napi::Value process = env.Global().Get("process");
  if (!process.IsObject()) return;
  Napi::Value on = process.As<Napi::Object>().Get("on");
  if (!on.IsFunction()) return;
  on.As<Napi::Function>().Call(process, {Napi::String::New(env, "exit"), Napi::Function::New(env, OnProcessExit, "aebStopModelThreads")});
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  aeb::tune_allocator_for_inference();  // before any model allocates (also done by load_model)
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api at env teardown
  Napi::Function ctor = ModelWrap::DefineClass(env);
  data->model_ctor = Napi::Persistent(ctor);
  exports.Set("NativeModel", ctor);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel, "loadModel"));
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo, "runtimeInfo"));
  exports.Set("steadyNowNs", Napi::Function::New(env, SteadyNowNs, "steadyNowNs"));
  exports.Set("measureReadBandwidth", Napi::Function::New(env, MeasureReadBandwidthJs, "measureReadBandwidth"));
  ListenForProcessExit(env);
  RegisterTorchScript(env, exports);
  return RegisterNvml(env, exports);
}

}  // namespace
}  // namespace aeb_binding

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return aeb_binding::Init(env, exports); }
NODE_API_MODULE(aeb, InitAddon)
