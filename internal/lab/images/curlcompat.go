package images

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
)

// curlCompatEnv, set in an image's env, names the curl release whose error
// messages the image's curl prints. The host's curl (8.x) words some errors
// differently from the 7.x an older image ships: a tutorial that shows
// "curl: (28) Connection timed out after 5001 milliseconds" must see that
// line, not 8.x's "Failed to connect to backend port 8080 after 5001 ms:
// Timeout was reached".
const curlCompatEnv = "PALISADE_CURL_MESSAGES"

// curl7Messages rewrites curl 8's connect errors into curl 7's wording.
var curl7Messages = []struct {
	re   *regexp.Regexp
	repl []byte
}{
	{regexp.MustCompile(`^curl: \(28\) Failed to connect to \S+ port \d+ after (\d+) ms: (?:Timeout was reached|Connection timed out)$`),
		[]byte("curl: (28) Connection timed out after ${1} milliseconds")},
	{regexp.MustCompile(`^curl: \(28\) Connection timeout after (\d+) ms$`),
		[]byte("curl: (28) Connection timed out after ${1} milliseconds")},
	{regexp.MustCompile(`^curl: \(7\) Failed to connect to (\S+) port (\d+) after \d+ ms: (?:Couldn't connect to server|Connection refused)$`),
		[]byte("curl: (7) Failed to connect to ${1} port ${2}: Connection refused")},
}

// rewriteCurl7 returns the curl 7 wording of one stderr line (without its
// terminator), or the line itself.
func rewriteCurl7(line []byte) []byte {
	for _, m := range curl7Messages {
		if m.re.Match(line) {
			return m.re.ReplaceAll(line, m.repl)
		}
	}
	return line
}

// runCurl runs the host's curl with the caller's streams, rewriting its
// error messages on stderr line by line (progress meters, which end in \r,
// pass through as they come).
func runCurl(p *proc, args []string) error {
	bin := firstPath("curl")
	if bin == "" {
		return errors.New("curl is not installed on this machine (apt-get install curl)")
	}
	cmd := exec.CommandContext(p.ctx, bin, args...)
	// curl hides its progress meter when stdout is a terminal (exec -t):
	// it gets the process's own stdout, not a pipe.
	cmd.Stdin, cmd.Stdout, cmd.Env = os.Stdin, os.Stdout, p.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	copyCurlStderr(p.stderr, stderr)
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

func copyCurlStderr(w io.Writer, r io.Reader) {
	br := bufio.NewReader(r)
	for {
		chunk, err := readLineOrCR(br)
		if len(chunk) > 0 {
			body, end := chunk, []byte(nil)
			if last := chunk[len(chunk)-1]; last == '\n' || last == '\r' {
				body, end = chunk[:len(chunk)-1], chunk[len(chunk)-1:]
			}
			_, _ = w.Write(append(append([]byte(nil), rewriteCurl7(body)...), end...))
		}
		if err != nil {
			return
		}
	}
}

// readLineOrCR reads up to and including the next \n or \r.
func readLineOrCR(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return out, err
		}
		out = append(out, b)
		if b == '\n' || b == '\r' {
			return out, nil
		}
	}
}
