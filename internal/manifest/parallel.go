package manifest

import (
	"runtime"
	"sync"
)

// parallelFrom is the document count from which a file's documents are
// decoded on every CPU: a generated manifest of a thousand pods is 1.5k
// documents, and decoding them (two YAML parses and a typed decode each) was
// nine tenths of `matrix`'s time.
const parallelFrom = 32

// decodeChunks decodes a file's documents, each with a decoder of its own,
// and keeps what they found in document order: the same objects, notes and
// errors as one decoder taking them in turn.
func (d *decoder) decodeChunks(file string, chunks []chunk) {
	workers := min(runtime.GOMAXPROCS(0), len(chunks)/parallelFrom+1)
	if workers < 2 {
		for _, c := range chunks {
			d.decodeDoc(file, c, nil)
		}
		return
	}
	subs := make([]*decoder, len(chunks))
	next := make(chan int, len(chunks))
	for i := range chunks {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sub := newDecoder(d.opts)
				sub.reference = d.reference
				sub.decodeDoc(file, chunks[i], nil)
				subs[i] = sub
			}
		}()
	}
	wg.Wait()
	for _, sub := range subs {
		d.res.Objects = append(d.res.Objects, sub.res.Objects...)
		d.res.Notes = append(d.res.Notes, sub.res.Notes...)
		d.errs = append(d.errs, sub.errs...)
	}
}
