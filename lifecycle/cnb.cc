#include "lifecycle/cnb.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lifecycle/go_path.h"
#include "lifecycle/read_file.h"
#include "lifecycle/toml.h"

namespace hatch::lifecycle {
namespace {

// env.LaunchEnvExcludelist: the launcher's own settings, never passed to the app.
constexpr const char* kExcludedVars[] = {"CNB_LAYERS_DIR", "CNB_APP_DIR", "CNB_PROCESS_TYPE",
                                         "CNB_PLATFORM_API", "CNB_DEPRECATION_MODE"};
// Dropped from PATH by env.NewLaunchEnv: launch.ProcessDir and CF's lifecycle dir.
constexpr const char* kStrippedPathDirs[] = {"/cnb/process", "/tmp/lifecycle"};

std::string MetadataPath(const std::string& layers_dir) {
  return GoJoinPath({layers_dir, "config", "metadata.toml"});
}

// launch.EscapeID.
std::string BuildpackDir(const std::string& layers_dir, const std::string& id) {
  return GoJoinPath({layers_dir, absl::StrReplaceAll(id, {{"/", "_"}})});
}

// api.NewVersion: ^v?(\d+)\.?(\d*)$, the minor defaulting to 0.
bool ParseApiVersion(absl::string_view text, int& major, int& minor) {
  absl::ConsumePrefix(&text, "v");
  const size_t dot = text.find('.');
  absl::string_view major_text = text.substr(0, dot);
  absl::string_view minor_text = dot == absl::string_view::npos ? "" : text.substr(dot + 1);
  const auto all_digits = [](absl::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (major_text.empty() || !all_digits(major_text) || !all_digits(minor_text)) return false;
  if (!absl::SimpleAtoi(major_text, &major)) return false;
  minor = 0;
  return minor_text.empty() || absl::SimpleAtoi(minor_text, &minor);
}

struct DirEntry {
  std::string name;
  bool is_dir = false;      // the entry itself (a symlink to a dir is not one)
  bool is_symlink = false;
};

// os.ReadDir: the entries sorted by name; nullopt when dir does not exist.
absl::StatusOr<std::optional<std::vector<DirEntry>>> ReadDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::nullopt;
    return absl::FailedPreconditionError(
        absl::StrCat("failed to list files in dir '", dir, "': ", std::strerror(errno)));
  }
  std::vector<DirEntry> entries;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntry entry{name};
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (::lstat(GoJoinPath({dir, name}).c_str(), &st) == 0) {
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
      }
    }
    entry.is_dir = type == DT_DIR;
    entry.is_symlink = type == DT_LNK;
    entries.push_back(std::move(entry));
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("failed to list files in dir '", dir, "': ", std::strerror(err)));
  }
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

enum class PathKind { kMissing, kDir, kOther };

// os.Stat (symlinks followed); only ENOENT counts as missing, as os.IsNotExist.
absl::StatusOr<PathKind> StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return PathKind::kMissing;
    return absl::FailedPreconditionError(absl::StrCat("stat ", path, ": ", std::strerror(errno)));
  }
  return S_ISDIR(st.st_mode) ? PathKind::kDir : PathKind::kOther;
}

// ---- metadata.toml ----

absl::Status FieldError(const std::string& file, absl::string_view field, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid CNB metadata ", file, ": ", field, " is not ", want));
}

absl::StatusOr<std::string> OptionalString(const toml::table& t, const std::string& key,
                                           const std::string& file, absl::string_view where) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::string();
  if (const auto* s = node->as_string()) return s->get();
  return FieldError(file, absl::StrCat(where, ".", key), "a string");
}

absl::StatusOr<std::vector<std::string>> StringList(const toml::table& t, const std::string& key,
                                                    bool string_is_list,
                                                    const std::string& file,
                                                    absl::string_view where) {
  std::vector<std::string> out;
  const toml::node* node = t.get(key);
  if (node == nullptr) return out;
  if (const auto* s = node->as_string(); s != nullptr && string_is_list) {
    out.push_back(s->get());
    return out;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) return FieldError(file, absl::StrCat(where, ".", key), "an array");
  for (const toml::node& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) return FieldError(file, absl::StrCat(where, ".", key), "an array of strings");
    out.push_back(s->get());
  }
  return out;
}

// The [[name]] array of tables; empty when absent.
absl::StatusOr<std::vector<const toml::table*>> Tables(const toml::table& doc,
                                                       const std::string& name,
                                                       const std::string& file) {
  std::vector<const toml::table*> out;
  const toml::node* node = doc.get(name);
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr) return FieldError(file, name, "an array of tables");
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (table == nullptr) return FieldError(file, name, "an array of tables");
    out.push_back(table);
  }
  return out;
}

}  // namespace

