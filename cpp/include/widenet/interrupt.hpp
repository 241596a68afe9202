// Stopping a long computation on request (Ctrl-C), on every thread it runs on.
//
// The binding that starts a long call gives it a StopToken (see bindings/interruptible.hpp)
// and makes it the current token of the thread the call runs on. Kernels read
// current_stop_token() once, on that thread and before any parallel region, share the
// reference with the region's threads, and poll it at points at most about 0.05 s of
// work apart. Once a stop is requested they leave by throwing Interrupted (outside any
// OpenMP region: inside one, skip the remaining iterations, then throw after it); the
// caller discards every output, so the objects passed in are never half-updated.
#pragma once

#include <atomic>
#include <exception>

namespace widenet {

class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override { return "interrupted"; }
};

class StopToken {
 public:
  bool requested() const noexcept { return stop_.load(std::memory_order_relaxed); }
  void request() noexcept { stop_.store(true, std::memory_order_relaxed); }
  void throw_if_requested() const {
    if (requested()) throw Interrupted();
  }

 private:
  std::atomic<bool> stop_{false};
};

namespace detail {

inline StopToken*& current_token_slot() {
  thread_local StopToken* token = nullptr;
  return token;
}

inline const StopToken& token_never_stopping() {
  static const StopToken token;
  return token;
}

}  // namespace detail

// The token of the call running on this thread; one that never stops outside such a call
// (a C++ program using the headers directly).
inline const StopToken& current_stop_token() {
  const StopToken* token = detail::current_token_slot();
  return token ? *token : detail::token_never_stopping();
}

// Makes `token` this thread's current token while in scope.
class StopScope {
 public:
  explicit StopScope(StopToken& token) : previous_(detail::current_token_slot()) {
    detail::current_token_slot() = &token;
  }
  ~StopScope() { detail::current_token_slot() = previous_; }
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  StopToken* previous_;
};

}  // namespace widenet
