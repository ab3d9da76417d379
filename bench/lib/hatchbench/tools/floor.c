// The floor: the CPU an exec transfer costs a server that does nothing but move the bytes.
//
// floor pipe|tcp|up|file CIPHER BYTES [PATH]. Downloads (pipe, tcp): starts a source of
// BYTES zeros: `head -c BYTES /dev/zero` on a 1 MiB pipe (pipe: as a server starts the session's
// command), or a child that sends them over loopback TCP (tcp: as the target of an -L tunnel
// does); and a sink child that accepts one loopback TCP connection and reads it to EOF (as
// the client would). This process then does what any SSH server must do per byte, and
// nothing else: read the source 256 KiB at a time, seal each 32 KiB "packet" in place with
// CIPHER (none, aes128-gcm or chacha20-poly1305, OpenSSL EVP with a fresh nonce per packet),
// and send it (MSG_MORE between a read's packets). Upload (up): a child sends BYTES over
// loopback TCP (as the client would); this process reads 256 KiB at a time, opens each
// 32 KiB packet in place (decrypts it and checks a tag: the bytes are not really sealed, so
// the check fails, at the same cost) and writes what it read to a 1 MiB pipe, whose reader
// (a child, as the session's command) discards it. File upload (file, the floor of an sftp or
// scp put): the same, but what is opened goes straight into a new file at PATH, 32 KiB per
// write(2) as hatch's built-ins write (base/file_write.h); the file is removed at the end.
// No SSH framing, window or poll loop.
// Prints its own CPU seconds (children excluded) and the bytes moved: "floor <cpu-seconds>
// <bytes>".
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  exit(1);
}

static const EVP_CIPHER* cipher_named(const char* name) {
  if (strcmp(name, "aes128-gcm") == 0) return EVP_aes_128_gcm();
  if (strcmp(name, "chacha20-poly1305") == 0) return EVP_chacha20_poly1305();
  if (strcmp(name, "none") != 0) die("cipher");
  return NULL;
}

static void print_cpu(long long moved) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  const double cpu = (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 +
                     (double)r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
  printf("floor %.3f %lld\n", cpu, moved);
}

// Reads `fd` to its end and drops what it reads (as the client or the command would).
static void discard_until_eof(int fd) {
  static char buf[1 << 20];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

// Listens on an ephemeral loopback port; its address goes into *addr.
static int listen_loopback(struct sockaddr_in* addr) {
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof *addr;
  if (lst < 0 || bind(lst, (struct sockaddr*)addr, sizeof *addr) != 0 || listen(lst, 1) != 0 ||
      getsockname(lst, (struct sockaddr*)addr, &alen) != 0)
    die("listen");
  return lst;
}

// A child that connects to *addr and sends `bytes` zeros, 256 KiB per send.
static pid_t fork_zero_sender(const struct sockaddr_in* addr, long long bytes) {
  pid_t pid = fork();
  if (pid == 0) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (const struct sockaddr*)addr, sizeof *addr) != 0) _exit(1);
    static char zeros[256 * 1024];
    for (long long left = bytes; left > 0;) {
      const size_t chunk = left < (long long)sizeof zeros ? (size_t)left : sizeof zeros;
      ssize_t w = send(c, zeros, chunk, 0);
      if (w <= 0) _exit(1);
      left -= w;
    }
    _exit(0);
  }
  return pid;
}

