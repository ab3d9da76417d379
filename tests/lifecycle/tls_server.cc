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

#include <memory>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace hatch::lifecycle::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "test setup failed: %s\n", what.c_str());
  std::abort();
}

template <typename T, void (*F)(T*)>
struct Freer {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Freer<X509, X509_free>>;

KeyPtr MakeKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) Die("EVP_EC_gen");
  return key;
}

// A certificate for `key`, named CN=cn, valid for a day, signed by issuer (self when null),
// with the given extensions ("basicConstraints=critical,CA:TRUE", ...).
CertPtr MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                 const std::vector<std::pair<int, std::string>>& extensions) {
  static long serial = 1;
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) Die("extension " + value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    Die("X509_sign");
  }
  return cert;
}

void WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  if (bio == nullptr) Die("open " + path);
  const int ok = cert != nullptr ? PEM_write_bio_X509(bio, cert)
                                 : PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(bio);
  if (ok != 1) Die("write " + path);
}

// A CA, then a server and a client certificate signed by it, all named <prefix>*.
void MakeCa(const std::string& dir, const std::string& prefix) {
  const KeyPtr ca_key = MakeKey();
  const CertPtr ca = MakeCert(prefix + "hatch-test-ca", ca_key.get(), nullptr, nullptr,
                              {{NID_basic_constraints, "critical,CA:TRUE"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"}});
  WritePem(dir + "/" + prefix + "ca.crt", ca.get(), nullptr);
  const KeyPtr server_key = MakeKey();
  const CertPtr server = MakeCert("server", server_key.get(), ca.get(), ca_key.get(),
                                  {{NID_subject_alt_name, "IP:127.0.0.1"},
                                   {NID_ext_key_usage, "serverAuth"}});
  WritePem(dir + "/" + prefix + "server.crt", server.get(), nullptr);
  WritePem(dir + "/" + prefix + "server.key", nullptr, server_key.get());
  const KeyPtr client_key = MakeKey();
  const CertPtr client = MakeCert("client", client_key.get(), ca.get(), ca_key.get(),
                                  {{NID_ext_key_usage, "clientAuth"}});
  WritePem(dir + "/" + prefix + "client.crt", client.get(), nullptr);
  WritePem(dir + "/" + prefix + "client.key", nullptr, client_key.get());
}

TestPki MakePki(const TempDir& dir) {
  TestPki p;
  p.dir = dir.path();
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
  static const TempDir dir;  // removed when the test program exits
  static const TestPki pki = MakePki(dir);
  return pki;
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
