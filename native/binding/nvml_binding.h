// N-API surface of the NVML reader (native/core/nvml.h). Registered by the addon init.
#pragma once

#include <napi.h>

// Adds the `nvml*` functions to `exports` and returns it.
Napi::Object RegisterNvml(Napi::Env env, Napi::Object exports);
