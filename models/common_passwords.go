package models

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed" // the list below
	"slices"
	"strings"
	"sync"
)

// The 100,000 most common passwords of SecLists' "10 million password list", as Wikimedia's
// CommonPasswords library ships it (MIT; source, version and checksum in passwords/README.md).
// gzip -9 -n of the file as published: 375 KB in the binary.
//
//go:embed passwords/10_million_password_list_top_100000.txt.gz
var commonPasswordsGz []byte

// commonPasswordBucketBits sets how many buckets the index spreads the hashes over, by their top
// bits: with 96,518 distinct lower-cased passwords, 1.5 per bucket on average.
const commonPasswordBucketBits = 16

// commonPasswordSet is the list as 64-bit FNV-1a hashes of the lower-cased passwords, sorted,
// with the start of each bucket (hashes sharing their top 16 bits). A lookup reads one bucket:
// O(1), a couple of comparisons. Memory: 8 bytes per password (754 KiB) and 4 per bucket
// (256 KiB), 1091 KiB on the heap as TestCommonPasswordsMemory measures it. Two different passwords share a
// hash with probability 2^-64 each: the chance that any password outside the list is refused is
// about 96,518 × 2^-64 ≈ 5·10^-15.
type commonPasswordSet struct {
	hashes  []uint64
	buckets []uint32 // len 1<<bits + 1; hashes[buckets[b]:buckets[b+1]] is bucket b
}

var commonPasswords = sync.OnceValue(func() *commonPasswordSet {
	set, err := newCommonPasswordSet(commonPasswordsGz)
	if err != nil {
		panic("models: embedded common password list unreadable: " + err.Error()) // a broken build
	}
	return set
})

// WarmCommonPasswords builds the common-password index (tens of ms) ahead of the first
// registration that needs it.
func WarmCommonPasswords() { commonPasswords() }

// IsCommonPassword reports whether password, ignoring case, is on the list.
func IsCommonPassword(password string) bool {
	return commonPasswords().contains(hashPassword(strings.ToLower(password)))
}

func newCommonPasswordSet(gz []byte) (*commonPasswordSet, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	var hashes []uint64
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			hashes = append(hashes, hashPassword(strings.ToLower(line)))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Sort(hashes)
	hashes = slices.Clip(slices.Compact(hashes))
	buckets := make([]uint32, 1<<commonPasswordBucketBits+1)
	i := 0
	for b := range buckets {
		for i < len(hashes) && int(hashes[i]>>(64-commonPasswordBucketBits)) < b {
			i++
		}
		buckets[b] = uint32(i) //nolint:gosec // ≤ len(hashes), about 10^5
	}
	return &commonPasswordSet{hashes: hashes, buckets: buckets}, nil
}

func (s *commonPasswordSet) contains(h uint64) bool {
	b := h >> (64 - commonPasswordBucketBits)
	return slices.Contains(s.hashes[s.buckets[b]:s.buckets[b+1]], h)
}

// hashPassword is 64-bit FNV-1a followed by MurmurHash3's finaliser: stable across processes
// (the index could be built ahead of time), no key needed (a collision only refuses a
// password). FNV alone leaves the top bits of short strings poorly mixed (its largest bucket
// held 38 hashes); the finaliser spreads them (largest bucket 8, TestCommonPasswords logs it).
func hashPassword(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}
