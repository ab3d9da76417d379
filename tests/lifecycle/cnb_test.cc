#include "lifecycle/cnb.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

using ::hatch::lifecycle::testing::MakeDirs;
using ::hatch::lifecycle::testing::TempDir;
using ::hatch::lifecycle::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A droplet: <root>/layers with config/metadata.toml, and the app in <root>/workspace.
class Droplet {
 public:
  Droplet() { MakeDirs(app()); }
  std::string layers() const { return dir_ / "layers"; }
  std::string app() const { return dir_ / "workspace"; }
  std::string Layer(const std::string& bp_dir, const std::string& layer) const {
    return layers() + "/" + bp_dir + "/" + layer;
  }
  void Metadata(const std::string& toml) const { WriteFile(layers() + "/config/metadata.toml", toml); }
  // Writes <layer>/<rel> (parents created).
  void File(const std::string& bp_dir, const std::string& layer, const std::string& rel,
            const std::string& content) const {
    WriteFile(Layer(bp_dir, layer) + "/" + rel, content);
  }
  CnbOptions Options(const std::string& type = "web") const { return {layers(), app(), type}; }

 private:
  TempDir dir_;
};

// metadata.toml as the CNB lifecycle's exporter writes it (BurntSushi/toml's layout).
std::string OneBuildpack(const std::string& id, const std::string& api,
                         const std::string& processes = "") {
  return "[[buildpacks]]\n  id = \"" + id + "\"\n  version = \"1.0.0\"\n  api = \"" + api +
         "\"\n\n" + processes;
}

constexpr const char* kWebAndWorker =
    "[[processes]]\n  type = \"web\"\n  command = [\"node\", \"server.js\"]\n  args = []\n"
    "  direct = false\n  buildpack-id = \"x/bp\"\n\n"
    "[[processes]]\n  type = \"worker\"\n  command = \"node worker.js\"\n  direct = true\n"
    "  buildpack-id = \"x/bp\"\n";

absl::StatusOr<std::vector<std::string>> Apply(Environment& env, const CnbOptions& options) {
  return ApplyCnbLaunchEnvironment(env, options);
}

TEST(Cnb, IsCnbDropletWhenMetadataTomlExists) {
  Droplet d;
  EXPECT_FALSE(IsCnbDroplet(d.layers()));
  MakeDirs(d.layers() + "/config");
  EXPECT_FALSE(IsCnbDroplet(d.layers()));
  d.Metadata("");
  EXPECT_TRUE(IsCnbDroplet(d.layers()));
}

