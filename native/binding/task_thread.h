// One dedicated OS thread running posted tasks in order (never the libuv pool: a generation
// may run for minutes). Pure C++; no JS values cross into it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace aeb_binding {

class TaskThread {
 public:
  TaskThread();
  ~TaskThread();  // StopAndJoin()
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Queues a task; returns false once stopping (the task is then dropped).
  bool Post(std::function<void()> task);
  // Runs the tasks already queued, then ends the thread and joins it. Idempotent; must not be
  // called from the thread itself.
  void StopAndJoin();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace aeb_binding
