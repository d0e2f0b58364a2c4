#pragma once
// Runs the real `tocsin` binary for end-to-end tests: as a server on a random loopback port,
// or as a one-shot command.

#include <sys/types.h>

#include <string>
#include <vector>

namespace tocsin::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `tocsin ARGS...` to completion with `env` added to the environment.
CommandResult run_tocsin(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {});

struct SplitResult {
  int exit_code = -1;
  std::string out, err;  // stdout and stderr apart
};

// As run_tocsin, with stdout and stderr kept apart (both files, so neither is a terminal).
SplitResult run_tocsin_split(const std::vector<std::string>& args,
                             const std::vector<std::string>& env = {});

class ServerProcess {
 public:
  // Starts `tocsin serve --listen 127.0.0.1:0 ARGS...` and waits until it is listening.
  // Throws with the server's log if it exits or does not listen within 20 s.
  ServerProcess(const std::string& log_path, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {});
  // Starts `tocsin ARGS...` as given: any subcommand that logs the same listening line
  // (`tocsin receive --listen 127.0.0.1:0`).
  struct AsGiven {};
  ServerProcess(AsGiven, const std::string& log_path, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return m_port; }
  void signal(int sig) const;
  // Sends SIGTERM and waits; returns the exit status (128+signal if killed).
  int stop();
  std::string log() const;

 private:
  void start(const std::vector<std::string>& args, const std::vector<std::string>& env);

  std::string m_log_path;
  pid_t m_pid = -1;
  int m_port = 0;
};

}  // namespace tocsin::testing
