// Random but well-framed requests (fixed seed, so every run is the same): every request gets
// exactly one reply with its id, and the session survives all of them. Names come from the
// alphabet {a, b, c} only, so nothing outside the test's directory can be touched.
#include <unistd.h>

#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sshd/sftp/protocol.h"
#include "tests/sftp/test_client.h"

namespace hatch::sftp {
namespace {

using testing::PacketBuilder;
using testing::PacketClient;
using testing::Reply;
using testing::ServerThread;
using testing::TempDir;

class RandomRequests {
 public:
  explicit RandomRequests(uint32_t seed) : rng_(seed) {}

  std::string Name() {
    std::string name;
    const int length = 1 + Below(3);
    for (int i = 0; i < length; ++i) name.push_back(static_cast<char>('a' + Below(3)));
    return name;
  }

  std::string Handle() {
    if (!handles_.empty() && Below(4) != 0) return handles_[Below(handles_.size())];
    return std::string(8, static_cast<char>(Below(4)));
  }

  void Attrs(PacketBuilder& p) {
    const uint32_t flags = static_cast<uint32_t>(Below(16));
    p.U32(flags);
    if (flags & kAttrSize) p.U64(Below(1 << 20));
    if (flags & kAttrUidGid)
      p.U32(static_cast<uint32_t>(getuid())).U32(static_cast<uint32_t>(getgid()));
    if (flags & kAttrPermissions) p.U32(0600 | static_cast<uint32_t>(Below(0200)));
    if (flags & kAttrAcModTime) p.U32(Below(2000000000)).U32(Below(2000000000));
  }

  // One request with id `id`.
  PacketBuilder Next(uint32_t id) {
    static const uint8_t kTypes[] = {
        kFxpOpen,     kFxpClose,   kFxpRead,     kFxpWrite,   kFxpLstat,   kFxpFstat, kFxpSetstat,
        kFxpFsetstat, kFxpOpendir, kFxpReaddir,  kFxpRemove,  kFxpMkdir,   kFxpRmdir, kFxpRealpath,
        kFxpStat,     kFxpRename,  kFxpReadlink, kFxpSymlink, kFxpExtended};
    const uint8_t type = kTypes[Below(sizeof kTypes)];
    PacketBuilder p(type);
    p.U32(id);
    switch (type) {
      case kFxpOpen:
        p.String(Name()).U32(static_cast<uint32_t>(Below(64)));
        Attrs(p);
        break;
      case kFxpClose:
      case kFxpFstat:
      case kFxpReaddir:
        p.String(Handle());
        break;
      case kFxpRead:
        p.String(Handle()).U64(Below(1 << 20)).U32(Below(300 * 1024));
        break;
      case kFxpWrite:
        p.String(Handle()).U64(Below(1 << 20)).String(std::string(Below(5000), 'w'));
        break;
      case kFxpFsetstat:
        p.String(Handle());
        Attrs(p);
        break;
      case kFxpSetstat:
      case kFxpMkdir:
        p.String(Name());
        Attrs(p);
        break;
      case kFxpRename:
      case kFxpSymlink:
        p.String(Name()).String(Name());
        break;
      case kFxpExtended: {
        static const char* kNames[] = {"posix-rename@openssh.com",
                                       "hardlink@openssh.com",
                                       "statvfs@openssh.com",
                                       "fstatvfs@openssh.com",
                                       "fsync@openssh.com",
                                       "limits@openssh.com",
                                       "expand-path@openssh.com",
                                       "home-directory",
                                       "copy-data",
                                       "lsetstat@openssh.com",
                                       "bogus"};
        const std::string name = kNames[Below(std::size(kNames))];
        p.String(name);
        if (name == "posix-rename@openssh.com" || name == "hardlink@openssh.com") {
          p.String(Name()).String(Name());
        } else if (name == "fstatvfs@openssh.com" || name == "fsync@openssh.com") {
          p.String(Handle());
        } else if (name == "copy-data") {
          p.String(Handle()).U64(Below(100)).U64(Below(100)).String(Handle()).U64(Below(100));
        } else if (name == "lsetstat@openssh.com") {
          p.String(Name());
          Attrs(p);
        } else if (name == "home-directory") {
          p.String("");
        } else if (name != "limits@openssh.com" && name != "bogus") {
          p.String(Name());
        }
        break;
      }
      default:  // one path
        p.String(Name());
        break;
    }
    return p;
  }

  void Remember(Reply reply) {
    if (reply.type != kFxpHandle) return;
    reply.U32();
    handles_.push_back(reply.String());
  }

 private:
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  std::mt19937_64 rng_;
  std::vector<std::string> handles_;
};

TEST(SftpRandomRequests, EveryRequestGetsOneReplyWithItsId) {
  TempDir dir;
  SftpServerOptions options;
  options.home = dir.path();
  options.max_handles = 16;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  client.Init();
  RandomRequests random(20261125);
  for (uint32_t id = 1; id <= 3000; ++id) {
    client.Send(random.Next(id));
    Reply reply = client.Receive();
    ASSERT_NE(reply.type, 0) << "the server ended the session at request " << id;
    Reply copy = reply;
    ASSERT_EQ(copy.U32(), id);
    random.Remember(reply);
  }
  EXPECT_EQ(server.ExitCode(), 0);
}

}  // namespace
}  // namespace hatch::sftp
