"""A stand-in credhub for the lifecycle tests: a real HTTPS server that requires a client
certificate signed by a given CA (mutual TLS, as credhub does for instance identity).

usage: credhub_server.py CERT KEY CLIENT_CA LOG STATUSES REPLY_FILE
  STATUSES   comma-separated HTTP statuses for successive requests; the last one repeats
  REPLY_FILE body of 2xx replies; other replies carry {"error": "..."}
Prints the port it listens on (127.0.0.1) on stdout, then serves until killed. Each request
is appended to LOG as a JSON line: method, path, content_type, body, client_cn.
"""
import http.server
import json
import ssl
import sys

cert, key, client_ca, log_path, statuses, reply_file = sys.argv[1:7]
statuses = [int(s) for s in statuses.split(",")]
with open(reply_file, "rb") as f:
    reply = f.read()
served = 0


class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out as separate TLS records
    protocol_version = "HTTP/1.1"  # keep-alive, as credhub's server does

    def do_POST(self):
        global served
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        peer = self.connection.getpeercert() or {}
        cn = ""
        for rdn in peer.get("subject", ()):
            for name, value in rdn:
                if name == "commonName":
                    cn = value
        with open(log_path, "a") as log:
            log.write(json.dumps({
                "method": self.command, "path": self.path,
                "content_type": self.headers.get("Content-Type", ""),
                "body": body.decode("utf-8", "replace"), "client_cn": cn}) + "\n")
        status = statuses[min(served, len(statuses) - 1)]
        served += 1
        out = reply if 200 <= status < 300 else json.dumps(
            {"error": "test server says %d" % status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(client_ca)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