// paketo-buildpacks node-engine + npm-install + node-start, as packit writes their layers.
TEST(Cnb, NodeJsDroplet) {
  Droplet d;
  d.Metadata(
      "buildpack-default-process-type = \"web\"\n\n"
      "[[buildpacks]]\n  id = \"paketo-buildpacks/node-engine\"\n  version = \"3.2.1\"\n"
      "  api = \"0.7\"\n  homepage = \"https://github.com/paketo-buildpacks/node-engine\"\n\n"
      "[[buildpacks]]\n  id = \"paketo-buildpacks/npm-install\"\n  version = \"1.5.0\"\n"
      "  api = \"0.7\"\n\n"
      "[[buildpacks]]\n  id = \"paketo-buildpacks/node-start\"\n  version = \"1.1.5\"\n"
      "  api = \"0.7\"\n\n"
      "[[processes]]\n  type = \"web\"\n  command = [\"node\", \"server.js\"]\n  args = []\n"
      "  direct = false\n  buildpack-id = \"paketo-buildpacks/node-start\"\n");
  const std::string engine = "paketo-buildpacks_node-engine";
  const std::string node = d.Layer(engine, "node");
  MakeDirs(node + "/bin");
  WriteFile(node + "/bin/node", "", 0755);
  d.File(engine, "node", "env/NODE_HOME.default", node);
  d.File(engine, "node", "env/NODE_ENV.default", "production");
  d.File(engine, "node", "env/NODE_VERBOSE.default", "false");
  d.File(engine, "node", "env/NODE_OPTIONS.default", "--use-openssl-ca");
  d.File(engine, "node", "exec.d/0-optimize-memory", "");
  d.File(engine, "node", "exec.d/1-inspector", "");
  d.File(engine, "node", "profile.d/0_memory_available.sh", "export MEMORY_AVAILABLE=1\n");
  WriteFile(d.layers() + "/" + engine + "/node.toml", "[types]\n  launch = true\n");
  const std::string npm = "paketo-buildpacks_npm-install";
  const std::string modules = d.Layer(npm, "launch-modules");
  d.File(npm, "launch-modules", "env.launch/NODE_PROJECT_PATH.default", d.app());
  d.File(npm, "launch-modules", "env.launch/NPM_CONFIG_LOGLEVEL.default", "error");
  d.File(npm, "launch-modules", "env.launch/PATH.append", modules + "/node_modules/.bin");
  d.File(npm, "launch-modules", "env.launch/PATH.prepend", modules + "/node_modules/.bin_local");
  d.File(npm, "launch-modules", "env.launch/PATH.delim", ":");
  WriteFile(d.layers() + "/" + npm + "/launch-modules.toml", "[types]\n  launch = true\n");
  WriteFile(d.app() + "/.profile", "export FROM_APP_PROFILE=1\n");

  Environment env({"PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=", "NODE_VERBOSE=true",
                   "HOME=/home/vcap/workspace"});
  auto profiles = Apply(env, d.Options("web"));
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ(env.Get("PATH"), modules + "/node_modules/.bin_local:" + node +
                                 "/bin:/usr/local/bin:/usr/bin:/bin:" + modules +
                                 "/node_modules/.bin");
  EXPECT_EQ(env.Get("NODE_HOME"), node);
  EXPECT_EQ(env.Get("NODE_ENV"), "production");  // set but empty: the default applies
  EXPECT_EQ(env.Get("NODE_VERBOSE"), "true");    // set: the default does not
  EXPECT_EQ(env.Get("NODE_OPTIONS"), "--use-openssl-ca");
  EXPECT_EQ(env.Get("NODE_PROJECT_PATH"), d.app());
  EXPECT_EQ(env.Get("NPM_CONFIG_LOGLEVEL"), "error");
  EXPECT_EQ(env.Lookup("PATH.delim"), std::nullopt);
  EXPECT_EQ(env.Lookup("LD_LIBRARY_PATH"), std::nullopt);  // no lib/ dir anywhere
  EXPECT_THAT(*profiles,
              ElementsAre(node + "/profile.d/0_memory_available.sh", d.app() + "/.profile"));
  auto execd = ListCnbExecD(d.Options("web"));
  ASSERT_TRUE(execd.ok()) << execd.status();
  EXPECT_THAT(*execd, ElementsAre(node + "/exec.d/0-optimize-memory", node + "/exec.d/1-inspector"));
}

