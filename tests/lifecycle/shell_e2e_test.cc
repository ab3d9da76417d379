// End-to-end: the real `shell` binary on a droplet in a temp dir.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/lifecycle/e2e_droplet.h"
#include "tests/lifecycle/tls_server.h"

namespace hatch::lifecycle::testing {
namespace {

using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kShell[] = HATCH_SHELL_BIN;

TEST(ShellE2E, RunsTheCommandInTheAppDirWithTheAppEnvironment) {
  Droplet d;
  d.Write("profile.d/a.sh", "echo homedir profile.d sourced\nexport A=1\n");
  d.Write("app/.profile.d/b.sh", "echo appdir profile.d sourced\nexport B=$A$A\n");
  d.Write("app/.profile", "echo appdir profile sourced\n");
  d.SetEnv("DATABASE_URL", "original content");
  d.SetEnv("VCAP_PLATFORM_OPTIONS", "{}");
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "env; echo PWD=$(pwd); echo running app"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("homedir profile.d sourced\nappdir profile.d sourced\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("appdir profile sourced")));  // only the launcher sources it
  EXPECT_EQ(EnvValue(r.out, "HOME"), d.app());
  EXPECT_EQ(EnvValue(r.out, "PWD"), d.app());
  EXPECT_EQ(EnvValue(r.out, "TMPDIR"), d.root() + "/tmp");
  EXPECT_EQ(EnvValue(r.out, "DEPS_DIR"), d.root() + "/deps");
  EXPECT_EQ(EnvValue(r.out, "VCAP_APPLICATION"), kRewrittenVcapApplication);
  EXPECT_EQ(EnvValue(r.out, "VCAP_SERVICES"), kVcapServices);
  EXPECT_EQ(EnvValue(r.out, "VCAP_PLATFORM_OPTIONS"), "<unset>");
  // The first database in VCAP_SERVICES' order, postgresql:// written as postgres://.
  EXPECT_EQ(EnvValue(r.out, "DATABASE_URL"), "postgres://user:s3cret@db.example.com:5432/dora");
  EXPECT_EQ(EnvValue(r.out, "CALLERENV"), "some-value");
  EXPECT_EQ(EnvValue(r.out, "B"), "11");
  EXPECT_THAT(r.out, HasSubstr("\nrunning app\n"));
}

TEST(ShellE2E, DefaultsToBashInHomeApp) {
  Droplet d;
  d.Write("app/.profile.d/x.sh", "echo sourced in $(pwd)\n");
  // No terminal and stdin at EOF: the default interactive-if-possible bash just exits.
  const RunResult r = d.RunIn("/", {kShell});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sourced in " + d.app() + "\n");
}

TEST(ShellE2E, WithoutBashShRunsThePosixProfileScriptsAndTheCommand) {
  if (!HideBashWorks()) GTEST_SKIP() << "needs root and a mount namespace to hide /bin/bash";
  Droplet d;
  d.Write("profile.d/a.sh", "export A=1\n");
  d.Write("app/.profile.d/b.sh", "export HALF=1\nx=(1 2)\n");  // an array: bash only
  d.Write("app/.profile.d/c.sh", "export C=$A$A\n");
  RunResult r = d.RunIn(d.root(), WithoutBash({kShell, d.app(), "echo A=$A C=$C HALF=$HALF $0"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "A=1 C=11 HALF= sh\n");
  EXPECT_THAT(r.err, StartsWith(kShNotice));
  EXPECT_THAT(r.err, HasSubstr("\nhatch: .profile.d/b.sh not sourced: it needs bash, and "
                               "/bin/sh cannot parse it: "));

  // No command: sh, which reads its commands from stdin (at EOF here) and exits.
  r = d.RunIn("/", WithoutBash({kShell}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith(kShNotice));
}

TEST(ShellE2E, ExitStatusIsTheCommands) {
  Droplet d;
  EXPECT_EQ(d.RunIn(d.root(), {kShell, d.app(), "exit 26"}).exit_code, 26);
  EXPECT_EQ(d.RunIn(d.root(), {kShell, d.app(), "kill -TERM $$"}).exit_code, 128 + 15);
}

TEST(ShellE2E, RelativeAppDirIsMadeAbsolute) {
  Droplet d;
  const RunResult r = d.RunIn(d.root(), {kShell, "app/", "echo $HOME $TMPDIR"});
  EXPECT_EQ(r.out, d.app() + " " + d.root() + "/tmp\n");
}

TEST(ShellE2E, MissingAppDirIsAClearError) {
  Droplet d;
  RunResult r = d.RunIn(d.root(), {kShell, d.root() + "/nope", "echo ran"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "Provided app directory does not exist: " + d.root() + "/nope: No such file or directory\n");

  // With no droplet anywhere, the shell looks for an app process of its user (Docker-style
  // apps); as a uid with no processes at all, there is none either.
  if (::geteuid() == 0) {
    d.SetEnv("HOME", "/nonexistent-hatch-home");
    const std::string uid = std::to_string(52000 + ::getpid() % 5000);
    r = d.RunIn(d.root(), {"/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid,
                           "--clear-groups", kShell});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, StartsWith("Could not infer app directory, please provide one ("
                                  "/nonexistent-hatch-home/app: No such file or directory; "
                                  "no CNB metadata at /home/vcap/layers/config/metadata.toml; "
                                  "no app process found: no process of uid " + uid));
  }

  d.Write("file", "");
  r = d.RunIn(d.root(), {kShell, d.root() + "/file", "echo ran"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not a directory"));
}

TEST(ShellE2E, SourcesProfileScriptsSortedParentDirFirst) {
  Droplet d;
  for (const char* name : {"b.sh", "a.sh", "10-x.sh", "c d.sh"}) {
    d.Write(std::string("profile.d/") + name, std::string("echo p:") + name + "\n");
    d.Write(std::string("app/.profile.d/") + name, std::string("echo a:") + name + "\n");
  }
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "true"});
  EXPECT_EQ(r.out,
            "p:10-x.sh\np:a.sh\np:b.sh\np:c d.sh\n"
            "a:10-x.sh\na:a.sh\na:b.sh\na:c d.sh\n");
}

TEST(ShellE2E, ProfileScriptThatCannotBeSourcedIsNamedAndTheRestStillRun) {
  Droplet d;
  d.Write("profile.d/a.sh", "export A=1\n");
  MakeDirs(d.root() + "/profile.d/b.sh");  // a directory cannot be sourced
  d.Write("profile.d/c.sh", "export C=1\n");
  d.Write("app/.profile.d/broken.sh", "if then\n");
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "echo A=$A C=$C; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "A=1 C=1\n");
  EXPECT_THAT(r.err, AllOf(HasSubstr("profile.d/b.sh"), HasSubstr("broken.sh")));
}

TEST(ShellE2E, UnreadableProfileScriptIsNamedAndTheRestStillRun) {
  // Root reads any file, so as root the shell runs as the unprivileged test user (as the app's
  // user runs it in a container).
  std::vector<std::string> as_user;
  if (geteuid() == 0) {
    if (getpwnam("hatch-test") == nullptr) GTEST_SKIP() << "no user hatch-test (scripts/setup)";
    as_user = {"/usr/bin/setpriv", "--reuid=hatch-test", "--regid=hatch-test", "--clear-groups"};
  }
  Droplet d;
  ASSERT_EQ(chmod(d.root().c_str(), 0755), 0);
  d.Write("profile.d/a.sh", "export A=1\n");
  d.Write("app/.profile.d/b.sh", "export B=1\n", 0000);
  d.Write("app/.profile.d/c.sh", "export C=1\n");
  std::vector<std::string> argv = as_user;
  argv.insert(argv.end(), {kShell, d.app(), "echo A=$A B=$B C=$C"});
  const RunResult r = d.RunIn(d.root(), argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "A=1 B= C=1\n");
  EXPECT_THAT(r.err, HasSubstr(".profile.d/b.sh: Permission denied"));
}

TEST(ShellE2E, VcapApplicationThatIsNotAnObjectIsPassedThrough) {
  for (const char* value : {"null", "[1,2]", "not json", ""}) {
    Droplet d;
    d.SetEnv("VCAP_APPLICATION", value);
    const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "printf %s \"$VCAP_APPLICATION\""});
    EXPECT_EQ(r.exit_code, 0) << value << ": " << r.err;
    EXPECT_EQ(r.out, value);
  }
}

TEST(ShellE2E, InvalidPlatformOptionsAreAnError) {
  Droplet d;
  d.SetEnv("VCAP_PLATFORM_OPTIONS", R"('{"credhub-uri":"missing quote and brace')");
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "echo ran"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("Invalid platform options: "));
}

TEST(ShellE2E, BadCredhubFlagExitsTwoAsGoFlagsDo) {
  Droplet d;
  RunResult r = d.RunIn(d.root(), {kShell, d.app(), "echo ran", "-credhubConnectAttempts=x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("invalid value \"x\" for flag -credhubConnectAttempts"),
                           HasSubstr("Usage of shell:")));
  r = d.RunIn(d.root(), {kShell, d.app(), "echo ran", "-credhubRetryDelay=0s", "anything", "-x"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "ran\n");
}

TEST(ShellE2E, InterpolatesCredhubRefsRetryingOnFailure) {
  Droplet d;
  const std::string interpolated =
      R"({"credhub-db":[{"credentials":{"uri":"mysql://admin:pw@10.0.16.4:3306/cf_db"}}]})";
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {500, 200}, interpolated);
  d.SetEnv("VCAP_SERVICES", R"({"credhub-db":[{"credentials":{"credhub-ref":"/c/db/creds"}}]})");
  d.SetEnv("VCAP_PLATFORM_OPTIONS", R"({"credhub-uri":")" + server.url() + R"("})");
  d.SetEnv("CF_INSTANCE_CERT", Pki().client_crt);
  d.SetEnv("CF_INSTANCE_KEY", Pki().client_key);
  d.SetEnv("CF_SYSTEM_CERT_PATH", Pki().cacerts_dir);
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "env", "-credhubRetryDelay=10ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("Failed on attempt 1 out of 3: Unable to interpolate credhub "
                                "references: credhub replied 500 Internal Server Error"));
  EXPECT_EQ(EnvValue(r.out, "VCAP_SERVICES"), interpolated);
  EXPECT_EQ(EnvValue(r.out, "VCAP_PLATFORM_OPTIONS"), "<unset>");
  EXPECT_EQ(EnvValue(r.out, "DATABASE_URL"), "mysql2://admin:pw@10.0.16.4:3306/cf_db");
}

// A credhub ref in VCAP_SERVICES, the instance's client certificate, and a credhub URI on a
// loopback port nothing listens on: every attempt fails to connect.
void WithUnreachableCredhub(Droplet* d) {
  d->SetEnv("VCAP_SERVICES", R"({"s":[{"credentials":{"credhub-ref":"/c"}}]})");
  d->SetEnv("VCAP_PLATFORM_OPTIONS", R"({"credhub-uri":"https://127.0.0.1:)" +
                                         std::to_string(UnusedPort()) + R"("})");
  d->SetEnv("CF_INSTANCE_CERT", Pki().client_crt);
  d->SetEnv("CF_INSTANCE_KEY", Pki().client_key);
  d->SetEnv("CF_SYSTEM_CERT_PATH", Pki().cacerts_dir);
}

