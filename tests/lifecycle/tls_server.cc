#include "tests/lifecycle/tls_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

namespace hatch::lifecycle::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "test setup failed: %s\n", what.c_str());
  std::abort();
}

void Sh(const std::string& dir, const std::string& script) {
  const RunResult r = Run({"/bin/sh", "-ec", script}, {"PATH=/usr/bin:/bin"}, dir);
  if (r.exit_code != 0) Die("openssl: " + r.err);
}

// A CA, then a server and a client certificate signed by it, all named <prefix>*.
void MakeCa(const std::string& dir, const std::string& prefix) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  Sh(dir, "openssl req -x509 " + ec + " -keyout " + prefix + "ca.key -out " + prefix +
              "ca.crt -days 2 -subj /CN=" + prefix + "hatch-test-ca 2>/dev/null\n" +
              "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > " + prefix +
              "server.ext\n" +
              "printf 'extendedKeyUsage=clientAuth\\n' > " + prefix + "client.ext\n" +
              "for who in server client; do\n"
              "  openssl req " + ec + " -keyout " + prefix + "$who.key -out " + prefix +
              "$who.csr -subj /CN=$who 2>/dev/null\n"
              "  openssl x509 -req -in " + prefix + "$who.csr -CA " + prefix + "ca.crt -CAkey " +
              prefix + "ca.key -CAcreateserial -days 2 -extfile " + prefix + "$who.ext -out " +
              prefix + "$who.crt 2>/dev/null\n"
              "done\n");
}

TestPki MakePki() {
  static TempDir* dir = new TempDir();  // lives as long as the process
  TestPki p;
  p.dir = dir->path();
  MakeCa(p.dir, "");
  MakeCa(p.dir, "other-");
  auto at = [&](const std::string& name) { return p.dir + "/" + name; };
  p.ca_crt = at("ca.crt");
  p.server_crt = at("server.crt");
  p.server_key = at("server.key");
  p.client_crt = at("client.crt");
  p.client_key = at("client.key");
  p.other_ca_crt = at("other-ca.crt");
  p.other_server_crt = at("other-server.crt");
  p.other_server_key = at("other-server.key");
  p.other_client_crt = at("other-client.crt");
  p.other_client_key = at("other-client.key");
  p.cacerts_dir = at("cacerts");
  WriteFile(p.cacerts_dir + "/ca.crt", ReadFileOrDie(p.ca_crt));
  return p;
}

}  // namespace

const TestPki& Pki() {
  static const TestPki* pki = new TestPki(MakePki());
  return *pki;
}

CredhubServer::CredhubServer(const std::string& cert, const std::string& key,
                             const std::string& client_ca, const std::vector<int>& statuses,
                             const std::string& reply_body) {
  std::string list;
  for (int s : statuses) list += (list.empty() ? "" : ",") + std::to_string(s);
  WriteFile(dir_ / "reply", reply_body);
  WriteFile(dir_ / "log", "");
  int out[2];
  if (pipe(out) != 0) Die("pipe");
  pid_ = fork();
  if (pid_ < 0) Die("fork");
  if (pid_ == 0) {
    dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    execl("/usr/bin/python3", "python3", HATCH_CREDHUB_SERVER_PY, cert.c_str(), key.c_str(),
          client_ca.c_str(), (dir_ / "log").c_str(), list.c_str(), (dir_ / "reply").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(out[1]);
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  ::close(out[0]);
  port_ = std::atoi(line.c_str());
  if (port_ <= 0) Die("credhub_server.py did not start");
}

CredhubServer::~CredhubServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
}

std::vector<RecordedRequest> CredhubServer::Requests() const {
  std::vector<RecordedRequest> out;
  std::istringstream in(ReadFileOrDie(dir_ / "log"));
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j["method"], j["path"], j["content_type"], j["body"], j["client_cn"]});
  }
  return out;
}

int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("bind");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace hatch::lifecycle::testing