// paketo-buildpacks bellsoft-liberica (libjvm) + executable-jar, as libcnb writes their layers.
TEST(Cnb, JavaDroplet) {
  Droplet d;
  d.Metadata(
      "[[buildpacks]]\n  id = \"paketo-buildpacks/bellsoft-liberica\"\n  version = \"11.0.0\"\n"
      "  api = \"0.7\"\n\n"
      "[[buildpacks]]\n  id = \"paketo-buildpacks/executable-jar\"\n  version = \"6.11.3\"\n"
      "  api = \"0.7\"\n\n"
      "[[processes]]\n  type = \"executable-jar\"\n  command = [\"java\"]\n"
      "  args = [\"org.springframework.boot.loader.JarLauncher\"]\n  direct = false\n"
      "  buildpack-id = \"paketo-buildpacks/executable-jar\"\n\n"
      "[[processes]]\n  type = \"web\"\n  command = [\"java\"]\n"
      "  args = [\"org.springframework.boot.loader.JarLauncher\"]\n  direct = false\n"
      "  buildpack-id = \"paketo-buildpacks/executable-jar\"\n");
  const std::string liberica = "paketo-buildpacks_bellsoft-liberica";
  const std::string jre = d.Layer(liberica, "jre");
  const std::string security = d.Layer(liberica, "java-security-properties");
  const std::string helper = d.Layer(liberica, "helper");
  d.File(liberica, "helper", "exec.d/active-processor-count", "");
  d.File(liberica, "helper", "exec.d/memory-calculator", "");
  d.File(liberica, "java-security-properties", "env.launch/JAVA_TOOL_OPTIONS.append",
         "-Djava.security.properties=" + security + "/java-security.properties");
  d.File(liberica, "java-security-properties", "env.launch/JAVA_TOOL_OPTIONS.delim", " ");
  d.File(liberica, "java-security-properties", "env.launch/JAVA_SECURITY_PROPERTIES.default",
         security + "/java-security.properties");
  MakeDirs(jre + "/bin");
  MakeDirs(jre + "/lib");
  d.File(liberica, "jre", "env.launch/JAVA_HOME.default", jre);
  d.File(liberica, "jre", "env.launch/MALLOC_ARENA_MAX.default", "2");
  d.File(liberica, "jre", "env.launch/BPI_JVM_CACERTS.default", jre + "/lib/security/cacerts");
  d.File(liberica, "jre", "env.launch/JAVA_TOOL_OPTIONS.append", "-XX:+ExitOnOutOfMemoryError");
  d.File(liberica, "jre", "env.launch/JAVA_TOOL_OPTIONS.delim", " ");
  d.File(liberica, "jre", "profile.d/0001-active-processor-count.sh", "");
  d.File(liberica, "jre", "profile.d/0002-memory-calculator.sh", "");
  const std::string jar = "paketo-buildpacks_executable-jar";
  const std::string classpath = d.Layer(jar, "classpath");
  d.File(jar, "classpath", "env.launch/CLASSPATH.prepend", d.app());
  d.File(jar, "classpath", "env.launch/CLASSPATH.delim", ":");
  d.File(jar, "classpath", "env.launch/web/JAVA_TOOL_OPTIONS.append", "-Dserver.port=8080");
  d.File(jar, "classpath", "env.launch/web/JAVA_TOOL_OPTIONS.delim", " ");
  d.File(jar, "classpath", "env.launch/executable-jar/JAVA_OPTS.override", "not for web");

  Environment env({"PATH=/usr/bin", "LD_LIBRARY_PATH=/opt/lib", "JAVA_TOOL_OPTIONS=-Xss1m",
                   "CLASSPATH=/opt/extra.jar"});
  auto profiles = Apply(env, d.Options("web"));
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ(env.Get("PATH"), jre + "/bin:/usr/bin");
  EXPECT_EQ(env.Get("LD_LIBRARY_PATH"), jre + "/lib:/opt/lib");
  EXPECT_EQ(env.Get("JAVA_HOME"), jre);
  EXPECT_EQ(env.Get("MALLOC_ARENA_MAX"), "2");
  EXPECT_EQ(env.Get("BPI_JVM_CACERTS"), jre + "/lib/security/cacerts");
  EXPECT_EQ(env.Get("JAVA_SECURITY_PROPERTIES"), security + "/java-security.properties");
  // Layers sorted by name: java-security-properties before jre; then executable-jar's web dir.
  EXPECT_EQ(env.Get("JAVA_TOOL_OPTIONS"),
            "-Xss1m -Djava.security.properties=" + security +
                "/java-security.properties -XX:+ExitOnOutOfMemoryError -Dserver.port=8080");
  EXPECT_EQ(env.Get("CLASSPATH"), d.app() + ":/opt/extra.jar");
  EXPECT_EQ(env.Lookup("JAVA_OPTS"), std::nullopt);
  EXPECT_THAT(*profiles, ElementsAre(jre + "/profile.d/0001-active-processor-count.sh",
                                     jre + "/profile.d/0002-memory-calculator.sh"));
  auto execd = ListCnbExecD(d.Options("web"));
  ASSERT_TRUE(execd.ok()) << execd.status();
  EXPECT_THAT(*execd, ElementsAre(helper + "/exec.d/active-processor-count",
                                  helper + "/exec.d/memory-calculator"));
  (void)classpath;
}