absl::StatusOr<CnbMetadata> ParseCnbMetadata(const std::string& text, const std::string& file) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "corrupt CNB metadata ", file, ": line ", e.source().begin.line, ", column ",
        e.source().begin.column, ": ", std::string(e.description())));
  }
  CnbMetadata md;
  absl::StatusOr<std::vector<const toml::table*>> buildpacks = Tables(doc, "buildpacks", file);
  if (!buildpacks.ok()) return buildpacks.status();
  for (size_t i = 0; i < buildpacks->size(); ++i) {
    const toml::table& t = *(*buildpacks)[i];
    const std::string where = absl::StrCat("buildpacks[", i, "]");
    CnbBuildpack bp;
    absl::StatusOr<std::string> id = OptionalString(t, "id", file, where);
    if (!id.ok()) return id.status();
    absl::StatusOr<std::string> api = OptionalString(t, "api", file, where);
    if (!api.ok()) return api.status();
    bp.id = *id;
    bp.api = *api;
    if (bp.id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid CNB metadata ", file, ": ", where, " has no id"));
    }
    // cnbapplifecycle's launcher verifies every buildpack's API before launching.
    if (!ParseApiVersion(bp.api, bp.api_major, bp.api_minor)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid CNB metadata ", file,
                                                     ": could not parse api '", bp.api,
                                                     "' of buildpack '", bp.id, "' as version"));
    }
    md.buildpacks.push_back(std::move(bp));
  }
  absl::StatusOr<std::vector<const toml::table*>> processes = Tables(doc, "processes", file);
  if (!processes.ok()) return processes.status();
  for (size_t i = 0; i < processes->size(); ++i) {
    const toml::table& t = *(*processes)[i];
    const std::string where = absl::StrCat("processes[", i, "]");
    CnbProcess p;
    absl::StatusOr<std::string> type = OptionalString(t, "type", file, where);
    if (!type.ok()) return type.status();
    absl::StatusOr<std::string> bp_id = OptionalString(t, "buildpack-id", file, where);
    if (!bp_id.ok()) return bp_id.status();
    absl::StatusOr<std::vector<std::string>> command = StringList(t, "command", true, file, where);
    if (!command.ok()) return command.status();
    absl::StatusOr<std::vector<std::string>> args = StringList(t, "args", false, file, where);
    if (!args.ok()) return args.status();
    if (const toml::node* direct = t.get("direct")) {
      const auto* b = direct->as_boolean();
      if (b == nullptr) return FieldError(file, absl::StrCat(where, ".direct"), "a boolean");
      p.direct = b->get();
    }
    p.type = *std::move(type);
    p.buildpack_id = *std::move(bp_id);
    p.command = *std::move(command);
    p.args = *std::move(args);
    md.processes.push_back(std::move(p));
  }
  return md;
}

