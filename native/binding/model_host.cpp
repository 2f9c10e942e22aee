#include "model_host.h"

#include <utility>

#include "convert.h"

namespace aeb_binding {

struct HostMessage {
  enum class Kind { kLoaded, kToken, kDone, kFailed } kind;
  uint64_t op_id = 0;
  aeb::TokenEvent token{};
  std::unique_ptr<aeb::GenerationResult> result;
  aeb::ModelInfo info;
  NativeFailure failure;
};

namespace {

// Resolving/rejecting can throw while the environment is going away; nothing is left to tell.
void Settle(Napi::Promise::Deferred& d, Napi::Value value, bool ok) {
  try {
    if (ok) d.Resolve(value);
    else d.Reject(value);
  } catch (const Napi::Error&) {
  }
}

}  // namespace

void ModelHost_Deliver(Napi::Env env, Napi::Function, ModelHost* host, HostMessage* msg) {
  std::unique_ptr<HostMessage> owned(msg);
  if (env == nullptr || host == nullptr || host->tearing_down_) return;
  host->Deliver(env, owned.get());
}

Napi::Promise ModelHost::Load(Napi::Env env, aeb::LoadOptions options) {
  std::shared_ptr<ModelHost> host(new ModelHost());
  auto* owner = new std::shared_ptr<ModelHost>(host);  // released by the TSFN finalizer
  host->tsfn_ = Tsfn::New(env, "aeb.model", 0, 1, host.get(),
                          [](Napi::Env, std::shared_ptr<ModelHost>* o, ModelHost*) { delete o; }, owner);
  // Registered after the TSFN so that it runs before Node's own TSFN cleanup at exit.
  napi_add_env_cleanup_hook(env, &ModelHost::OnEnvCleanup, host.get());
  host->hook_registered_ = true;
  host->worker_ = std::make_unique<TaskThread>();
  env.GetInstanceData<AddonData>()->live_hosts.insert(host.get());

  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  host->BeginOp(env, OpKind::kLoad, deferred);
  uint64_t op = host->op_id_;
  ModelHost* self = host.get();
  host->worker_->Post([self, op, options = std::move(options)] {
    auto* msg = new HostMessage{};
    msg->op_id = op;
    try {
      self->model_ = aeb::load_model(options);
      msg->kind = HostMessage::Kind::kLoaded;
      msg->info = self->model_->info();
    } catch (...) {
      msg->kind = HostMessage::Kind::kFailed;
      msg->failure = CaptureCurrentException();
    }
    self->Push(msg);
  });
  return promise;
}

ModelHost::~ModelHost() {
  // Normally joined already (Dispose / cleanup hook); never destroyed on the worker itself.
  if (worker_) worker_->StopAndJoin();
}

void ModelHost::Push(HostMessage* msg) {
  if (tsfn_.NonBlockingCall(msg) != napi_ok) delete msg;  // closing: nobody is listening
}

void ModelHost::BeginOp(Napi::Env env, OpKind kind, Napi::Promise::Deferred deferred) {
  op_kind_ = kind;
  ++op_id_;
  deferred_.emplace(std::move(deferred));
  tsfn_.Ref(env);  // an operation in flight keeps the process alive until it settles
}

void ModelHost::EndOp(Napi::Env env) {
  op_kind_ = OpKind::kNone;
  deferred_.reset();
  on_token_.Reset();
  self_ref_.Reset();
  callback_error_.Reset();
  cancel_.reset();
  if (!disposed_) tsfn_.Unref(env);
}

Napi::Promise ModelHost::Generate(Napi::Env env, Napi::Object self, aeb::GenerateOptions options,
                                  Napi::Value on_token) {
  if (disposed_) ThrowCoded(env, "MODEL_DISPOSED", "the model has been disposed");
  if (busy()) {
    ThrowCoded(env, "ENGINE_BUSY",
               "a generation is already running on this model; await it or abort it first");
  }
  if (!on_token.IsUndefined() && !on_token.IsNull() && !on_token.IsFunction()) {
    throw Napi::TypeError::New(env, "onToken must be a function");
  }
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  BeginOp(env, OpKind::kGenerate, deferred);
  if (on_token.IsFunction()) on_token_ = Napi::Persistent(on_token.As<Napi::Function>());
  self_ref_ = Napi::Persistent(self);
  cancel_ = std::make_shared<std::atomic<bool>>(false);

  uint64_t op = op_id_;
  auto cancel = cancel_;
  bool want_tokens = !on_token_.IsEmpty();
  worker_->Post([this, op, cancel, want_tokens, options = std::move(options)] {
    auto* done = new HostMessage{};
    done->op_id = op;
    try {
      auto on_event = [this, op, want_tokens](const aeb::TokenEvent& ev) {
        if (!want_tokens) return;
        auto* m = new HostMessage{};
        m->kind = HostMessage::Kind::kToken;
        m->op_id = op;
        m->token = ev;
        Push(m);
      };
      done->result = std::make_unique<aeb::GenerationResult>(model_->generate(options, on_event, *cancel));
      done->kind = HostMessage::Kind::kDone;
    } catch (...) {
      done->kind = HostMessage::Kind::kFailed;
      done->failure = CaptureCurrentException();
    }
    Push(done);
  });
  return promise;
}

bool ModelHost::Abort() {
  if (op_kind_ != OpKind::kGenerate || !cancel_) return false;
  cancel_->store(true);
  return true;
}

void ModelHost::Deliver(Napi::Env env, HostMessage* msg) {
  if (msg->op_id != op_id_ || op_kind_ == OpKind::kNone) return;  // stale
  Napi::HandleScope scope(env);
  if (msg->kind == HostMessage::Kind::kToken) {
    if (on_token_.IsEmpty() || !callback_error_.IsEmpty()) return;
    // The raw call, not Napi::Function::Call: a listener may throw any value (a string, null),
    // and while a worker thread is being terminated a call fails with no exception at all.
    napi_value args[3] = {Napi::Number::New(env, static_cast<double>(msg->token.id)),
                          Napi::Number::New(env, static_cast<double>(msg->token.index)),
                          Napi::BigInt::New(env, msg->token.time_ns)};
    napi_value result = nullptr;
    if (napi_call_function(env, env.Undefined(), on_token_.Value(), 3, args, &result) == napi_ok) return;
    // A throwing listener stops the generation; the promise rejects with what it threw.
    if (cancel_) cancel_->store(true);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;  // environment closing
    napi_value thrown = nullptr;
    if (napi_get_and_clear_last_exception(env, &thrown) != napi_ok) return;
    // Held through an object: references to primitives need Node-API 10.
    Napi::Object holder = Napi::Object::New(env);
    holder.Set("thrown", Napi::Value(env, thrown));
    callback_error_ = Napi::Persistent(holder);
    return;
  }
  // Completion of the operation in flight: settle its promise exactly once.
  Napi::Promise::Deferred deferred = *deferred_;
  bool was_load = op_kind_ == OpKind::kLoad;
  Napi::Value value;
  bool ok = false;
  try {
    if (msg->kind == HostMessage::Kind::kFailed) {
      value = ToJsError(env, msg->failure).Value();
    } else if (!callback_error_.IsEmpty()) {
      value = callback_error_.Value().Get("thrown");
    } else if (msg->kind == HostMessage::Kind::kLoaded) {
      info_ = msg->info;
      std::shared_ptr<ModelHost> me = shared_from_this();
      value = env.GetInstanceData<AddonData>()->model_ctor.New(
          {Napi::External<std::shared_ptr<ModelHost>>::New(env, &me)});
      ok = true;
    } else {
      value = ResultToJs(env, *msg->result);
      ok = true;
    }
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  }
  EndOp(env);
  Settle(deferred, value, ok);
  if (was_load && !ok) Dispose(env);
}

void ModelHost::Dispose(napi_env env) {
  if (disposed_) return;
  disposed_ = true;
  if (cancel_) cancel_->store(true);
  if (worker_) {
    ModelHost* self = this;
    worker_->Post([self] { self->model_.reset(); });  // free weights on the thread that used them
    worker_->StopAndJoin();  // at most one decode step (cancel is polled before each)
  }
  if (hook_registered_) {
    napi_remove_env_cleanup_hook(env, &ModelHost::OnEnvCleanup, this);
    hook_registered_ = false;
  }
  if (auto* data = Napi::Env(env).GetInstanceData<AddonData>()) data->live_hosts.erase(this);
  tsfn_.Release();  // queued messages (the completion) are still delivered
}

void ModelHost::StopThread() {
  tearing_down_ = true;  // no more calls into JS
  disposed_ = true;
  if (cancel_) cancel_->store(true);
  if (worker_) worker_->StopAndJoin();  // waits for at most one decode step (or a load)
}

void ModelHost::StopAllForExit(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) return;
  for (ModelHost* host : data->live_hosts) host->StopThread();
  data->live_hosts.clear();
}

