// Error translation at the JS boundary. Worker threads capture a failure as plain data
// (NativeFailure); the main thread turns it into a JS Error with a stable `code`. No C++
// backtrace ever reaches JS.
#pragma once

#include <napi.h>

#include <string>

namespace aeb_binding {

struct NativeFailure {
  std::string code;     // EngineError code, or TORCH_ERROR / NATIVE_ERROR for other exceptions
  std::string message;
};

// Call only inside a catch block: classifies the in-flight exception.
NativeFailure CaptureCurrentException();

// Strips a libtorch backtrace ("\nException raised from ...") from an exception message.
std::string StripBacktrace(const std::string& what);

Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure);

// Throws (as a C++ exception that node-addon-api turns into a JS exception) an Error with code.
[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message);

// Runs `f`, letting JS exceptions (Napi::Error) through and turning every other C++ exception
// into a coded JS Error: nothing but Napi::Error may leave an N-API entry point.
template <typename F>
Napi::Value GuardCall(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw ToJsError(env, CaptureCurrentException());
  }
}

}  // namespace aeb_binding
