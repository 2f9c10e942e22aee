// JS values <-> plain C++ structs of engine.h. Runs on the main thread only; workers never
// touch JS values. Bad input throws Napi::TypeError (wrong type) or Napi::RangeError (wrong
// value) naming the option, as C++ exceptions that node-addon-api rethrows in JS.
#pragma once

#include <napi.h>

#include "engine.h"

namespace aeb_binding {

aeb::LoadOptions ToLoadOptions(Napi::Env env, Napi::Value path, Napi::Value options);

aeb::GenerateOptions ToGenerateOptions(Napi::Env env, Napi::Value prompt_ids, Napi::Value options);

Napi::Object ModelInfoToJs(Napi::Env env, const aeb::ModelInfo& info);
Napi::Object RuntimeInfoToJs(Napi::Env env, const aeb::RuntimeInfo& info);
Napi::Object ResultToJs(Napi::Env env, const aeb::GenerationResult& result);

}  // namespace aeb_binding
