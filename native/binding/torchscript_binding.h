// saveTorchScriptModule: builds a TorchScript module in C++ from method source + named f32
// parameters (+ integer attributes) and saves it with torch.jit.save's format, so tests and
// users can create TorchScript files without Python.
#pragma once

#include <napi.h>

namespace aeb_binding {

// Adds `saveTorchScriptModule` to exports and returns exports.
Napi::Object RegisterTorchScript(Napi::Env env, Napi::Object exports);

}  // namespace aeb_binding
