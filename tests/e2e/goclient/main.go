// goclient: an SSH client on golang.org/x/crypto/ssh (the library of the cf CLI and of Diego's
// ssh-proxy), doing what `cf ssh` does against diego-sshd: public-key auth with a pinned host
// key fingerprint, exec with stdout/stderr/exit status, a pty session with window changes,
// env requests, signals and keepalive requests. Prints one JSON object with what it saw, for
// the end-to-end tests to check.
//
// Usage: goclient -addr HOST:PORT -key FILE [flags] COMMAND
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// lockedBuffer is an io.Writer the session's copy goroutines and main can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until `token` appears in the output or the timeout passes.
func (b *lockedBuffer) waitFor(token string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(b.String(), token) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

type result struct {
	HostKeyType        string `json:"hostkey_type"`
	HostKeyFingerprint string `json:"hostkey_fingerprint"`
	ServerVersion      string `json:"server_version"`
	Stdout             string `json:"stdout"`
	Stderr             string `json:"stderr"`
	ExitStatus         *int   `json:"exit_status"`
	ExitSignal         string `json:"exit_signal,omitempty"`
	KeepaliveReplies   []bool `json:"keepalive_replies,omitempty"`
	Error              string `json:"error,omitempty"`
}

func fingerprint(key ssh.PublicKey) string {
	sum := sha256.Sum256(key.Marshal())
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func main() {
	addr := flag.String("addr", "", "host:port of the daemon")
	keyFile := flag.String("key", "", "private key file (OpenSSH format)")
	user := flag.String("user", "vcap", "user name")
	pin := flag.String("hostkey", "", "expected host key fingerprint (SHA256:...); empty: any")
	pty := flag.Bool("pty", false, "request a pty")
	term := flag.String("term", "xterm", "TERM for the pty")
	cols := flag.Int("cols", 80, "pty columns")
	rows := flag.Int("rows", 24, "pty rows")
	stdin := flag.Bool("stdin", false, "copy our stdin to the session (EOF closes it)")
	after := flag.String("after", "", "output token to wait for before -signal/-resize")
	sig := flag.String("signal", "", "signal to send once -after is seen (e.g. USR1)")
	resize := flag.String("resize", "", "COLSxROWS window change once -after is seen")
	keepalives := flag.Int("keepalives", 0, "keepalive@cloudfoundry.org requests to send first")
	timeout := flag.Duration("timeout", 30*time.Second, "overall timeout")
	var envs listFlag
	flag.Var(&envs, "env", "NAME=VALUE env request (repeatable)")
	flag.Parse()

	res := &result{}
	err := run(res, *addr, *keyFile, *user, *pin, *pty, *term, *cols, *rows, *stdin, *after,
		*sig, *resize, *keepalives, *timeout, envs, strings.Join(flag.Args(), " "))
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(2)
	}
}

func run(res *result, addr, keyFile, user, pin string, pty bool, term string, cols, rows int,
	stdin bool, after, sig, resize string, keepalives int, timeout time.Duration,
	envs []string, command string) error {
	time.AfterFunc(timeout, func() {
		fmt.Println(`{"error":"timeout"}`)
		os.Exit(3)
	})
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("parse key: %w", err)
	}
	config := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// cf ssh pins the fingerprint the platform published for the app's host key.
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			res.HostKeyType = key.Type()
			res.HostKeyFingerprint = fingerprint(key)
			if pin != "" && pin != res.HostKeyFingerprint {
				return fmt.Errorf("host key mismatch: %s", res.HostKeyFingerprint)
			}
			return nil
		},
		Timeout: 10 * time.Second,
	}
	client, err := ssh.Dial("tcp", addr, config)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer client.Close()
	res.ServerVersion = string(client.ServerVersion())

	for i := 0; i < keepalives; i++ {
		ok, _, err := client.SendRequest("keepalive@cloudfoundry.org", true, nil)
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
		res.KeepaliveReplies = append(res.KeepaliveReplies, ok)
	}

	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer session.Close()
	for _, e := range envs {
		name, value, _ := strings.Cut(e, "=")
		if err := session.Setenv(name, value); err != nil {
			return fmt.Errorf("setenv %s: %w", name, err)
		}
	}
	if pty {
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := session.RequestPty(term, rows, cols, modes); err != nil {
			return fmt.Errorf("pty: %w", err)
		}
	}
	var stdout, stderr lockedBuffer
	session.Stdout = &stdout
	session.Stderr = &stderr
	if stdin {
		session.Stdin = os.Stdin
	} else {
		session.Stdin = strings.NewReader("")
	}
	if command == "" {
		err = session.Shell()
	} else {
		err = session.Start(command)
	}
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if after != "" {
		if !stdout.waitFor(after, 15*time.Second) {
			return fmt.Errorf("never saw %q in %q", after, stdout.String())
		}
		if resize != "" {
			var c, r int
			fmt.Sscanf(resize, "%dx%d", &c, &r)
			if err := session.WindowChange(r, c); err != nil {
				return fmt.Errorf("window change: %w", err)
			}
		}
		if sig != "" {
			if err := session.Signal(ssh.Signal(sig)); err != nil {
				return fmt.Errorf("signal: %w", err)
			}
		}
	}
	waitErr := session.Wait()
	res.Stdout = stdout.String()
	res.Stderr = stderr.String()
	var exitErr *ssh.ExitError
	switch {
	case waitErr == nil:
		zero := 0
		res.ExitStatus = &zero
	case errors.As(waitErr, &exitErr):
		if exitErr.Signal() != "" {
			res.ExitSignal = exitErr.Signal()
		} else {
			status := exitErr.ExitStatus()
			res.ExitStatus = &status
		}
	case errors.Is(waitErr, io.EOF):
		return errors.New("session ended without exit status")
	default:
		var missing *ssh.ExitMissingError
		if errors.As(waitErr, &missing) {
			return errors.New("exit status missing")
		}
		return waitErr
	}
	return nil
}
