// End-to-end: the real `launcher` binary on a droplet in a temp dir, started as Diego starts
// it: working directory the droplet root (where staging_info.yml is), three arguments.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/lifecycle/e2e_droplet.h"
#include "tests/lifecycle/tls_server.h"

namespace hatch::lifecycle::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kLauncher[] = HATCH_LAUNCHER_BIN;
constexpr char kMetadata[] = R"({ "start_command": "echo should not run this" })";

RunResult Launch(const Droplet& d, const std::string& command,
                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {kLauncher, d.app(), command, kMetadata};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return d.RunIn(d.root(), argv);
}

TEST(LauncherE2E, RunsTheStartCommandWithTheAppEnvironment) {
  Droplet d;
  d.Write("profile.d/a.sh", "echo sourcing a.sh\nexport A=1\n");
  d.Write("app/.profile.d/b.sh", "echo sourcing b.sh\nexport B=1\n");
  d.Write("app/.profile", "echo sourcing .profile\nexport C=$A$B\n");
  d.Write("staging_info.yml", "start_command: echo should not run this either\n");
  const RunResult r = Launch(d, "env; echo PWD=$(pwd); echo running app");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("Invoking pre-start scripts.\nsourcing a.sh\nsourcing b.sh\n"
                                "sourcing .profile\nInvoking start command.\n"));
  EXPECT_EQ(EnvValue(r.out, "C"), "11");
  EXPECT_EQ(EnvValue(r.out, "HOME"), d.app());
  EXPECT_EQ(EnvValue(r.out, "PWD"), d.app());
  EXPECT_EQ(EnvValue(r.out, "TMPDIR"), d.root() + "/tmp");
  EXPECT_EQ(EnvValue(r.out, "DEPS_DIR"), d.root() + "/deps");
  EXPECT_EQ(EnvValue(r.out, "VCAP_APPLICATION"), kRewrittenVcapApplication);
  EXPECT_EQ(EnvValue(r.out, "DATABASE_URL"), "postgres://user:s3cret@db.example.com:5432/dora");
  EXPECT_EQ(EnvValue(r.out, "CALLERENV"), "some-value");
  EXPECT_THAT(r.out, AllOf(HasSubstr("\nrunning app\n"), Not(HasSubstr("should not run"))));
}

TEST(LauncherE2E, WithoutBashShStartsTheApp) {
  if (!HideBashWorks()) GTEST_SKIP() << "needs root and a mount namespace to hide /bin/bash";
  Droplet d;
  d.Write("app/.profile.d/b.sh", "export B=1\n");
  d.Write("app/.profile", "export C=${B}1\n");
  const RunResult r = d.RunIn(
      d.root(), WithoutBash({kLauncher, d.app(), "echo C=$C $0; exit 5", kMetadata}));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.out, "Invoking pre-start scripts.\nInvoking start command.\nC=11 sh\n");
  EXPECT_EQ(r.err, kShNotice);
}

TEST(LauncherE2E, NoProfileDirsIsNoError) {
  Droplet d;
  MakeDirs(d.app() + "/.profile.d");
  const RunResult r = Launch(d, "echo running app");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "Invoking pre-start scripts.\nInvoking start command.\nrunning app\n");
}

TEST(LauncherE2E, FindsAnExecutableInTheAppDirAndOnAPathSetByAProfileScript) {
  Droplet d;
  d.Write("app/hello", "#!/bin/sh\necho app is running \"$@\"\n", 0755);
  d.Write("app/bin/tool", "#!/bin/sh\necho tool is running\n", 0755);
  d.Write("app/.profile.d/path.sh", "export PATH=$PATH:$HOME/bin\n");
  EXPECT_THAT(Launch(d, "./hello a 'b c'").out, HasSubstr("app is running a b c\n"));
  EXPECT_THAT(Launch(d, "tool").out, HasSubstr("tool is running\n"));
}

TEST(LauncherE2E, ExitStatusAndStreamsAreTheApps) {
  Droplet d;
  EXPECT_EQ(Launch(d, "exit 26").exit_code, 26);
  const RunResult r = Launch(d, "echo to stderr 1>&2");
  EXPECT_EQ(r.err, "to stderr\n");
}

TEST(LauncherE2E, TakesTheStartCommandFromStagingInfoWhenNoneIsGiven) {
  Droplet d;
  d.Write("staging_info.yml", "detected_buildpack: Ruby\nstart_command: echo from staging info\n");
  RunResult r = Launch(d, "");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Invoking start command.\nfrom staging info\n"));

  // JSON, and the Ruby object tags old stagers wrote on keys nobody reads.
  d.Write("staging_info.yml", R"({"detected_buildpack":"","start_command":"echo from json"})");
  EXPECT_THAT(Launch(d, "").out, HasSubstr("\nfrom json\n"));
  d.Write("staging_info.yml",
          "---\nbuildpack_path: !ruby/object:Pathname\n  path: /tmp/buildpacks/null-buildpack\n"
          "detected_buildpack: \nstart_command: echo from ruby yaml\n");
  EXPECT_THAT(Launch(d, "").out, HasSubstr("\nfrom ruby yaml\n"));
}

