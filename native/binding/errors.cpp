#include "errors.h"

#include <exception>

#include "engine.h"

namespace aeb_binding {

std::string StripBacktrace(const std::string& what) {
  // c10::Error::what() = message + "\nException raised from <fn> at <file>:<line> ...\nframe #0 ..."
  for (const char* marker : {"\nException raised from", "\nframe #0"}) {
    auto pos = what.find(marker);
    if (pos != std::string::npos) return what.substr(0, pos);
  }
  return what;
}

NativeFailure CaptureCurrentException() {
  try {
    throw;
  } catch (const aeb::EngineError& e) {
    return {e.code(), StripBacktrace(e.what())};
  } catch (const std::bad_alloc&) {
    return {"OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    std::string what = e.what();
    bool from_torch = what.find("Exception raised from") != std::string::npos;
    return {from_torch ? "TORCH_ERROR" : "NATIVE_ERROR", StripBacktrace(what)};
  } catch (...) {
    return {"NATIVE_ERROR", "unknown C++ exception"};
  }
}

Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  return error;
}

void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw ToJsError(env, {code, message});
}

}  // namespace aeb_binding
