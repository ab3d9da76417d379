// What both directions of an scp transfer share: the flags from the command line.
#ifndef HATCH_SSHD_SCP_TRANSFER_H_
#define HATCH_SSHD_SCP_TRANSFER_H_

namespace hatch::scp {

struct TransferFlags {
  bool recursive = false;           // -r
  bool preserve = false;            // -p: times (T lines) and exact modes
  bool target_must_be_dir = false;  // -d
  bool verbose = false;             // -v
};

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_TRANSFER_H_
