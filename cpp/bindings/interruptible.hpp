// Long calls that stop on Ctrl-C.
//
// Python runs signal handlers on its main thread only, between bytecodes, so a C++ loop on
// that thread never sees Ctrl-C unless it takes the GIL back to look. Instead, a long call
// made from the main thread runs on a thread of a small pool while the main thread waits
// and looks for signals every kPollInterval. When a handler raises (KeyboardInterrupt), the
// call's StopToken is requested; the kernels, which poll it on every thread they use, stop
// within about 0.05 s of work and throw Interrupted; the caller waits for that, discards
// every output and raises the handler's exception. Calls from other threads run inline:
// no signal reaches them.
#pragma once

#include <pybind11/pybind11.h>

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "widenet/interrupt.hpp"

namespace widenet::bindings {

namespace py = pybind11;

constexpr std::chrono::milliseconds kPollInterval{25};

// Calls estimated below this much work (flops, or elements written) run inline: at about
// 1e-3 s they would gain nothing from the hand-over to another thread (tens of microseconds).
constexpr double kLongCallWork = 1e7;

inline bool is_long_call(double work) { return work > kLongCallWork; }

// Threads that run long calls for the main thread. A thread is kept for later calls, so
// that its OpenMP team and OpenBLAS buffers are made once; there are as many as calls have
// ever run at the same time. A forked child starts with an empty pool (its parent's
// threads do not exist there).
class CallThreads {
 public:
  static CallThreads& instance() {
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, [] { pool() = new CallThreads(); });
      return true;
    }();
    (void)registered;
    return *pool();
  }

  void submit(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
    if (tasks_.size() > idle_) std::thread([this] { serve(); }).detach();
    lock.unlock();
    wake_.notify_one();
  }

 private:
  // Never destroyed: detached threads wait on its members until the process ends.
  static CallThreads*& pool() {
    static CallThreads* instance = new CallThreads();
    return instance;
  }

  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ++idle_;
      wake_.wait(lock, [this] { return !tasks_.empty(); });
      --idle_;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::size_t idle_ = 0;
};

inline bool on_main_thread() {
  const py::object main = py::module_::import("threading").attr("main_thread")();
  return main.attr("ident").cast<unsigned long>() == PyThread_get_thread_ident();
}

// Runs `work()` without the GIL and returns its result; `work` must not touch Python
// objects. Called with the GIL held. `long_call` = false (small inputs) runs it inline on
// this thread, saving the hand-over (tens of microseconds).
template <typename Work>
auto run_interruptible(Work&& work, bool long_call = true) -> std::invoke_result_t<Work&> {
  using Result = std::invoke_result_t<Work&>;
  StopToken token;
  if (!long_call || !on_main_thread()) {
    StopScope scope(token);  // a token of its own: never stopped, nobody else's
    py::gil_scoped_release release;
    return work();
  }
  std::conditional_t<std::is_void_v<Result>, bool, std::optional<Result>> result{};
  std::exception_ptr failure;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  std::optional<py::error_already_set> signal_error;
  {
    py::gil_scoped_release release;
    CallThreads::instance().submit([&] {
      StopScope scope(token);
      try {
        if constexpr (std::is_void_v<Result>) {
          work();
        } else {
          result.emplace(work());
        }
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
      finished.notify_one();
    });
    std::unique_lock<std::mutex> lock(mutex);
    while (!finished.wait_for(lock, kPollInterval, [&] { return done; })) {
      if (token.requested()) continue;  // asked once; now wait for the kernels to stop
      lock.unlock();
      {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
          signal_error.emplace();  // fetches the handler's exception (KeyboardInterrupt)
          token.request();
        }
      }
      lock.lock();
    }
  }
  if (signal_error) throw std::move(*signal_error);
  if (failure) std::rethrow_exception(failure);
  if constexpr (!std::is_void_v<Result>) return std::move(*result);
}

}  // namespace widenet::bindings
