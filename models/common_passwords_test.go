package models

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"runtime"
	"strings"
	"testing"
)

// Every password of the embedded list is found, in its own case, lower-cased and upper-cased;
// passwords not on it are not.
func TestCommonPasswords(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		p := strings.TrimRight(sc.Text(), "\r")
		if p == "" {
			continue
		}
		n++
		for _, v := range []string{p, strings.ToLower(p), strings.ToUpper(p)} {
			if !IsCommonPassword(v) {
				t.Fatalf("line %d %q not found as %q", n, p, v)
			}
		}
	}
	if n < 100000 {
		t.Fatalf("the list has %d passwords, want at least 100,000", n)
	}
	for _, p := range []string{"correct-horse-9", "Tr0ub4dor&3-x", "new-horse-2", "abcdefh7", "file-passw0rd"} {
		if IsCommonPassword(p) {
			t.Errorf("%q is refused as common", p)
		}
	}
	set := commonPasswords()
	largest := 0
	for b := range len(set.buckets) - 1 {
		largest = max(largest, int(set.buckets[b+1]-set.buckets[b]))
	}
	t.Logf("%d lines, %d distinct lower-cased hashes, largest bucket %d", n, len(set.hashes), largest)
}

// TestCommonPasswordsMemory reports the heap the index keeps (runtime.MemStats, after a GC on
// each side), and bounds it: the list must cost about a megabyte, not a map's tens.
func TestCommonPasswordsMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	set, err := newCommonPasswordSet(commonPasswordsGz)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("index of %d hashes: %d KiB kept on the heap (hashes %d KiB, buckets %d KiB)",
		len(set.hashes), kept>>10, len(set.hashes)*8>>10, len(set.buckets)*4>>10)
	if kept > 2<<20 {
		t.Fatalf("the index keeps %d bytes, want under 2 MiB", kept)
	}
	runtime.KeepAlive(set)
}

func BenchmarkIsCommonPassword(b *testing.B) {
	WarmCommonPasswords()
	b.ReportAllocs()
	for i := range b.N {
		if i%2 == 0 {
			IsCommonPassword("Password1")
		} else {
			IsCommonPassword("correct-horse-9")
		}
	}
}
