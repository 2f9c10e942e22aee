#include "nvml.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>

namespace aeb {
namespace nvml {
namespace {

// Declarations written from the public NVML API reference (only what this file uses).
using Ret = int;          // nvmlReturn_t
using Device = void*;     // nvmlDevice_t (opaque pointer)
constexpr unsigned kNameBufferSize = 96;   // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned kUuidBufferSize = 96;   // NVML_DEVICE_UUID_V2_BUFFER_SIZE
constexpr int kTemperatureGpu = 0;         // NVML_TEMPERATURE_GPU
constexpr int kClockSm = 1;                // NVML_CLOCK_SM
constexpr int kClockMem = 2;               // NVML_CLOCK_MEM

struct PciInfo {  // nvmlPciInfo_t (layout of the _v2/_v3 queries)
  char busIdLegacy[16];
  unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
};
struct Utilization {  // nvmlUtilization_t
  unsigned gpu, memory;
};
struct Memory {  // nvmlMemory_t (v1)
  unsigned long long total, free, used;
};

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string BuiltinErrorString(int code) {
  switch (code) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 6: return "Not Found";
    case 9: return "Driver Not Loaded";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch";
    default: return "Unknown Error";
  }
}

// What the user can do about an initialisation failure.
const char* InitHint(int code) {
  switch (code) {
    case kDriverNotLoaded:
      return "the NVIDIA kernel driver is not loaded (no GPU here, or the driver is not installed)";
    case kNoPermission:
      return "no permission to use the NVIDIA driver (check read/write access to /dev/nvidia*)";
    case kLibRmVersionMismatch:
      return "libnvidia-ml and the kernel driver have different versions (driver updated "
             "without a reboot?)";
    case kLibraryNotFound:
      return "NVML could not find its own driver components";
    default:
      return "see the NVIDIA driver logs (dmesg)";
  }
}

template <typename Fn, typename... Args>
int Call(Fn fn, Args... args) {
  return fn ? fn(args...) : kFunctionMissing;
}

}  // namespace

struct Library::Api {
  Ret (*init)() = nullptr;
  Ret (*shutdown)() = nullptr;
  const char* (*errorString)(Ret) = nullptr;
  Ret (*getCount)(unsigned*) = nullptr;
  Ret (*getHandleByIndex)(unsigned, Device*) = nullptr;
  Ret (*getName)(Device, char*, unsigned) = nullptr;
  Ret (*getPciInfo)(Device, PciInfo*) = nullptr;
  Ret (*getUuid)(Device, char*, unsigned) = nullptr;
  Ret (*getTotalEnergy)(Device, unsigned long long*) = nullptr;
  Ret (*getPower)(Device, unsigned*) = nullptr;
  Ret (*getPowerLimit)(Device, unsigned*) = nullptr;
  Ret (*getUtilization)(Device, Utilization*) = nullptr;
  Ret (*getMemory)(Device, Memory*) = nullptr;
  Ret (*getTemperature)(Device, int, unsigned*) = nullptr;
  Ret (*getClock)(Device, int, unsigned*) = nullptr;
};

namespace {

// First of `names` present in `dl` (newest API version first); records the newest name as
// missing when none is.
template <typename Fn>
void Resolve(void* dl, Fn& out, std::initializer_list<const char*> names,
             std::vector<std::string>& missing) {
  for (const char* name : names) {
    if (void* sym = dlsym(dl, name)) {
      out = reinterpret_cast<Fn>(sym);
      return;
    }
  }
  out = nullptr;
  missing.emplace_back(*names.begin());
}

}  // namespace

std::shared_ptr<const Library> Library::Open(const std::string& path) {
  std::string chosen = path;
  if (chosen.empty()) {
    const char* env = std::getenv("AEB_NVML_LIBRARY");
    chosen = (env && *env) ? env : "libnvidia-ml.so.1";
  }
  std::shared_ptr<Library> lib(new Library());
  lib->path_ = chosen;
  lib->dl_ = dlopen(chosen.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->dl_) {
    const char* why = dlerror();
    throw Error("library-not-found", kLibraryNotFound,
                "NVML library '" + chosen + "' could not be loaded (" +
                    (why ? why : "unknown dlopen error") +
                    "): is the NVIDIA driver installed? Set AEB_NVML_LIBRARY to the full path "
                    "of libnvidia-ml.so.1 if it is installed elsewhere");
  }
  lib->api_ = std::make_unique<Api>();
  Api& api = *lib->api_;
  std::vector<std::string> missing;
  Resolve(lib->dl_, api.init, {"nvmlInit_v2", "nvmlInit"}, missing);
  Resolve(lib->dl_, api.shutdown, {"nvmlShutdown"}, missing);
  Resolve(lib->dl_, api.getCount, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, missing);
  Resolve(lib->dl_, api.getHandleByIndex,
          {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}, missing);
  if (!missing.empty()) {
    std::string list;
    for (const auto& name : missing) list += (list.empty() ? "" : ", ") + name;
    throw Error("function-missing", kFunctionMissing,
                "'" + chosen + "' is not a usable NVML library: it lacks " + list);
  }
  // Optional functions: absence means "not supported" for the fields they serve.
  Resolve(lib->dl_, api.errorString, {"nvmlErrorString"}, lib->missing_);
  Resolve(lib->dl_, api.getName, {"nvmlDeviceGetName"}, lib->missing_);
  Resolve(lib->dl_, api.getPciInfo, {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2"},
          lib->missing_);
  Resolve(lib->dl_, api.getUuid, {"nvmlDeviceGetUUID"}, lib->missing_);
  Resolve(lib->dl_, api.getTotalEnergy, {"nvmlDeviceGetTotalEnergyConsumption"}, lib->missing_);
  Resolve(lib->dl_, api.getPower, {"nvmlDeviceGetPowerUsage"}, lib->missing_);
  Resolve(lib->dl_, api.getPowerLimit, {"nvmlDeviceGetEnforcedPowerLimit"}, lib->missing_);
  Resolve(lib->dl_, api.getUtilization, {"nvmlDeviceGetUtilizationRates"}, lib->missing_);
  Resolve(lib->dl_, api.getMemory, {"nvmlDeviceGetMemoryInfo"}, lib->missing_);
  Resolve(lib->dl_, api.getTemperature, {"nvmlDeviceGetTemperature"}, lib->missing_);
  Resolve(lib->dl_, api.getClock, {"nvmlDeviceGetClockInfo"}, lib->missing_);

  int rc = api.init();
  if (rc != kSuccess) {
    throw Error("init-failed", rc,
                "NVML initialisation failed in '" + chosen + "': " + lib->ErrorString(rc) + ": " +
                    InitHint(rc));
  }
  lib->initialised_ = true;
  unsigned count = 0;
  rc = api.getCount(&count);
  if (rc != kSuccess) {
    throw Error("device-count-failed", rc,
                "NVML could not count GPUs in '" + chosen + "': " + lib->ErrorString(rc));
  }
  lib->handles_.assign(count, nullptr);
  lib->handleCodes_.assign(count, kSuccess);
  for (unsigned i = 0; i < count; ++i) {
    lib->handleCodes_[i] = api.getHandleByIndex(i, &lib->handles_[i]);
  }
  return lib;
}

Library::~Library() {
  if (initialised_ && api_ && api_->shutdown) api_->shutdown();
  if (dl_) dlclose(dl_);
}

std::string Library::ErrorString(int code) const {
  std::string text;
  if (api_ && api_->errorString) {
    const char* s = api_->errorString(code);
    if (s && *s) text = s;
  }
  if (text.empty()) text = BuiltinErrorString(code);
  return text + " (NVML error " + std::to_string(code) + ")";
}

DeviceInfo Library::Describe(unsigned index) const {
  if (index >= handles_.size()) {
    throw std::out_of_range("NVML device index " + std::to_string(index) + " out of range (" +
                            std::to_string(handles_.size()) + " devices)");
  }
  DeviceInfo info;
  info.index = index;
  info.handleCode = handleCodes_[index];
  if (info.handleCode != kSuccess) {
    info.nameCode = info.busIdCode = info.uuidCode = info.handleCode;
    return info;
  }
  Device h = handles_[index];
  char name[kNameBufferSize] = {};
  info.nameCode = Call(api_->getName, h, name, kNameBufferSize);
  if (info.nameCode == kSuccess) info.name = name;
  PciInfo pci = {};
  info.busIdCode = Call(api_->getPciInfo, h, &pci);
  if (info.busIdCode == kSuccess) info.busId.assign(pci.busId, strnlen(pci.busId, sizeof pci.busId));
  char uuid[kUuidBufferSize] = {};
  info.uuidCode = Call(api_->getUuid, h, uuid, kUuidBufferSize);
  if (info.uuidCode == kSuccess) info.uuid = uuid;
  return info;
}

Reading Library::Read(unsigned index, unsigned fields) const {
  if (index >= handles_.size()) {
    throw std::out_of_range("NVML device index " + std::to_string(index) + " out of range (" +
                            std::to_string(handles_.size()) + " devices)");
  }
  Reading r;
  r.index = index;
  const int64_t before = SteadyNs();
  const int hc = handleCodes_[index];
  Device h = handles_[index];
  const Api& a = *api_;
  auto fail = [&](std::initializer_list<Value*> values, int code) {
    for (Value* v : values) v->code = code;
  };
  if (hc != kSuccess) {
    fail({&r.energyMj, &r.powerMw, &r.powerLimitMw, &r.utilGpuPct, &r.utilMemPct,
          &r.memUsedBytes, &r.memTotalBytes, &r.temperatureC, &r.clockSmMhz, &r.clockMemMhz},
         hc);
    r.steadyNs = before;
    return r;
  }
  if (fields & kFieldEnergy) {
    unsigned long long mj = 0;
    r.energyMj.code = Call(a.getTotalEnergy, h, &mj);
    r.energyMj.value = mj;
  }
  if (fields & kFieldPower) {
    unsigned mw = 0;
    r.powerMw.code = Call(a.getPower, h, &mw);
    r.powerMw.value = mw;
  }
  if (fields & kFieldPowerLimit) {
    unsigned mw = 0;
    r.powerLimitMw.code = Call(a.getPowerLimit, h, &mw);
    r.powerLimitMw.value = mw;
  }
  if (fields & kFieldUtilization) {
    Utilization u = {};
    int rc = Call(a.getUtilization, h, &u);
    r.utilGpuPct = {rc, u.gpu};
    r.utilMemPct = {rc, u.memory};
  }
  if (fields & kFieldMemory) {
    Memory m = {};
    int rc = Call(a.getMemory, h, &m);
    r.memUsedBytes = {rc, m.used};
    r.memTotalBytes = {rc, m.total};
  }
  if (fields & kFieldTemperature) {
    unsigned t = 0;
    r.temperatureC.code = Call(a.getTemperature, h, kTemperatureGpu, &t);
    r.temperatureC.value = t;
  }
  if (fields & kFieldClocks) {
    unsigned sm = 0, mem = 0;
    r.clockSmMhz.code = Call(a.getClock, h, kClockSm, &sm);
    r.clockSmMhz.value = sm;
    r.clockMemMhz.code = Call(a.getClock, h, kClockMem, &mem);
    r.clockMemMhz.value = mem;
  }
  r.steadyNs = before + (SteadyNs() - before) / 2;
  return r;
}

}  // namespace nvml
}  // namespace aeb