TEST(Cnb, EverySuffix) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  const auto f = [&](const std::string& name, const std::string& value) {
    d.File("x_bp", "l", "env.launch/" + name, value);
  };
  f("OVR.override", "new\n");  // exact bytes: the newline stays
  f("NOSUFFIX", "plain");
  f("DEF_UNSET.default", "d1");
  f("DEF_SET.default", "d2");
  f("DEF_EMPTY.default", "d3");
  f("PRE.prepend", "p");
  f("PRE_DELIM.prepend", "p");
  f("PRE_DELIM.delim", ",");
  f("PRE_EMPTY.prepend", "p");
  f("PRE_EMPTY.delim", ",");
  f("APP.append", "a");
  f("APP_DELIM.append", "a");
  f("APP_DELIM.delim", "::");
  f("APP_UNSET.append", "a");
  f("APP_UNSET.delim", ",");
  f("UNKNOWN.suffix", "u");
  f("TWO.DOTS.append", "t");
  f("ONLY.delim", ",");
  Environment env({"OVR=old", "NOSUFFIX=old", "DEF_SET=kept", "DEF_EMPTY=", "PRE=x",
                   "PRE_DELIM=x", "PRE_EMPTY=", "APP=x", "APP_DELIM=x", "UNKNOWN=u0",
                   "TWO=t0"});
  auto profiles = Apply(env, d.Options());
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ(env.Get("OVR"), "new\n");
  EXPECT_EQ(env.Get("NOSUFFIX"), "plain");  // API 0.7: no suffix overrides
  EXPECT_EQ(env.Get("DEF_UNSET"), "d1");
  EXPECT_EQ(env.Get("DEF_SET"), "kept");
  EXPECT_EQ(env.Get("DEF_EMPTY"), "d3");
  EXPECT_EQ(env.Get("PRE"), "px");  // no .delim: nothing between
  EXPECT_EQ(env.Get("PRE_DELIM"), "p,x");
  EXPECT_EQ(env.Get("PRE_EMPTY"), "p");  // empty: no delimiter
  EXPECT_EQ(env.Get("APP"), "xa");
  EXPECT_EQ(env.Get("APP_DELIM"), "x::a");
  EXPECT_EQ(env.Get("APP_UNSET"), "a");
  EXPECT_EQ(env.Get("UNKNOWN"), "u0");
  EXPECT_EQ(env.Get("TWO"), "t0");
  EXPECT_EQ(env.Lookup("ONLY"), std::nullopt);
  EXPECT_EQ(env.Lookup("TWO.DOTS"), std::nullopt);
  EXPECT_THAT(*profiles, IsEmpty());
}

TEST(Cnb, NoSuffixPrependsPathUnderBuildpackApiBefore05) {
  Droplet d;
  d.Metadata(OneBuildpack("old/bp", "0.4") +
             "[[buildpacks]]\n  id = \"new/bp\"\n  api = \"0.5\"\n");
  d.File("old_bp", "l", "env.launch/P", "/old");
  d.File("old_bp", "l", "env.launch/Q", "/q");
  d.File("old_bp", "l", "env.launch/Q.delim", ";");
  d.File("old_bp", "l", "env.launch/UNSET", "/u");
  d.File("new_bp", "l", "env.launch/R", "/new");
  Environment env({"P=/p", "Q=/q0", "R=/r"});
  ASSERT_TRUE(Apply(env, d.Options()).ok());
  EXPECT_EQ(env.Get("P"), "/old:/p");
  EXPECT_EQ(env.Get("Q"), "/q;/q0");
  EXPECT_EQ(env.Get("UNSET"), "/u");
  EXPECT_EQ(env.Get("R"), "/new");
}

TEST(Cnb, EnvDirPrecedenceWithinALayer) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7", kWebAndWorker));
  for (const std::string dir : {"env", "env.launch", "env.launch/web"}) {
    d.File("x_bp", "l", dir + "/O.override", dir);
    d.File("x_bp", "l", dir + "/D.default", dir);
    d.File("x_bp", "l", dir + "/A.append", dir);
    d.File("x_bp", "l", dir + "/A.delim", "|");
    d.File("x_bp", "l", dir + "/P.prepend", dir);
    d.File("x_bp", "l", dir + "/P.delim", "|");
  }
  d.File("x_bp", "l", "env.build/O.override", "build only");
  Environment env;
  ASSERT_TRUE(Apply(env, d.Options("web")).ok());
  EXPECT_EQ(env.Get("O"), "env.launch/web");
  EXPECT_EQ(env.Get("D"), "env");
  EXPECT_EQ(env.Get("A"), "env|env.launch|env.launch/web");
  EXPECT_EQ(env.Get("P"), "env.launch/web|env.launch|env");
}

