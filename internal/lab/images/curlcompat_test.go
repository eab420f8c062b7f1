package images

import (
	"bytes"
	"strings"
	"testing"
)

func TestCurl7Messages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"curl: (28) Failed to connect to backend port 8080 after 5001 ms: Timeout was reached\n",
			"curl: (28) Connection timed out after 5001 milliseconds\n"},
		{"curl: (28) Failed to connect to 10.96.0.7 port 80 after 2002 ms: Connection timed out\n",
			"curl: (28) Connection timed out after 2002 milliseconds\n"},
		{"curl: (28) Connection timeout after 5000 ms\n", "curl: (28) Connection timed out after 5000 milliseconds\n"},
		{"curl: (7) Failed to connect to backend port 8080 after 3 ms: Couldn't connect to server\n",
			"curl: (7) Failed to connect to backend port 8080: Connection refused\n"},
		// Messages both releases word alike, and everything else, pass.
		{"curl: (6) Could not resolve host: backend\n", "curl: (6) Could not resolve host: backend\n"},
		{"curl: (28) Resolving timed out after 5000 milliseconds\n", "curl: (28) Resolving timed out after 5000 milliseconds\n"},
		// A progress meter redraws with \r; an error follows on the same line.
		{"  0     0    0     0\r  0     0    0     0\rcurl: (28) Failed to connect to b port 1 after 9 ms: Timeout was reached\n",
			"  0     0    0     0\r  0     0    0     0\rcurl: (28) Connection timed out after 9 milliseconds\n"},
		{"no newline at the end", "no newline at the end"},
	} {
		var out bytes.Buffer
		copyCurlStderr(&out, strings.NewReader(tc.in))
		if out.String() != tc.want {
			t.Errorf("%q\n got %q\nwant %q", tc.in, out.String(), tc.want)
		}
	}
}
