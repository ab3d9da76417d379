# The /tmp/lifecycle layer: diego-sshd, shell and launcher as static x86-64 binaries that run in
# any Linux rootfs (no libc, libssh or sftp-server needed there). docs/RELEASE.md shows how an
# app image adds it and how the runtime starts the daemon.
#
#   docker build -t hatch-lifecycle .
#
# The build stage runs exactly what CI runs (scripts/setup, then scripts/release, which the
# release_build test runs), so CI proves these steps without a Docker engine.

FROM debian:12 AS build
# scripts/setup installs the Debian packages and builds libssh from Debian's source package:
# deb-src comes from deb.debian.org, and apt must be able to reach it.
COPY . /src
WORKDIR /src
RUN sh scripts/setup && sh scripts/release /out/tmp/lifecycle

FROM scratch
COPY --from=build /out/tmp/lifecycle/ /tmp/lifecycle/