TEST(Cnb, ProcessDirsOnlyForTheChosenTypeWhenMetadataDefinesIt) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7", kWebAndWorker));
  const std::string l = d.Layer("x_bp", "l");
  for (const std::string type : {"web", "worker", "other"}) {
    d.File("x_bp", "l", "env.launch/" + type + "/TYPE.override", type);
    d.File("x_bp", "l", "profile.d/" + type + "/" + type + ".sh", "");
    d.File("x_bp", "l", "exec.d/" + type + "/" + type, "");
  }
  d.File("x_bp", "l", "profile.d/all.sh", "");
  d.File("x_bp", "l", "profile.d/z.sh", "");

  Environment worker;
  auto profiles = Apply(worker, d.Options("worker"));
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ(worker.Get("TYPE"), "worker");
  EXPECT_THAT(*profiles, ElementsAre(l + "/profile.d/all.sh", l + "/profile.d/z.sh",
                                     l + "/profile.d/worker/worker.sh"));
  EXPECT_THAT(*ListCnbExecD(d.Options("worker")), ElementsAre(l + "/exec.d/worker/worker"));

  // "other" names no process: handled as a command that is not a process (type "").
  for (const std::string type : {"other", ""}) {
    Environment env;
    profiles = Apply(env, d.Options(type));
    ASSERT_TRUE(profiles.ok()) << profiles.status();
    EXPECT_EQ(env.Lookup("TYPE"), std::nullopt) << type;
    EXPECT_THAT(*profiles, ElementsAre(l + "/profile.d/all.sh", l + "/profile.d/z.sh")) << type;
    EXPECT_THAT(*ListCnbExecD(d.Options(type)), IsEmpty()) << type;
  }
}

TEST(Cnb, BinAndLibPrependedWhenUnsetAndWhenSet) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  const std::string l = d.Layer("x_bp", "l");
  MakeDirs(l + "/bin");
  MakeDirs(l + "/lib");
  MakeDirs(l + "/include");  // build-only root dirs do nothing at launch
  MakeDirs(l + "/pkgconfig");
  Environment unset;
  ASSERT_TRUE(Apply(unset, d.Options()).ok());
  EXPECT_THAT(unset.entries(), ElementsAre("PATH=" + l + "/bin", "LD_LIBRARY_PATH=" + l + "/lib"));
  Environment set({"LD_LIBRARY_PATH=/a:/b", "PATH=/usr/bin", "CPATH=/c"});
  ASSERT_TRUE(Apply(set, d.Options()).ok());
  EXPECT_THAT(set.entries(), ElementsAre("LD_LIBRARY_PATH=" + l + "/lib:/a:/b",
                                         "PATH=" + l + "/bin:/usr/bin", "CPATH=/c"));
  Environment empty({"PATH="});
  ASSERT_TRUE(Apply(empty, d.Options()).ok());
  EXPECT_EQ(empty.Get("PATH"), l + "/bin");
}

TEST(Cnb, OrderAcrossBuildpacksAndLayers) {
  Droplet d;
  d.Metadata(OneBuildpack("first/bp", "0.7") +
             "[[buildpacks]]\n  id = \"second/bp\"\n  api = \"0.8\"\n");
  for (const std::string bp : {"first_bp", "second_bp"}) {
    for (const std::string layer : {"a", "b"}) {
      MakeDirs(d.Layer(bp, layer) + "/bin");
      d.File(bp, layer, "env/ORDER.append", bp + "/" + layer);
      d.File(bp, layer, "env/ORDER.delim", " ");
      d.File(bp, layer, "env/FIRST.default", bp + "/" + layer);
      d.File(bp, layer, "env/LAST.override", bp + "/" + layer);
      d.File(bp, layer, "profile.d/p.sh", "");
    }
  }
  Environment env({"PATH=/usr/bin"});
  auto profiles = Apply(env, d.Options());
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  const auto bin = [&](const std::string& bp, const std::string& l) { return d.Layer(bp, l) + "/bin"; };
  EXPECT_EQ(env.Get("PATH"), bin("second_bp", "b") + ":" + bin("second_bp", "a") + ":" +
                                 bin("first_bp", "b") + ":" + bin("first_bp", "a") + ":/usr/bin");
  EXPECT_EQ(env.Get("ORDER"), "first_bp/a first_bp/b second_bp/a second_bp/b");
  EXPECT_EQ(env.Get("FIRST"), "first_bp/a");
  EXPECT_EQ(env.Get("LAST"), "second_bp/b");
  EXPECT_THAT(*profiles, ElementsAre(d.Layer("first_bp", "a") + "/profile.d/p.sh",
                                     d.Layer("first_bp", "b") + "/profile.d/p.sh",
                                     d.Layer("second_bp", "a") + "/profile.d/p.sh",
                                     d.Layer("second_bp", "b") + "/profile.d/p.sh"));
}

