// NVML reader: loads libnvidia-ml at run time (dlopen), so the addon builds and runs on
// machines without an NVIDIA driver. Pure C++ (no torch, no N-API).
//
// Ownership: one Library per Open(); it holds one nvmlInit reference and the dlopen handle,
// both released by the destructor. Methods are const and safe to call from several threads
// at once (NVML is thread-safe; the library state is immutable after Open()).
// Every device query reports NVML's return code per field: a function missing from the
// loaded library is reported as kFunctionMissing, never as a value.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace aeb {
namespace nvml {

// NVML return codes used here (values from the public NVML API reference).
constexpr int kSuccess = 0;
constexpr int kNotSupported = 3;
constexpr int kNoPermission = 4;
constexpr int kNotFound = 6;
constexpr int kDriverNotLoaded = 9;
constexpr int kLibraryNotFound = 12;
constexpr int kFunctionNotFound = 13;
constexpr int kLibRmVersionMismatch = 18;
constexpr int kUnknown = 999;
// Our own code: the symbol is absent from the loaded library (older driver / variant build).
constexpr int kFunctionMissing = kFunctionNotFound;

// Which groups of fields Read() queries (bit mask).
enum Field : unsigned {
  kFieldEnergy = 1u << 0,      // nvmlDeviceGetTotalEnergyConsumption (mJ)
  kFieldPower = 1u << 1,       // nvmlDeviceGetPowerUsage (mW)
  kFieldPowerLimit = 1u << 2,  // nvmlDeviceGetEnforcedPowerLimit (mW)
  kFieldUtilization = 1u << 3, // nvmlDeviceGetUtilizationRates (%)
  kFieldMemory = 1u << 4,      // nvmlDeviceGetMemoryInfo (bytes)
  kFieldTemperature = 1u << 5, // nvmlDeviceGetTemperature (GPU sensor, °C)
  kFieldClocks = 1u << 6,      // nvmlDeviceGetClockInfo (SM, memory; MHz)
  kFieldAll = (1u << 7) - 1,
};

// One queried value: `code` is kSuccess when `value` is valid.
struct Value {
  int code = kNotSupported;
  uint64_t value = 0;
  bool ok() const { return code == kSuccess; }
};

struct Reading {
  unsigned index = 0;
  int64_t steadyNs = 0;  // std::chrono::steady_clock (CLOCK_MONOTONIC) at the read
  Value energyMj, powerMw, powerLimitMw, utilGpuPct, utilMemPct, memUsedBytes, memTotalBytes,
      temperatureC, clockSmMhz, clockMemMhz;
};

// Static identity of one NVML device. A string is empty when its query failed; the code says
// why (e.g. kNoPermission on the handle).
struct DeviceInfo {
  unsigned index = 0;
  int handleCode = kSuccess;
  std::string name;
  int nameCode = kSuccess;
  std::string busId;  // NVML form, e.g. "00000000:19:00.0"
  int busIdCode = kSuccess;
  std::string uuid;   // e.g. "GPU-5f1c…"
  int uuidCode = kSuccess;
};

// Failure to load or initialise NVML. `kind` is stable: "library-not-found",
// "function-missing", "init-failed", "device-count-failed".
class Error : public std::runtime_error {
 public:
  Error(std::string kind, int code, const std::string& message)
      : std::runtime_error(message), kind_(std::move(kind)), code_(code) {}
  const std::string& kind() const { return kind_; }
  int code() const { return code_; }

 private:
  std::string kind_;
  int code_;
};

class Library {
 public:
  // Loads `path` (empty: $AEB_NVML_LIBRARY, else "libnvidia-ml.so.1"), resolves functions and
  // calls nvmlInit. Throws nvml::Error with a message that names the library and the fix.
  static std::shared_ptr<const Library> Open(const std::string& path);
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const std::string& path() const { return path_; }
  unsigned deviceCount() const { return static_cast<unsigned>(handles_.size()); }
  DeviceInfo Describe(unsigned index) const;
  Reading Read(unsigned index, unsigned fields) const;
  // nvmlErrorString when present, else a built-in description; always names the code.
  std::string ErrorString(int code) const;
  // Names of optional functions absent from the loaded library.
  const std::vector<std::string>& missingFunctions() const { return missing_; }

  struct Api;  // resolved function pointers (nvml.cpp)

 private:
  Library() = default;
  std::string path_;
  void* dl_ = nullptr;
  std::unique_ptr<Api> api_;
  bool initialised_ = false;
  std::vector<void*> handles_;  // nvmlDevice_t per index (nullptr when handleCodes_ != 0)
  std::vector<int> handleCodes_;
  std::vector<std::string> missing_;
};

}  // namespace nvml
}  // namespace aeb
