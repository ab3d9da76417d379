"""hatch's benchmark: diego-sshd against OpenSSH's sshd and dropbear, on loopback, in one run.

Modules:
  user       the unprivileged user every server and client runs as; spawning with timeouts
  workspace  the temporary directory, keys and known_hosts shared by all servers
  servers    one class per SSH server (start on a free port, readiness, stop)
  procmem    RSS/PSS and CPU time of a server's process tree, from /proc
  sshclient  the OpenSSH client command lines every scenario uses
  scenarios  one class per measurement; add new ones to scenarios.ALL
  report     the table on stdout and the JSON result
  cli        argument parsing, build, orchestration, cleanup
"""