TEST(LauncherE2E, ReadsStagingInfoFromTheWorkingDirectory) {
  Droplet d;
  d.Write("app/staging_info.yml", "start_command: echo wrong file\n");
  const RunResult r = Launch(d, "");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, std::string(kLauncher) + ": no start command specified or detected in droplet\n");
}

TEST(LauncherE2E, HonoursTheEntrypointPrefix) {
  Droplet d;
  d.Write("deps/0/bin/entrypoint",
          "#!/bin/sh\necho \"I'm a custom entrypoint\"\necho \"I was called with: [$*] ($#)\"\n",
          0755);
  d.Write("staging_info.yml", "config:\n  entrypoint_prefix: " + d.root() + "/deps/0/bin/entrypoint\n");
  const RunResult r = Launch(d, "echo app; echo more");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Invoking start command.\nI'm a custom entrypoint\n"
                               "I was called with: [echo app; echo more] (1)\n"));

  d.Write("staging_info.yml", "config:\n  entrypoint_prefix: \"no-such-entrypoint\"\n");
  const RunResult missing = Launch(d, "echo app");
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_THAT(missing.err, HasSubstr("no-such-entrypoint: not found"));
}

TEST(LauncherE2E, CorruptStagingInfoIsAClearError) {
  Droplet d;
  for (const char* text : {"start_command: [a\n", "start_command: {a: 1}\n", "- a\n",
                           "config: 7\n"}) {
    d.Write("staging_info.yml", text);
    const RunResult r = Launch(d, "echo ran");  // checked even when a command is given
    EXPECT_EQ(r.exit_code, 1) << text;
    EXPECT_EQ(r.out, "") << text;
    EXPECT_THAT(r.err, StartsWith("Invalid staging info - failed to unmarshal staging_info.yml: "))
        << text;
  }
  d.Write("staging_info.yml", "start_command: echo ok\n", 0000);
  const RunResult r = Launch(d, "");
  EXPECT_EQ(r.exit_code, geteuid() == 0 ? 0 : 1);  // root reads it anyway
}

TEST(LauncherE2E, UsageErrors) {
  Droplet d;
  RunResult r = d.RunIn(d.root(), {kLauncher, d.app(), "env"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, std::string(kLauncher) + ": received only 2 arguments\nUsage: " + kLauncher +
                       " <app-directory> <start-command> <metadata>\n");
  r = d.RunIn(d.root(), {kLauncher, d.app(), "", ""});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(": no start command specified or detected in droplet"));
}

TEST(LauncherE2E, CredhubFlagsComeFromTheMetadataArgumentOn) {
  Droplet d;
  RunResult r = d.RunIn(d.root(), {kLauncher, d.app(), "echo ran", "-credhubConnectAttempts=x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("Usage of launcher:"));
  r = d.RunIn(d.root(), {kLauncher, d.app(), "echo ran", "{}", "-credhubConnectAttempts=x"});
  EXPECT_EQ(r.exit_code, 0);
}

TEST(LauncherE2E, EnvironmentErrorsExitThree) {
  Droplet d;
  d.SetEnv("VCAP_PLATFORM_OPTIONS", R"('{"credhub-uri":"missing quote and brace')");
  RunResult r = Launch(d, "echo ran");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, StartsWith("Invalid platform options: "));

  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {500}, "");
  d.SetEnv("VCAP_SERVICES", R"j({"my-server":[{"credentials":{"credhub-ref":"(//my-server/creds)"}}]})j");
  d.SetEnv("VCAP_PLATFORM_OPTIONS", R"({ "credhub-uri": ")" + server.url() + R"("})");
  d.SetEnv("CF_INSTANCE_CERT", Pki().client_crt);
  d.SetEnv("CF_INSTANCE_KEY", Pki().client_key);
  d.SetEnv("CF_SYSTEM_CERT_PATH", Pki().cacerts_dir);
  r = d.RunIn(d.root(), {kLauncher, d.app(), "echo ran", "-credhubRetryDelay=0s",
                         "-credhubConnectAttempts=2"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("Failed on attempt 2 out of 2"));
  EXPECT_THAT(r.err, HasSubstr("Unable to interpolate credhub references: credhub replied 500"));
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(LauncherE2E, InterpolatedServicesFeedDatabaseUrl) {
  Droplet d;
  const std::string reply = R"({"my-server":[{"credentials":{"uri":"postgres://thing.com/special"}}]})";
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, reply);
  d.SetEnv("DATABASE_URL", "original content");
  d.SetEnv("VCAP_SERVICES", R"j({"my-server":[{"credentials":{"credhub-ref":"(//my-server/creds)"}}]})j");
  d.SetEnv("VCAP_PLATFORM_OPTIONS", R"({ "credhub-uri": ")" + server.url() + R"("})");
  d.SetEnv("CF_INSTANCE_CERT", Pki().client_crt);
  d.SetEnv("CF_INSTANCE_KEY", Pki().client_key);
  d.SetEnv("CF_SYSTEM_CERT_PATH", Pki().cacerts_dir);
  const RunResult r = Launch(d, "env");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(EnvValue(r.out, "VCAP_SERVICES"), reply);
  EXPECT_EQ(EnvValue(r.out, "DATABASE_URL"), "postgres://thing.com/special");
  EXPECT_EQ(EnvValue(r.out, "VCAP_PLATFORM_OPTIONS"), "<unset>");
}

}  // namespace
}  // namespace hatch::lifecycle::testing
