// SFTP version 3 wire constants (draft-ietf-secsh-filexfer-02, sections 3-7) and the
// OpenSSH extension names (openssh-portable PROTOCOL, section 4).
#ifndef HATCH_SSHD_SFTP_PROTOCOL_H_
#define HATCH_SSHD_SFTP_PROTOCOL_H_

#include <cstdint>

namespace hatch::sftp {

inline constexpr uint32_t kProtocolVersion = 3;

// Packet types (section 3).
enum MessageType : uint8_t {
  kFxpInit = 1,
  kFxpVersion = 2,
  kFxpOpen = 3,
  kFxpClose = 4,
  kFxpRead = 5,
  kFxpWrite = 6,
  kFxpLstat = 7,
  kFxpFstat = 8,
  kFxpSetstat = 9,
  kFxpFsetstat = 10,
  kFxpOpendir = 11,
  kFxpReaddir = 12,
  kFxpRemove = 13,
  kFxpMkdir = 14,
  kFxpRmdir = 15,
  kFxpRealpath = 16,
  kFxpStat = 17,
  kFxpRename = 18,
  kFxpReadlink = 19,
  kFxpSymlink = 20,
  kFxpStatus = 101,
  kFxpHandle = 102,
  kFxpData = 103,
  kFxpName = 104,
  kFxpAttrs = 105,
  kFxpExtended = 200,
  kFxpExtendedReply = 201,
};

// Status codes (section 7).
enum StatusCode : uint32_t {
  kFxOk = 0,
  kFxEof = 1,
  kFxNoSuchFile = 2,
  kFxPermissionDenied = 3,
  kFxFailure = 4,
  kFxBadMessage = 5,
  kFxNoConnection = 6,
  kFxConnectionLost = 7,
  kFxOpUnsupported = 8,
};

// Attribute flags (section 5).
inline constexpr uint32_t kAttrSize = 0x00000001;
inline constexpr uint32_t kAttrUidGid = 0x00000002;
inline constexpr uint32_t kAttrPermissions = 0x00000004;
inline constexpr uint32_t kAttrAcModTime = 0x00000008;
inline constexpr uint32_t kAttrExtended = 0x80000000;

// Open flags (section 6.3).
inline constexpr uint32_t kFxfRead = 0x00000001;
inline constexpr uint32_t kFxfWrite = 0x00000002;
inline constexpr uint32_t kFxfAppend = 0x00000004;
inline constexpr uint32_t kFxfCreat = 0x00000008;
inline constexpr uint32_t kFxfTrunc = 0x00000010;
inline constexpr uint32_t kFxfExcl = 0x00000020;

// statvfs@openssh.com f_flag bits (PROTOCOL 4.4).
inline constexpr uint64_t kStatvfsReadOnly = 0x1;
inline constexpr uint64_t kStatvfsNoSuid = 0x2;

// Every packet starts with uint32 length, then byte type: the length counts the type.
inline constexpr size_t kLengthFieldSize = 4;

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_PROTOCOL_H_