TEST(Cnb, RootDirsOfABuildpackComeBeforeItsEnvFiles) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  d.File("x_bp", "a", "env/PATH.override", "/from-a-env");
  MakeDirs(d.Layer("x_bp", "b") + "/bin");
  Environment env({"PATH=/usr/bin"});
  ASSERT_TRUE(Apply(env, d.Options()).ok());
  EXPECT_EQ(env.Get("PATH"), "/from-a-env");  // b/bin was prepended first, then a's env ran
}

TEST(Cnb, AppProfileLastWhenNotADirectory) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  d.File("x_bp", "l", "profile.d/a.sh", "");
  Environment env;
  EXPECT_THAT(*Apply(env, d.Options()), ElementsAre(d.Layer("x_bp", "l") + "/profile.d/a.sh"));
  MakeDirs(d.app() + "/.profile");
  EXPECT_THAT(*Apply(env, d.Options()), ElementsAre(d.Layer("x_bp", "l") + "/profile.d/a.sh"));
  Droplet d2;
  d2.Metadata(OneBuildpack("x/bp", "0.7"));
  WriteFile(d2.app() + "/.profile", "");
  EXPECT_THAT(*Apply(env, d2.Options()), ElementsAre(d2.app() + "/.profile"));
}

TEST(Cnb, CorruptMetadataIsAnErrorNamingFileLineAndColumnAndEnvIsUnchanged) {
  Droplet d;
  d.Metadata("[[buildpacks]]\n  id = \"x/bp\n  api = \"0.7\"\n");
  d.File("x_bp", "l", "env/A.override", "a");
  Environment env({"PATH=/usr/bin", "CNB_APP_DIR=/x"});
  const std::vector<std::string> before = env.entries();
  auto profiles = Apply(env, d.Options());
  ASSERT_FALSE(profiles.ok());
  EXPECT_THAT(profiles.status().message(), HasSubstr(d.layers() + "/config/metadata.toml"));
  EXPECT_THAT(profiles.status().message(), HasSubstr("line 2, column"));
  EXPECT_EQ(env.entries(), before);
}

// toml++ 3.3.0's Unicode tables reached TOML_UNREACHABLE on these (lifecycle/toml.h); the
// fuzz corpus keeps the input fuzz/cnb_metadata found as regress-nonascii-table-header.
TEST(Cnb, NonAsciiOutsideStringsIsAnErrorAndInsideMultiLineStringsIsText) {
  auto header = ParseCnbMetadata("[[build\xc5\x9a]]\nid = \"x\"\n", "metadata.toml");
  ASSERT_FALSE(header.ok());
  EXPECT_THAT(header.status().message(), HasSubstr("metadata.toml: line 1, column"));
  auto trimmed = ParseCnbMetadata(
      "[[processes]]\ntype = \"web\"\ncommand = \"\"\"a \\\n  \xc2\xa7" "b\"\"\"\n",
      "metadata.toml");
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  ASSERT_EQ(trimmed->processes.size(), 1u);
  EXPECT_THAT(trimmed->processes[0].command, ElementsAre("a \xc2\xa7" "b"));
}

TEST(Cnb, MetadataErrors) {
  Droplet d;
  Environment env({"A=1"});
  auto missing = Apply(env, d.Options());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("metadata.toml: No such file or directory"));
  for (const std::string& bad :
       {std::string("buildpacks = 3\n"), std::string("[[buildpacks]]\n  id = 5\n  api = \"0.7\"\n"),
        OneBuildpack("x/bp", "zero"), OneBuildpack("x/bp", "0.7.1"), OneBuildpack("", "0.7"),
        OneBuildpack("x/bp", "0.7", "[[processes]]\n  type = \"web\"\n  args = \"a\"\n")}) {
    d.Metadata(bad);
    auto result = Apply(env, d.Options());
    EXPECT_FALSE(result.ok()) << bad;
    EXPECT_THAT(result.status().message(), HasSubstr("metadata.toml")) << bad;
  }
  EXPECT_THAT(env.entries(), ElementsAre("A=1"));
  d.Metadata(OneBuildpack("x/bp", "v1") + "[[buildpacks]]\n  id = \"y/bp\"\n  api = \"0.\"\n");
  EXPECT_TRUE(Apply(env, d.Options()).ok());
}

