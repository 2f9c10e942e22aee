// One loaded model: its dedicated thread, its thread-safe function back to JS, and the state of
// the one operation (load or generate) in flight. JS sees it through ModelWrap.
//
// Threads: load_model() and Model::generate() run on the model's TaskThread; everything else
// (promises, callbacks, JS values) on the main thread. Messages travel worker -> main through
// one TypedThreadSafeFunction per model, whose queue is unbounded and ordered: token events
// are never dropped and the completion always arrives after the last token.
//
// Lifetime: shared_ptr. Owners: the TSFN (until its finalizer) and the ModelWrap. The worker's
// tasks use a raw `this`; that is safe because the thread is joined (Dispose or the env cleanup
// hook) before the TSFN is released, and the TSFN is the last owner while loading.
//
// Process exit: process.exit() on the main thread does NOT run env cleanup hooks; it emits
// 'exit' and calls exit(), whose static destructors (CUDA, libtorch) would race a generation
// still running on the model thread (seen: SIGSEGV on CUDA). So the addon listens to the
// process 'exit' event (StopAllForExit: cancel + join every model thread of the env, no JS,
// nothing freed). Worker-thread environments and normal teardown run the env cleanup hook,
// registered right after the TSFN is created (hooks run in reverse order, so it runs before
// Node closes the TSFN). The TSFN is ref'd only while an operation is in flight, so an idle
// model never keeps the process alive.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>

#include "engine.h"
#include "errors.h"
#include "task_thread.h"

namespace aeb_binding {

struct HostMessage;
class ModelHost;
// TSFN call-back (main thread; env is null while Node tears the TSFN down).
void ModelHost_Deliver(Napi::Env env, Napi::Function, ModelHost* host, HostMessage* msg);

class ModelHost : public std::enable_shared_from_this<ModelHost> {
 public:
  // Starts the thread and loading; the promise resolves to a ModelWrap object.
  static Napi::Promise Load(Napi::Env env, aeb::LoadOptions options);

  ~ModelHost();

  // Main thread. Rejects synchronously (throws) when disposed or busy.
  Napi::Promise Generate(Napi::Env env, Napi::Object self, aeb::GenerateOptions options, Napi::Value on_token);
  bool Abort();                 // cancels the generation in flight; false when none
  void Dispose(napi_env env);   // idempotent; aborts, joins the thread, frees the model
  bool busy() const { return op_kind_ != OpKind::kNone; }
  bool disposed() const { return disposed_; }
  const aeb::ModelInfo& info() const { return info_; }

  // Main thread, from the process 'exit' event: cancels and joins every model thread of `env`.
  static void StopAllForExit(Napi::Env env);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ModelHost, HostMessage, &ModelHost_Deliver>;
  friend void ModelHost_Deliver(Napi::Env env, Napi::Function, ModelHost* host, HostMessage* msg);
  enum class OpKind { kNone, kLoad, kGenerate };

  ModelHost() = default;
  void Push(HostMessage* msg);  // any thread
  void Deliver(Napi::Env env, HostMessage* msg);
  void BeginOp(Napi::Env env, OpKind kind, Napi::Promise::Deferred deferred);
  void EndOp(Napi::Env env);
  static void OnEnvCleanup(void* arg);
  void StopThread();  // cancel + join; no JS, frees nothing

  std::unique_ptr<aeb::Model> model_;  // worker thread only (after load)
  std::unique_ptr<TaskThread> worker_;
  Tsfn tsfn_;
  bool hook_registered_ = false;

  // Main-thread state of the operation in flight.
  OpKind op_kind_ = OpKind::kNone;
  uint64_t op_id_ = 0;
  std::optional<Napi::Promise::Deferred> deferred_;
  Napi::FunctionReference on_token_;
  Napi::ObjectReference self_ref_;     // keeps the ModelWrap alive while generating
  Napi::ObjectReference callback_error_;  // {thrown}: the first value on_token threw
  std::shared_ptr<std::atomic<bool>> cancel_;

  aeb::ModelInfo info_;
  bool disposed_ = false;
  std::atomic<bool> tearing_down_{false};
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;
  void Finalize(Napi::Env env) override;

 private:
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value GetBusy(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelHost> host_;
};

// Per-addon-instance data (worker_threads may load the addon more than once).
struct AddonData {
  Napi::FunctionReference model_ctor;
  std::set<ModelHost*> live_hosts;  // hosts whose thread may run (main thread only)
};

}  // namespace aeb_binding
