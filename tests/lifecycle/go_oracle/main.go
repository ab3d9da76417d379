// go_oracle answers with what Go's standard library does, so the C++ re-implementations in
// lifecycle/ (go_json, go_url, credhub_flags, vcap) can be compared against the real thing.
// Each input line is "<kind> <hex of the input>"; each output line is "ok <hex of the result>"
// or "err". Kinds mirror how buildpackapplifecycle uses the library:
//   json      json.Unmarshal into interface{}, then json.Marshal
//   url       url.Parse, then URL.String()
//   duration  time.ParseDuration, in nanoseconds
//   int       strconv.ParseInt(s, 0, 64) (the flag package's int)
//   atoi      strconv.Atoi (PORT, INSTANCE_INDEX)
//   platform  json.Unmarshal into struct{ CredhubURI string `json:"credhub-uri"` }
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func answer(kind, in string) (string, error) {
	switch kind {
	case "json":
		var v interface{}
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			return "", err
		}
		out, err := json.Marshal(v)
		return string(out), err
	case "url":
		u, err := url.Parse(in)
		if err != nil {
			return "", err
		}
		return u.String(), nil
	case "duration":
		d, err := time.ParseDuration(in)
		return strconv.FormatInt(int64(d), 10), err
	case "int":
		n, err := strconv.ParseInt(in, 0, 64)
		return strconv.FormatInt(n, 10), err
	case "atoi":
		n, err := strconv.Atoi(in)
		return strconv.Itoa(n), err
	case "platform":
		var p struct {
			CredhubURI string `json:"credhub-uri"`
		}
		err := json.Unmarshal([]byte(in), &p)
		return p.CredhubURI, err
	}
	return "", fmt.Errorf("unknown kind %q", kind)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		kind, arg, _ := strings.Cut(in.Text(), " ")
		raw, err := hex.DecodeString(arg)
		if err == nil {
			var result string
			if result, err = answer(kind, string(raw)); err == nil {
				fmt.Fprintf(out, "ok %s\n", hex.EncodeToString([]byte(result)))
				continue
			}
		}
		fmt.Fprintln(out, "err")
	}
}