void ModelHost::OnEnvCleanup(void* arg) {
  auto* host = static_cast<ModelHost*>(arg);
  host->hook_registered_ = false;
  // Free the weights on their thread (worker_threads environments end while the process goes
  // on); a no-op when the 'exit' event already stopped the thread.
  if (host->worker_) host->worker_->Post([host] { host->model_.reset(); });
  host->StopThread();
}

// ---- ModelWrap ----------------------------------------------------------------------------

Napi::Function ModelWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<ModelWrap>::DefineClass(env, "NativeModel",
      {InstanceMethod<&ModelWrap::Generate>("generate"),
       InstanceMethod<&ModelWrap::Abort>("abort"),
       InstanceMethod<&ModelWrap::Dispose>("dispose"),
       InstanceAccessor<&ModelWrap::GetInfo>("info"),
       InstanceAccessor<&ModelWrap::GetBusy>("busy"),
       InstanceAccessor<&ModelWrap::GetDisposed>("disposed")});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeModel cannot be constructed directly; use loadModel()");
  }
  host_ = *info[0].As<Napi::External<std::shared_ptr<ModelHost>>>().Data();
}

ModelWrap::~ModelWrap() = default;

void ModelWrap::Finalize(Napi::Env env) {
  if (host_) host_->Dispose(env);  // garbage-collected without dispose(): free the model
}

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return GuardCall(env, [&]() -> Napi::Value {
    aeb::GenerateOptions options = ToGenerateOptions(env, info[0], info[1]);
    return host_->Generate(env, info.This().As<Napi::Object>(), std::move(options), info[2]);
  });
}

Napi::Value ModelWrap::Abort(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), host_->Abort());
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return GuardCall(env, [&]() -> Napi::Value {
    host_->Dispose(env);
    return env.Undefined();
  });
}

Napi::Value ModelWrap::GetInfo(const Napi::CallbackInfo& info) { return ModelInfoToJs(info.Env(), host_->info()); }
Napi::Value ModelWrap::GetBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), host_->busy()); }
Napi::Value ModelWrap::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), host_->disposed());
}

}  // namespace aeb_binding