TEST(Cnb, ReadsProcesses) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7", kWebAndWorker));
  auto md = ReadCnbMetadata(d.layers());
  ASSERT_TRUE(md.ok()) << md.status();
  ASSERT_EQ(md->processes.size(), 2u);
  EXPECT_EQ(md->processes[0].type, "web");
  EXPECT_THAT(md->processes[0].command, ElementsAre("node", "server.js"));
  EXPECT_FALSE(md->processes[0].direct);
  EXPECT_THAT(md->processes[1].command, ElementsAre("node worker.js"));
  EXPECT_TRUE(md->processes[1].direct);
  EXPECT_EQ(md->processes[1].buildpack_id, "x/bp");
  ASSERT_EQ(md->buildpacks.size(), 1u);
  EXPECT_EQ(md->buildpacks[0].api_minor, 7);
}

TEST(Cnb, MissingBuildpackDirIsSkipped) {
  Droplet d;
  d.Metadata(OneBuildpack("gone/bp", "0.7") + "[[buildpacks]]\n  id = \"x/bp\"\n  api = \"0.7\"\n");
  d.File("x_bp", "l", "env/A.override", "a");
  Environment env;
  ASSERT_TRUE(Apply(env, d.Options()).ok());
  EXPECT_THAT(env.entries(), ElementsAre("A=a"));
}

TEST(Cnb, UnreadableOrBrokenLayerContentIsAnErrorAndEnvIsUnchanged) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  d.File("x_bp", "a", "env/A.override", "a");
  d.File("x_bp", "b", "env", "a file where a dir belongs");
  Environment env({"PATH=/usr/bin"});
  auto result = Apply(env, d.Options());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr(d.Layer("x_bp", "b") + "/env"));
  EXPECT_THAT(env.entries(), ElementsAre("PATH=/usr/bin"));

  Droplet d2;
  d2.Metadata(OneBuildpack("x/bp", "0.7"));
  MakeDirs(d2.Layer("x_bp", "l") + "/env");
  ASSERT_EQ(symlink("/nonexistent", (d2.Layer("x_bp", "l") + "/env/B.override").c_str()), 0);
  result = Apply(env, d2.Options());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("B.override"));

  Droplet d3;
  d3.Metadata(OneBuildpack("x/bp", "0.7"));
  d3.File("x_bp", "l", "env/C.override", "c");
  if (geteuid() != 0) {
    ASSERT_EQ(chmod((d3.Layer("x_bp", "l") + "/env/C.override").c_str(), 0), 0);
    result = Apply(env, d3.Options());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.status().message(), HasSubstr("C.override: Permission denied"));
  }
  EXPECT_THAT(env.entries(), ElementsAre("PATH=/usr/bin"));
}

TEST(Cnb, SymlinkedLayerDirsAreNotLayersButSymlinkedEnvFilesCount) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  d.File("x_bp", "real", "env/A.override", "a");
  d.File("x_bp", "real", "value", "linked");
  ASSERT_EQ(symlink("real", (d.Layer("x_bp", "link")).c_str()), 0);
  ASSERT_EQ(symlink("../value", (d.Layer("x_bp", "real") + "/env/B.override").c_str()), 0);
  ASSERT_EQ(symlink("..", (d.Layer("x_bp", "real") + "/env/DIRLINK.override").c_str()), 0);
  Environment env;
  ASSERT_TRUE(Apply(env, d.Options()).ok());
  EXPECT_THAT(env.entries(), ElementsAre("A=a", "B=linked"));  // "real" once, not via "link"
}

TEST(Cnb, LauncherSettingsAreRemoved) {
  Droplet d;
  d.Metadata(OneBuildpack("x/bp", "0.7"));
  Environment env({"CNB_LAYERS_DIR=/l", "CNB_APP_DIR=/a", "CNB_PROCESS_TYPE=web",
                   "CNB_PLATFORM_API=0.14", "CNB_DEPRECATION_MODE=quiet", "CNB_OTHER=kept",
                   "PATH=/cnb/process:/usr/bin:/tmp/lifecycle:/bin"});
  ASSERT_TRUE(Apply(env, d.Options()).ok());
  EXPECT_THAT(env.entries(), ElementsAre("CNB_OTHER=kept", "PATH=/usr/bin:/bin"));
}

TEST(Cnb, RelativeDirsAreRefused) {
  Environment env;
  EXPECT_FALSE(Apply(env, {"layers", "/app", "web"}).ok());
  EXPECT_FALSE(Apply(env, {"/layers", "app", "web"}).ok());
  EXPECT_FALSE(Apply(env, {"", "/app", "web"}).ok());
}

}  // namespace
}  // namespace hatch::lifecycle
