#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <thread>

#include "support/fixtures.hpp"

extern char** environ;

namespace tocsin::testing {

namespace {

// stdout to `output_path`; stderr there too, or to `error_path` when one is given.
pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
            const std::string& output_path, const std::string& error_path = "") {
  std::vector<std::string> argv_storage{TOCSIN_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    // The child must not inherit the test runner's TOCSIN_* settings by accident.
    if (std::strncmp(*e, "TOCSIN_", 7) != 0) env_storage.emplace_back(*e);
  }
  env_storage.insert(env_storage.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_storage)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (error_path.empty()) {
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, error_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, TOCSIN_BINARY, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string temp_output_path() {
  char path[] = "/tmp/tocsin-cmd-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  return path;
}

}  // namespace

CommandResult run_tocsin(const std::vector<std::string>& args,
                         const std::vector<std::string>& env) {
  const std::string out = temp_output_path();
  CommandResult r;
  r.exit_code = wait_exit(spawn(args, env, out));
  r.output = read_file(out);
  unlink(out.c_str());
  return r;
}

SplitResult run_tocsin_split(const std::vector<std::string>& args,
                             const std::vector<std::string>& env) {
  const std::string out = temp_output_path();
  const std::string err = temp_output_path();
  SplitResult r;
  r.exit_code = wait_exit(spawn(args, env, out, err));
  r.out = read_file(out);
  r.err = read_file(err);
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

ServerProcess::ServerProcess(const std::string& log_path, const std::vector<std::string>& args,
                             const std::vector<std::string>& env)
    : m_log_path(log_path) {
  std::vector<std::string> full{"serve", "--listen", "127.0.0.1:0"};
  full.insert(full.end(), args.begin(), args.end());
  start(full, env);
}

ServerProcess::ServerProcess(AsGiven, const std::string& log_path,
                             const std::vector<std::string>& args,
                             const std::vector<std::string>& env)
    : m_log_path(log_path) {
  start(args, env);
}

void ServerProcess::start(const std::vector<std::string>& args,
                          const std::vector<std::string>& env) {
  m_pid = spawn(args, env, m_log_path);

  // Readiness, not timing: poll the log for the listening line, bounded.
  const std::regex listening(R"(tocsin listening on 127\.0\.0\.1:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, listening)) {
      m_port = std::stoi(m[1]);
      return;
    }
    int status = 0;
    if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      throw std::runtime_error("tocsin exited before listening:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string text = log();
  kill(m_pid, SIGKILL);
  wait_exit(m_pid);
  m_pid = -1;
  throw std::runtime_error("tocsin did not start listening within 20 s:\n" + text);
}

ServerProcess::~ServerProcess() {
  if (m_pid > 0) {
    kill(m_pid, SIGKILL);
    wait_exit(m_pid);
  }
}

void ServerProcess::signal(int sig) const {
  if (m_pid > 0) kill(m_pid, sig);
}

int ServerProcess::stop() {
  if (m_pid <= 0) return -1;
  kill(m_pid, SIGTERM);
  int code = wait_exit(m_pid);
  m_pid = -1;
  return code;
}

std::string ServerProcess::log() const {
  try {
    return read_file(m_log_path);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace tocsin::testing
