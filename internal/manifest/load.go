package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fileExtensions are the files kubectl picks up when given a directory; it
// compares them case-sensitively, and so do we.
var fileExtensions = map[string]bool{".json": true, ".yaml": true, ".yml": true}

// Load reads paths with the semantics of kubectl's -f: a file (whatever its
// extension), a directory (recursively, its *.json, *.yaml and *.yml files in
// lexical order) or "-" for opts.Stdin.
//
// Loading does not stop at the first problem: the Result holds every object
// that loaded, and the error, an ErrorList, every problem (one per line).
// Callers that apply nothing on error check the error first.
func Load(opts Options, paths ...string) (*Result, error) {
	d := newDecoder(opts)
	for _, p := range paths {
		if p == "-" {
			if opts.Stdin == nil {
				d.fail(&Error{Src: Source{File: "-"}, Msg: "no standard input to read for \"-\""})
				continue
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				d.fail(&Error{Src: Source{File: "-"}, Msg: fmt.Sprintf("reading standard input: %v", err)})
				continue
			}
			d.decodeFile("-", data)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				d.fail(&Error{Src: Source{File: p}, Msg: fmt.Sprintf("the path %q does not exist", p)})
			} else {
				d.fail(&Error{Src: Source{File: p}, Msg: err.Error()})
			}
			continue
		}
		if !fi.IsDir() {
			d.readFile(p)
			continue
		}
		// WalkDir visits entries in lexical order, as kubectl's filepath.Walk.
		err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				d.fail(&Error{Src: Source{File: path}, Msg: err.Error()})
				if de != nil && de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if de.IsDir() || !fileExtensions[filepath.Ext(path)] {
				return nil
			}
			d.readFile(path)
			return nil
		})
		if err != nil {
			d.fail(&Error{Src: Source{File: p}, Msg: err.Error()})
		}
	}
	return d.res, d.errs.orNil()
}

// Decode decodes one file's content; file names it in positions. It is
// what Load does for each file, exposed for input that is not on disk (the
// UI's editor, tests, fuzzing).
func Decode(file string, data []byte, opts Options) (*Result, error) {
	d := newDecoder(opts)
	d.decodeFile(file, data)
	return d.res, d.errs.orNil()
}

func (d *decoder) readFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		d.fail(&Error{Src: Source{File: path}, Msg: err.Error()})
		return
	}
	d.decodeFile(path, data)
}
