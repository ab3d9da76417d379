// `shell`: see lifecycle/mains.h.
#include <openssl/crypto.h>

#include <cstdio>
#include <cstring>

#include "lifecycle/mains.h"

#ifndef HATCH_VERSION
#define HATCH_VERSION "dev"
#endif

int main(int argc, char** argv) {
  // The release's versions (no app dir is named "-version").
  if (argc == 2 && (std::strcmp(argv[1], "-version") == 0 || std::strcmp(argv[1], "--version") == 0)) {
    std::printf("shell (hatch) %s\n%s\n", HATCH_VERSION, OpenSSL_version(OPENSSL_VERSION));
    return 0;
  }
  return hatch::lifecycle::ShellMain(argc, argv);
}
