// Thread-safety annotations that clang checks at compile time (-Wthread-safety), in the manner
// of LevelDB's port/thread_annotations.h: a member marked GUARDED_BY(m_mutex) may be touched
// only while m_mutex is held, a function marked REQUIRES(m_mutex) only be called with it held.
// GCC ignores them (the macros are empty). scripts/check-thread-safety compiles the libraries
// with clang and -Wthread-safety -Werror, so an unguarded access fails the tests.
//
// libstdc++'s std::mutex carries no capability attribute, so the annotated classes lock a
// tocsin::Mutex through a MutexLock, and wait on a CondVar.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define TOCSIN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TOCSIN_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TOCSIN_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TOCSIN_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TOCSIN_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TOCSIN_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_AFTER(...) TOCSIN_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) TOCSIN_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define REQUIRES(...) TOCSIN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) TOCSIN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TOCSIN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) TOCSIN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) TOCSIN_THREAD_ANNOTATION(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS TOCSIN_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tocsin {

// A std::mutex that clang's analysis knows as a capability.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { m_mutex.lock(); }
  void unlock() RELEASE() { m_mutex.unlock(); }
  // For code the analysis cannot follow: states that the caller holds the mutex.
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex m_mutex;
};

// Holds a Mutex for its scope (std::lock_guard, annotated).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock(); }
  ~MutexLock() RELEASE() { m_mutex.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_mutex;
};

// A condition variable over a Mutex the caller holds. Waits may wake spuriously: callers loop
// on their condition (`while (!ready) cv.wait(m_mutex);`), which the analysis can check, where
// a predicate lambda would run outside its view.
class CondVar {
 public:
  void wait(Mutex& mutex) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.m_mutex, std::adopt_lock);
    m_cv.wait(lock);
    lock.release();
  }
  // Returns false when `deadline` passed.
  template <typename Clock, typename D>
  bool wait_until(Mutex& mutex, const std::chrono::time_point<Clock, D>& deadline)
      REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.m_mutex, std::adopt_lock);
    const bool woken = m_cv.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  template <typename Rep, typename Period>
  bool wait_for(Mutex& mutex, const std::chrono::duration<Rep, Period>& timeout) REQUIRES(mutex) {
    return wait_until(mutex, std::chrono::steady_clock::now() + timeout);
  }
  void notify_one() noexcept { m_cv.notify_one(); }
  void notify_all() noexcept { m_cv.notify_all(); }

 private:
  std::condition_variable m_cv;
};

}  // namespace tocsin