namespace {

// ---- walking the layers ----

// The process type whose dirs apply: options.process_type when metadata.toml defines such a
// process, else "" (the launcher's type for a command that is not one of the processes).
std::string EffectiveProcessType(const CnbMetadata& md, const std::string& process_type) {
  for (const CnbProcess& p : md.processes) {
    if (!process_type.empty() && p.type == process_type) return process_type;
  }
  return "";
}

using LayerFn = std::function<absl::Status(const CnbBuildpack& bp, const std::string& layer)>;

// launch.Launcher's eachLayer for one buildpack: nothing when its dir is missing; else the
// directory entries of its dir (symlinks are not followed), sorted by name.
absl::Status ForEachLayerOf(const std::string& layers_dir, const CnbBuildpack& bp,
                            const LayerFn& fn) {
  const std::string dir = BuildpackDir(layers_dir, bp.id);
  absl::StatusOr<std::optional<std::vector<DirEntry>>> entries = ReadDir(dir);
  if (!entries.ok()) return entries.status();
  if (!entries->has_value()) return absl::OkStatus();
  for (const DirEntry& entry : **entries) {
    if (!entry.is_dir) continue;
    if (absl::Status status = fn(bp, GoJoinPath({dir, entry.name})); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// eachBuildpack + eachLayer: every layer, buildpacks in metadata order.
absl::Status ForEachLayer(const std::string& layers_dir, const CnbMetadata& md,
                          const LayerFn& fn) {
  for (const CnbBuildpack& bp : md.buildpacks) {
    if (absl::Status status = ForEachLayerOf(layers_dir, bp, fn); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// eachFile: the entries of dir that are not directories themselves (symlinks included).
absl::Status AppendFiles(const std::string& dir, std::vector<std::string>& out) {
  absl::StatusOr<std::optional<std::vector<DirEntry>>> entries = ReadDir(dir);
  if (!entries.ok()) return entries.status();
  if (!entries->has_value()) return absl::OkStatus();
  for (const DirEntry& entry : **entries) {
    if (!entry.is_dir) out.push_back(GoJoinPath({dir, entry.name}));
  }
  return absl::OkStatus();
}

// ---- the environment ----

absl::Status SetVar(Environment& env, const std::string& name, const std::string& value,
                    const std::string& file) {
  absl::Status s = env.Set(name, value);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", s.message()));
  return absl::OkStatus();
}

// env.Env.AddRootDir with env.POSIXLaunchEnv: bin -> PATH, lib -> LD_LIBRARY_PATH.
absl::Status AddRootDir(Environment& env, const std::string& layer) {
  static constexpr std::pair<const char*, const char*> kRootDirs[] = {
      {"bin", "PATH"}, {"lib", "LD_LIBRARY_PATH"}};
  for (const auto& [subdir, var] : kRootDirs) {
    const std::string path = GoJoinPath({layer, subdir});
    absl::StatusOr<PathKind> kind = StatPath(path);
    if (!kind.ok()) return kind.status();
    if (*kind == PathKind::kMissing) continue;  // any file type counts, as in the launcher
    const std::string old = env.Get(var);
    if (absl::Status s = SetVar(env, var, old.empty() ? path : absl::StrCat(path, ":", old), path);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// The delimiter in <dir>/<name>.delim, or fallback when it cannot be read.
std::string Delimiter(const std::string& dir, const std::string& name, absl::string_view fallback) {
  absl::StatusOr<std::string> delim = ReadWholeFile(GoJoinPath({dir, name + ".delim"}));
  return delim.ok() ? *delim : std::string(fallback);
}

// env.addEnvDir: each file of dir, sorted by name, applied by its suffix.
absl::Status AddEnvDir(Environment& env, const std::string& dir, bool legacy_api) {
  absl::StatusOr<std::optional<std::vector<DirEntry>>> entries = ReadDir(dir);
  if (!entries.ok()) return entries.status();
  if (!entries->has_value()) return absl::OkStatus();
  for (const DirEntry& entry : **entries) {
    if (entry.is_dir) continue;
    const std::string file = GoJoinPath({dir, entry.name});
    if (entry.is_symlink) {
      absl::StatusOr<PathKind> kind = StatPath(file);  // a dangling link is an error, as in Go
      if (!kind.ok()) return kind.status();
      if (*kind == PathKind::kMissing) {
        return absl::FailedPreconditionError(absl::StrCat("stat ", file, ": ", std::strerror(ENOENT)));
      }
      if (*kind == PathKind::kDir) continue;
    }
    absl::StatusOr<std::string> value = ReadWholeFile(file);
    if (!value.ok()) return value.status();
    const std::vector<std::string> parts = absl::StrSplit(entry.name, absl::MaxSplits('.', 1));
    const std::string& name = parts[0];
    std::string action = parts.size() > 1 ? parts[1] : (legacy_api ? "prepend-path" : "override");
    const std::string old = env.Get(name);
    std::string updated;
    if (action == "override") {
      updated = *value;
    } else if (action == "default") {
      if (!old.empty()) continue;
      updated = *value;
    } else if (action == "prepend" || action == "prepend-path") {
      const std::string delim = Delimiter(dir, name, action == "prepend" ? "" : ":");
      updated = old.empty() ? *value : absl::StrCat(*value, delim, old);
    } else if (action == "append") {
      const std::string delim = Delimiter(dir, name, "");
      updated = old.empty() ? *value : absl::StrCat(old, delim, *value);
    } else {
      continue;  // .delim, or a suffix the launcher does not know
    }
    if (absl::Status s = SetVar(env, name, updated, file); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// env.NewLaunchEnv's clean-up of the inherited environment.
void RemoveLauncherSettings(Environment& env) {
  for (const char* name : kExcludedVars) env.Unset(name);
  std::optional<std::string> path = env.Lookup("PATH");
  if (!path.has_value()) return;
  std::vector<std::string> kept;
  for (absl::string_view part : absl::StrSplit(*path, ':')) {
    if (std::find(std::begin(kStrippedPathDirs), std::end(kStrippedPathDirs), part) ==
        std::end(kStrippedPathDirs)) {
      kept.emplace_back(part);
    }
  }
  (void)env.Set("PATH", absl::StrJoin(kept, ":"));  // PATH held no NUL before
}

absl::Status CheckAbsolute(const std::string& dir, absl::string_view what) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("CNB ", what, " dir is not absolute: '", dir, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsCnbDroplet(const std::string& layers_dir) {
  struct stat st;
  return ::stat(MetadataPath(layers_dir).c_str(), &st) == 0;
}

absl::StatusOr<CnbMetadata> ReadCnbMetadata(const std::string& layers_dir) {
  const std::string file = MetadataPath(layers_dir);
  absl::StatusOr<std::string> text = ReadWholeFile(file);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read CNB metadata: ", text.status().message()));
  }
  return ParseCnbMetadata(*text, file);
}

absl::StatusOr<std::vector<std::string>> ApplyCnbLaunchEnvironment(Environment& env,
                                                                   const CnbOptions& options) {
  if (absl::Status s = CheckAbsolute(options.layers_dir, "layers"); !s.ok()) return s;
  if (absl::Status s = CheckAbsolute(options.app_dir, "app"); !s.ok()) return s;
  absl::StatusOr<CnbMetadata> md = ReadCnbMetadata(options.layers_dir);
  if (!md.ok()) return md.status();
  const std::string type = EffectiveProcessType(*md, options.process_type);

  // Work on a copy: env changes only when everything succeeded.
  Environment launch_env = env;
  RemoveLauncherSettings(launch_env);
  // Per buildpack: every layer's bin/lib first, then every layer's env files (launch.doEnv).
  const auto add_root_dir = [&](const CnbBuildpack&, const std::string& layer) {
    return AddRootDir(launch_env, layer);
  };
  const auto add_env_dirs = [&](const CnbBuildpack& bp, const std::string& layer) {
    // Buildpack API < 0.5: a file without a suffix prepends, with ':' unless NAME.delim says.
    const bool legacy = bp.api_major == 0 && bp.api_minor < 5;
    for (const std::string& dir :
         {GoJoinPath({layer, "env"}), GoJoinPath({layer, "env.launch"})}) {
      if (absl::Status status = AddEnvDir(launch_env, dir, legacy); !status.ok()) return status;
    }
    if (type.empty()) return absl::OkStatus();
    return AddEnvDir(launch_env, GoJoinPath({layer, "env.launch", type}), legacy);
  };
  for (const CnbBuildpack& bp : md->buildpacks) {
    if (absl::Status status = ForEachLayerOf(options.layers_dir, bp, add_root_dir); !status.ok()) {
      return status;
    }
    if (absl::Status status = ForEachLayerOf(options.layers_dir, bp, add_env_dirs); !status.ok()) {
      return status;
    }
  }

  std::vector<std::string> profiles;
  absl::Status status = ForEachLayer(options.layers_dir, *md, [&](const CnbBuildpack&,
                                                                  const std::string& layer) {
    absl::Status listed = AppendFiles(GoJoinPath({layer, "profile.d"}), profiles);
    if (!listed.ok() || type.empty()) return listed;
    return AppendFiles(GoJoinPath({layer, "profile.d", type}), profiles);
  });
  if (!status.ok()) return status;
  const std::string app_profile = GoJoinPath({options.app_dir, ".profile"});
  absl::StatusOr<PathKind> kind = StatPath(app_profile);
  if (!kind.ok()) return kind.status();
  if (*kind == PathKind::kOther) profiles.push_back(app_profile);

  env = std::move(launch_env);
  return profiles;
}

absl::StatusOr<std::vector<std::string>> ListCnbExecD(const CnbOptions& options) {
  if (absl::Status s = CheckAbsolute(options.layers_dir, "layers"); !s.ok()) return s;
  absl::StatusOr<CnbMetadata> md = ReadCnbMetadata(options.layers_dir);
  if (!md.ok()) return md.status();
  const std::string type = EffectiveProcessType(*md, options.process_type);
  std::vector<std::string> programs;
  absl::Status status = ForEachLayer(options.layers_dir, *md, [&](const CnbBuildpack&,
                                                                  const std::string& layer) {
    absl::Status listed = AppendFiles(GoJoinPath({layer, "exec.d"}), programs);
    if (!listed.ok() || type.empty()) return listed;
    return AppendFiles(GoJoinPath({layer, "exec.d", type}), programs);
  });
  if (!status.ok()) return status;
  return programs;
}

}  // namespace hatch::lifecycle
