// A droplet as Diego lays it out under /home/vcap, built in a temp dir for end-to-end tests of
// the real `shell` and `launcher`: <root>/app, <root>/deps, <root>/profile.d, and the
// environment Diego gives an instance (real Cloud Foundry shapes for VCAP_*).
#ifndef HATCH_TESTS_LIFECYCLE_E2E_DROPLET_H_
#define HATCH_TESTS_LIFECYCLE_E2E_DROPLET_H_

#include <unistd.h>

#include <string>
#include <vector>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle::testing {

inline constexpr char kVcapApplication[] =
    R"({"cf_api":"https://api.sys.example.com","limits":{"fds":16384,"mem":256,"disk":1024},)"
    R"("application_name":"dora","application_uris":["dora.apps.example.com"],"name":"dora",)"
    R"("space_name":"dev","space_id":"0d1e4f6a-7d3b-4c59-9a7d-3f1f3c1a2b3c",)"
    R"("organization_id":"6b1f1b4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b","organization_name":"acme",)"
    R"("uris":["dora.apps.example.com"],"users":null,"process_type":"web",)"
    R"("application_id":"9f0e8d7c-6b5a-4f3e-2d1c-0b9a8f7e6d5c",)"
    R"("version":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",)"
    R"("application_version":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"})";

// What shell/launcher make of kVcapApplication with the instance variables below.
inline constexpr char kRewrittenVcapApplication[] =
    R"({"application_id":"9f0e8d7c-6b5a-4f3e-2d1c-0b9a8f7e6d5c","application_name":"dora",)"
    R"("application_uris":["dora.apps.example.com"],)"
    R"("application_version":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",)"
    R"("cf_api":"https://api.sys.example.com","host":"0.0.0.0",)"
    R"("instance_id":"7c1e6f2a-0b3d-4e5f-6a7b","instance_index":3,)"
    R"("limits":{"disk":1024,"fds":16384,"mem":256},"name":"dora",)"
    R"("organization_id":"6b1f1b4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b","organization_name":"acme",)"
    R"("port":8080,"process_type":"web","space_id":"0d1e4f6a-7d3b-4c59-9a7d-3f1f3c1a2b3c",)"
    R"("space_name":"dev","uris":["dora.apps.example.com"],"users":null,)"
    R"("version":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"})";

inline constexpr char kVcapServices[] =
    R"({"elephantsql":[{"name":"pg","label":"elephantsql","tags":["postgres"],"plan":"turtle",)"
    R"("credentials":{"uri":"postgresql://user:s3cret@db.example.com:5432/dora"},)"
    R"("instance_name":"pg","binding_name":null,"volume_mounts":[]}],)"
    R"("cleardb":[{"name":"my","credentials":{"uri":"mysql://u:p@mysql.example.com/d"}}]})";

class Droplet {
  TempDir dir_;  // first: the members below use it

 public:
  Droplet() { MakeDirs(app()); MakeDirs(root() + "/deps"); }

  const std::string& root() const { return dir_.path(); }
  std::string app() const { return dir_ / "app"; }
  void Write(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    WriteFile(dir_ / rel, content, mode);
  }

  // Diego's instance environment; tests add or override entries.
  std::vector<std::string> env = {
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "HOME=" + dir_.path(),
      "LANG=C",
      "PORT=8080",
      "INSTANCE_GUID=7c1e6f2a-0b3d-4e5f-6a7b",
      "INSTANCE_INDEX=3",
      "CF_INSTANCE_PORT=61001",
      std::string("VCAP_APPLICATION=") + kVcapApplication,
      std::string("VCAP_SERVICES=") + kVcapServices,
      "CALLERENV=some-value",
  };

  void SetEnv(const std::string& name, const std::string& value) {
    Unset(name);
    env.push_back(name + "=" + value);
  }
  void Unset(const std::string& name) {
    std::erase_if(env, [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
  }

  RunResult RunIn(const std::string& cwd, const std::vector<std::string>& argv) const {
    return Run(argv, env, cwd);
  }
};

// argv in a mount namespace of its own where /bin/bash is /dev/null (so not executable): an
// image without bash, on this machine. Needs root; HideBashWorks says whether it runs here.
inline std::vector<std::string> WithoutBash(const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"/usr/bin/unshare", "--mount", "/bin/sh", "-c",
                                  "mount --bind /dev/null /bin/bash && exec \"$0\" \"$@\""};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

inline bool HideBashWorks() {
  return ::geteuid() == 0 &&
         Run(WithoutBash({"/bin/sh", "-c", "! test -x /bin/bash"}), {"PATH=/usr/bin:/bin"}, "/")
                 .exit_code == 0;
}

inline constexpr char kShNotice[] =
    "hatch: no /bin/bash in this image: profile scripts and the command run with /bin/sh\n";

}  // namespace hatch::lifecycle::testing

#endif  // HATCH_TESTS_LIFECYCLE_E2E_DROPLET_H_