// The upload floor: loopback TCP in, each packet opened in place, out to a pipe (path NULL)
// or to a new file at `path`.
static int upload(const char* cipher_name, long long bytes, const char* path) {
  const EVP_CIPHER* cipher = cipher_named(cipher_name);
  struct sockaddr_in addr;
  int lst = listen_loopback(&addr);
  pid_t client = fork_zero_sender(&addr, bytes);
  int out;  // the pipe's write end or the file
  pid_t cmd = -1;
  size_t chunk = 1 << 20;  // a pipe takes a read's worth at once
  if (path != NULL) {
    out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) die(path);
    chunk = 32768;
  } else {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) die("pipe");
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    cmd = fork();
    if (cmd == 0) {
      close(p[1]);
      discard_until_eof(p[0]);
      _exit(0);
    }
    close(p[0]);
    out = p[1];
  }
  int s = accept(lst, NULL, NULL);
  if (s < 0) die("accept");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char key[32] = {1}, nonce[12] = {2}, tag[16] = {0};
  if (cipher != NULL) EVP_DecryptInit_ex(ctx, cipher, NULL, key, nonce);
  static unsigned char buf[256 * 1024];
  long long moved = 0;
  ssize_t n;
  while ((n = read(s, buf, sizeof buf)) > 0) {
    moved += n;
    if (cipher != NULL) {
      for (ssize_t off = 0; off < n; off += 32768) {
        const int len = n - off < 32768 ? (int)(n - off) : 32768;
        int out;
        nonce[11]++;
        EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce);
        EVP_DecryptUpdate(ctx, buf + off, &out, buf + off, len);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag);
        (void)EVP_DecryptFinal_ex(ctx, buf + off, &out);  // fails: the bytes are not sealed
      }
    }
    for (ssize_t done = 0; done < n;) {
      const size_t left = (size_t)(n - done);
      ssize_t w = write(out, buf + done, left < chunk ? left : chunk);
      if (w <= 0) die("write");
      done += w;
    }
  }
  close(out);
  if (path != NULL) unlink(path);
  int status;
  waitpid(client, &status, 0);
  if (cmd > 0) waitpid(cmd, &status, 0);
  print_cpu(moved);
  return 0;
}

int main(int argc, char** argv) {
  const int to_file = argc == 5 && strcmp(argv[1], "file") == 0;
  if (!to_file && (argc != 4 || (strcmp(argv[1], "pipe") != 0 && strcmp(argv[1], "tcp") != 0 &&
                                 strcmp(argv[1], "up") != 0))) {
    fprintf(stderr,
            "usage: floor pipe|tcp|up none|aes128-gcm|chacha20-poly1305 BYTES\n"
            "       floor file none|aes128-gcm|chacha20-poly1305 BYTES PATH\n");
    return 2;
  }
  if (to_file || strcmp(argv[1], "up") == 0)
    return upload(argv[2], atoll(argv[3]), to_file ? argv[4] : NULL);
  const int from_pipe = strcmp(argv[1], "pipe") == 0;
  const EVP_CIPHER* cipher = cipher_named(argv[2]);
  const char* bytes = argv[3];

  struct sockaddr_in addr;
  int lst = listen_loopback(&addr);
  pid_t sink = fork();
  if (sink == 0) {
    discard_until_eof(accept(lst, NULL, NULL));
    _exit(0);
  }
  int src;  // what this process reads
  pid_t cmd;
  if (from_pipe) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) die("pipe");
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    cmd = fork();
    if (cmd == 0) {
      dup2(p[1], 1);
      execlp("head", "head", "-c", bytes, "/dev/zero", (char*)NULL);
      _exit(127);
    }
    close(p[1]);
    src = p[0];
  } else {
    // A loopback TCP source: a child connects and sends; this process reads the accepted end.
    struct sockaddr_in src_addr;
    int src_lst = listen_loopback(&src_addr);
    cmd = fork_zero_sender(&src_addr, atoll(bytes));
    src = accept(src_lst, NULL, NULL);
    if (src < 0) die("accept");
  }
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");

  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char key[32] = {1}, nonce[12] = {2}, tag[16];
  if (cipher != NULL) EVP_EncryptInit_ex(ctx, cipher, NULL, key, nonce);
  static unsigned char buf[256 * 1024];
  long long moved = 0;
  ssize_t n;
  while ((n = read(src, buf, sizeof buf)) > 0) {
    moved += n;
    for (ssize_t off = 0; off < n; off += 32768) {
      const int len = n - off < 32768 ? (int)(n - off) : 32768;
      if (cipher != NULL) {
        int out;
        nonce[11]++;
        EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce);
        EVP_EncryptUpdate(ctx, buf + off, &out, buf + off, len);
        EVP_EncryptFinal_ex(ctx, tag, &out);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
      }
      const int more = off + 32768 < n ? MSG_MORE : 0;
      for (int done = 0; done < len;) {
        ssize_t w = send(s, buf + off + done, len - done, more | MSG_NOSIGNAL);
        if (w <= 0) die("send");
        done += (int)w;
      }
    }
  }
  close(s);
  int status;
  waitpid(cmd, &status, 0);
  waitpid(sink, &status, 0);
  print_cpu(moved);
  return 0;
}