TEST(ShellE2E, CredhubFailureStopsBeforeTheCommand) {
  Droplet d;
  WithUnreachableCredhub(&d);
  const RunResult r = d.RunIn(d.root(), {kShell, d.app(), "echo ran", "-credhubConnectAttempts=2",
                                         "-credhubRetryDelay=1ms"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, AllOf(HasSubstr("Failed on attempt 1 out of 2"), HasSubstr("Failed on attempt 2 out of 2"),
                           Not(HasSubstr("ran"))));
  EXPECT_THAT(r.err, StartsWith("Unable to interpolate credhub refs: Unable to interpolate credhub "
                                "references: Could not establish connection"));
}

TEST(ShellE2E, LeadingCredhubFlagsSurviveTrailingOnes) {
  // shell [FLAGS] APP_DIR COMMAND [FLAGS]: flags after the command add to those before it
  // (they used to reset the credhub flags to their defaults).
  Droplet d;
  WithUnreachableCredhub(&d);
  const RunResult r = d.RunIn(d.root(), {kShell, "-credhubConnectAttempts=1", d.app(), "echo ran",
                                         "-credhubRetryDelay=1ms"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, AllOf(HasSubstr("Failed on attempt 1 out of 1"),
                           Not(HasSubstr("attempt 2")), Not(HasSubstr("ran"))));
}

TEST(ShellE2E, DockerStyleAppProcessGivesItsEnvironmentAndWorkingDir) {
  Droplet d;
  MakeDirs(d.root() + "/srv");
  const pid_t app = ::fork();
  if (app == 0) {
    if (::chdir((d.root() + "/srv").c_str()) != 0) _exit(126);
    char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("30"), nullptr};
    char* envp[] = {const_cast<char*>("APP_MODE=docker"), const_cast<char*>("PATH=/usr/bin:/bin"),
                    nullptr};
    ::execve(argv[0], argv, envp);
    _exit(127);
  }
  ::usleep(50000);
  d.SetEnv("TERM", "vt100");
  const std::string pid_flag = "-appPid=" + std::to_string(app);
  // Leading flags, no app dir: the process's working directory.
  RunResult r = d.RunIn("/", {kShell, pid_flag});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = d.RunIn("/", {kShell, pid_flag, d.root() + "/srv", "echo $APP_MODE $TERM $(pwd) ${CALLERENV:-none}; exit 5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.out, "docker vt100 " + d.root() + "/srv none\n");
  // The original's form, flags after the command, works too.
  r = d.RunIn("/", {kShell, d.root() + "/srv", "echo $APP_MODE", pid_flag});
  EXPECT_EQ(r.out, "docker\n") << r.err;
  ::kill(app, SIGKILL);
  ::waitpid(app, nullptr, 0);
  r = d.RunIn("/", {kShell, pid_flag});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("cannot read the environment of app process " + std::to_string(app)));
}

// A Cloud Native Buildpacks droplet next to the classic one: <root>/layers (Paketo Node.js:
// node-engine's `node` layer; npm-start has no layers) and the app in <root>/workspace.
struct CnbDroplet {
  Droplet d;
  std::string layers = d.root() + "/layers";
  std::string workspace = d.root() + "/workspace";
  std::string node = layers + "/paketo-buildpacks_node-engine/node";

  CnbDroplet() {
    d.Write("layers/config/metadata.toml",
            "[[buildpacks]]\n  id = \"paketo-buildpacks/node-engine\"\n  version = \"3.2.1\"\n"
            "  api = \"0.7\"\n\n"
            "[[buildpacks]]\n  id = \"paketo-buildpacks/npm-start\"\n  version = \"1.1.5\"\n"
            "  api = \"0.7\"\n\n"
            "[[processes]]\n  type = \"web\"\n  command = [\"node\", \"server.js\"]\n"
            "  args = []\n  direct = false\n  buildpack-id = \"paketo-buildpacks/npm-start\"\n\n"
            "[[processes]]\n  type = \"worker\"\n  command = [\"node\", \"worker.js\"]\n"
            "  args = []\n  direct = false\n  buildpack-id = \"paketo-buildpacks/npm-start\"\n");
    const std::string n = "layers/paketo-buildpacks_node-engine/node/";
    d.Write(n + "bin/node", "#!/bin/sh\necho \"node v20.11.1 $*\"\n", 0755);
    d.Write(n + "lib/libnode.so.115", "");
    d.Write(n + "env/NODE_HOME.default", node);
    d.Write(n + "env.launch/NODE_ENV.default", "production");
    d.Write(n + "env.launch/NODE_OPTIONS.override", "--use-openssl-ca");
    d.Write(n + "env.launch/web/NODE_OPTIONS.append", "--max-http-header-size=16384");
    d.Write(n + "env.launch/web/NODE_OPTIONS.delim", " ");
    d.Write(n + "env.launch/web/WEB_CONCURRENCY.override", "2");
    d.Write(n + "env.launch/worker/WEB_CONCURRENCY.override", "1");
    d.Write(n + "profile.d/0_memory.sh", "export ORDER=\"${ORDER}node \"\n");
    d.Write(n + "profile.d/web/1_web.sh", "export ORDER=\"${ORDER}node/web \"\n");
    d.Write(n + "profile.d/worker/1_worker.sh", "export ORDER=\"${ORDER}node/worker \"\n");
    d.Write("workspace/.profile",
            "export ORDER=\"${ORDER}app\"\necho \".profile in $(pwd) with $NODE_ENV\"\n");
    // As cnbapplifecycle's launcher runs: its dirs on PATH, its settings in the environment.
    d.SetEnv("PATH", "/cnb/process:/usr/local/bin:/usr/bin:/bin:/tmp/lifecycle");
    d.SetEnv("CNB_LAYERS_DIR", layers);
    d.SetEnv("CNB_APP_DIR", workspace);
    d.SetEnv("CNB_PLATFORM_API", "0.12");
  }
};

TEST(ShellE2E, CnbDropletRunsTheCommandWithTheLayersEnvironmentInTheWorkspace) {
  CnbDroplet c;
  // The classic droplet in $HOME/app is there too: CNB metadata wins.
  RunResult r = c.d.RunIn(c.d.root(), {kShell, c.workspace, "env; echo PWD=$(pwd); node -v"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith(".profile in " + c.workspace + " with production\n"));
  EXPECT_THAT(r.out, EndsWith("\nnode v20.11.1 -v\n"));
  EXPECT_EQ(EnvValue(r.out, "PATH"), c.node + "/bin:/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(EnvValue(r.out, "LD_LIBRARY_PATH"), c.node + "/lib");
  EXPECT_EQ(EnvValue(r.out, "NODE_HOME"), c.node);
  EXPECT_EQ(EnvValue(r.out, "NODE_ENV"), "production");
  EXPECT_EQ(EnvValue(r.out, "NODE_OPTIONS"), "--use-openssl-ca --max-http-header-size=16384");
  EXPECT_EQ(EnvValue(r.out, "WEB_CONCURRENCY"), "2");  // CNB_PROCESS_TYPE unset: web
  EXPECT_EQ(EnvValue(r.out, "ORDER"), "node node/web app");
  EXPECT_EQ(EnvValue(r.out, "PWD"), c.workspace);
  for (const char* name : {"CNB_LAYERS_DIR", "CNB_APP_DIR", "CNB_PLATFORM_API"}) {
    EXPECT_EQ(EnvValue(r.out, name), "<unset>") << name;
  }
  // The services as for every droplet; the classic layout's HOME, TMPDIR, DEPS_DIR are not.
  EXPECT_EQ(EnvValue(r.out, "VCAP_APPLICATION"), kRewrittenVcapApplication);
  EXPECT_EQ(EnvValue(r.out, "DATABASE_URL"), "postgres://user:s3cret@db.example.com:5432/dora");
  EXPECT_EQ(EnvValue(r.out, "HOME"), c.d.root());
  EXPECT_EQ(EnvValue(r.out, "TMPDIR"), "<unset>");
  EXPECT_EQ(EnvValue(r.out, "DEPS_DIR"), "<unset>");
  EXPECT_EQ(EnvValue(r.out, "CALLERENV"), "some-value");

  // No arguments: bash in $CNB_APP_DIR (stdin at EOF, so it just exits).
  r = c.d.RunIn("/", {kShell});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ".profile in " + c.workspace + " with production\n");
  EXPECT_EQ(r.err, "");
}

TEST(ShellE2E, CnbProcessTypeSelectsThatTypesEnvAndProfileDirs) {
  CnbDroplet c;
  c.d.Write("workspace/.profile", "export ORDER=\"${ORDER}app\"\n");
  const std::string probe = "echo \"$WEB_CONCURRENCY|$NODE_OPTIONS|$ORDER\"";
  RunResult r = c.d.RunIn("/", {kShell, "-processType=worker", c.workspace, probe});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1|--use-openssl-ca|node node/worker app\n");
  // The original's form, flags after the command.
  r = c.d.RunIn("/", {kShell, c.workspace, probe, "-processType=worker"});
  EXPECT_EQ(r.out, "1|--use-openssl-ca|node node/worker app\n") << r.err;
  // $CNB_PROCESS_TYPE, and the flag over it.
  c.d.SetEnv("CNB_PROCESS_TYPE", "worker");
  r = c.d.RunIn("/", {kShell, c.workspace, probe + "; echo ${CNB_PROCESS_TYPE-gone}"});
  EXPECT_EQ(r.out, "1|--use-openssl-ca|node node/worker app\ngone\n") << r.err;
  r = c.d.RunIn("/", {kShell, "-processType=web", c.workspace, probe});
  EXPECT_EQ(r.out, "2|--use-openssl-ca --max-http-header-size=16384|node node/web app\n") << r.err;
  // A type metadata.toml does not define: no type's dirs.
  r = c.d.RunIn("/", {kShell, "-processType=task", c.workspace, probe});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "|--use-openssl-ca|node app\n");
}

TEST(ShellE2E, CnbRelativeDirsAreTheWorkingDirectorys) {
  CnbDroplet c;
  c.d.SetEnv("CNB_LAYERS_DIR", "layers");
  RunResult r = c.d.RunIn(c.d.root(), {kShell, "workspace/", "echo $(pwd) $NODE_HOME $ORDER"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ".profile in " + c.workspace + " with production\n" + c.workspace + " " +
                       c.node + " node node/web app\n");
  c.d.SetEnv("CNB_APP_DIR", "workspace");
  r = c.d.RunIn(c.d.root(), {kShell});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ".profile in " + c.workspace + " with production\n");
}

TEST(ShellE2E, HelpListsTheAppFlags) {
  Droplet d;
  const RunResult r = d.RunIn("/", {kShell, "-h"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.err, AllOf(HasSubstr("-appPid int"), HasSubstr("-processType string"),
                           HasSubstr("-credhubConnectAttempts int")));
}

}  // namespace
}  // namespace hatch::lifecycle::testing
