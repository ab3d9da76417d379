#include "lifecycle/app_process.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lifecycle/read_file.h"

namespace hatch::lifecycle {
namespace {

struct ProcInfo {
  pid_t ppid = 0;
  uint64_t start_time = 0;  // clock ticks after boot
  std::string comm;
  uid_t uid = 0;
  bool user_space = false;  // has a command line (kernel threads and zombies have none)
};

// hatch's own programs, and the init shims container runtimes put at PID 1 (garden-init,
// tini, ...): the app runs under them, they are not the app.
const std::set<std::string>& NotTheApp() {
  static const auto* names = new std::set<std::string>{
      "diego-sshd", "shell", "launcher", "garden-init", "tini", "dumb-init", "docker-init",
      "catatonit", "pause"};
  return *names;
}
const std::set<std::string>& HatchPrograms() {
  static const auto* names = new std::set<std::string>{"diego-sshd", "shell", "launcher"};
  return *names;
}

// /proc/<pid>/stat: "pid (comm) state ppid ... starttime(22) ..."; comm may hold ')' and
// spaces, so the fields after it are found from its last ')'.
bool ParseStat(const std::string& stat, ProcInfo* info) {
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  info->comm = stat.substr(open + 1, close - open - 1);
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); ppid is field 4, starttime field 22.
  if (fields.size() < 20) return false;
  int ppid = 0;
  if (!absl::SimpleAtoi(fields[1], &ppid) || !absl::SimpleAtoi(fields[19], &info->start_time)) {
    return false;
  }
  info->ppid = ppid;
  return true;
}

// The real uid from /proc/<pid>/status ("Uid:\treal\teffective\tsaved\tfs").
bool ParseUid(const std::string& status, uid_t* uid) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, "Uid:")) continue;
    std::vector<absl::string_view> ids = absl::StrSplit(line, '\t', absl::SkipEmpty());
    unsigned value = 0;
    if (ids.empty() || !absl::SimpleAtoi(ids[0], &value)) return false;
    *uid = value;
    return true;
  }
  return false;
}

std::map<pid_t, ProcInfo> ReadProcesses(const std::string& proc_root) {
  std::map<pid_t, ProcInfo> out;
  DIR* dir = ::opendir(proc_root.c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    const std::string base = absl::StrCat(proc_root, "/", pid, "/");
    auto stat = ReadWholeFile(base + "stat", 1 << 16);
    auto status = ReadWholeFile(base + "status", 1 << 16);
    ProcInfo info;
    if (!stat.ok() || !status.ok() || !ParseStat(*stat, &info) || !ParseUid(*status, &info.uid)) {
      continue;  // gone meanwhile
    }
    auto cmdline = ReadWholeFile(base + "cmdline", 1 << 16);
    info.user_space = cmdline.ok() && !cmdline->empty();
    out.emplace(pid, std::move(info));
  }
  ::closedir(dir);
  return out;
}

}  // namespace

absl::StatusOr<pid_t> FindAppProcess(uid_t uid, const std::string& proc_root) {
  const std::map<pid_t, ProcInfo> procs = ReadProcesses(proc_root);

  // The caller and its ancestors.
  std::set<pid_t> excluded;
  for (pid_t p = ::getpid(); p > 0 && excluded.insert(p).second;) {
    auto it = procs.find(p);
    if (it == procs.end()) break;
    p = it->second.ppid;
  }

  // True when p or one of its ancestors is a hatch program (memoized per pid).
  std::map<pid_t, bool> under_hatch;
  auto is_under_hatch = [&](pid_t start) {
    std::vector<pid_t> chain;
    bool result = false;
    for (pid_t p = start; p > 0; ) {
      if (auto memo = under_hatch.find(p); memo != under_hatch.end()) {
        result = memo->second;
        break;
      }
      auto it = procs.find(p);
      if (it == procs.end()) break;
      chain.push_back(p);
      if (HatchPrograms().count(it->second.comm) > 0) {
        result = true;
        break;
      }
      if (it->second.ppid == p) break;
      p = it->second.ppid;
    }
    for (pid_t p : chain) under_hatch[p] = result;
    return result;
  };

  pid_t best = 0;
  uint64_t best_start = 0;
  for (const auto& [pid, info] : procs) {
    if (info.uid != uid || !info.user_space || excluded.count(pid) > 0) continue;
    if (NotTheApp().count(info.comm) > 0 || is_under_hatch(pid)) continue;
    if (best == 0 || info.start_time < best_start) {  // procs is ordered by pid: ties keep the lower
      best = pid;
      best_start = info.start_time;
    }
  }
  if (best == 0) {
    return absl::NotFoundError(
        absl::StrCat("no app process found: no process of uid ", uid,
                     " outside hatch is running (name one with -appPid)"));
  }
  return best;
}

absl::StatusOr<AppProcess> ReadAppProcess(pid_t pid, const std::string& proc_root) {
  const std::string base = absl::StrCat(proc_root, "/", pid, "/");
  AppProcess app;
  app.pid = pid;
  auto environ = ReadWholeFile(base + "environ", 16 << 20);
  if (!environ.ok()) {
    return absl::Status(environ.status().code(),
                        absl::StrCat("cannot read the environment of app process ", pid, ": ",
                                     environ.status().message()));
  }
  for (absl::string_view entry : absl::StrSplit(*environ, '\0', absl::SkipEmpty())) {
    app.environ.emplace_back(entry);
  }
  char cwd[4096];
  const ssize_t n = ::readlink((base + "cwd").c_str(), cwd, sizeof(cwd) - 1);
  if (n < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot read the working directory of app process ", pid, ": ", std::strerror(errno)));
  }
  app.cwd.assign(cwd, static_cast<size_t>(n));
  return app;
}

}  // namespace hatch::lifecycle
