package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

func sumSHA256(b []byte) [32]byte { return sha256.Sum256(b) }

// Cache is the local content-addressed module store:
//
//	DIR/blobs/sha256/<hex>   wasm bytes, named by their sha256
//	DIR/refs/<hex>.json      what a reference resolved to (an [Entry]),
//	                         named by the sha256 of the canonical reference
//
// Writes are atomic (temporary file + rename), blobs are verified against
// their name on every read (a corrupt file is deleted and reads as a
// miss), and every use refreshes the files' modification time, which GC
// compares with its cut-off.
type Cache struct {
	dir string
}

// Entry records what a reference resolved to.
type Entry struct {
	Ref            string            `json:"ref"`
	WasmDigest     string            `json:"wasm_digest"`
	ManifestDigest string            `json:"manifest_digest,omitempty"`
	LayerDigest    string            `json:"layer_digest,omitempty"`
	MediaType      string            `json:"media_type,omitempty"`
	Format         Format            `json:"format,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Fetched        time.Time         `json:"fetched"`
}

// OpenCache creates (if needed) and opens a cache in dir.
func OpenCache(dir string) (*Cache, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("module cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) blobPath(hexDigest string) string {
	return filepath.Join(c.dir, "blobs", "sha256", hexDigest)
}

func (c *Cache) refPath(ref string) string {
	s := sha256.Sum256([]byte(ref))
	return filepath.Join(c.dir, "refs", hex.EncodeToString(s[:])+".json")
}

// Blob returns the bytes stored under digest ("sha256:<hex>" or hex),
// verified; ok is false on a miss or a corrupt file (which is removed).
func (c *Cache) Blob(digest string) (b []byte, ok bool) {
	h := digestHex(digest)
	if !hexDigest.MatchString(h) {
		return nil, false
	}
	p := c.blobPath(h)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if sha256Hex(b) != h {
		os.Remove(p)
		return nil, false
	}
	touch(p)
	return b, true
}

// PutBlob stores b under its sha256 and returns the digest.
func (c *Cache) PutBlob(b []byte) (string, error) {
	h := sha256Hex(b)
	p := c.blobPath(h)
	if _, err := os.Stat(p); err == nil {
		touch(p)
		return "sha256:" + h, nil
	}
	return "sha256:" + h, writeAtomic(p, b)
}

// Lookup returns the entry stored for ref (canonical form) and its wasm
// bytes, verified.
func (c *Cache) Lookup(ref string) (*Entry, []byte, bool) {
	p := c.refPath(ref)
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, false
	}
	var e Entry
	if json.Unmarshal(raw, &e) != nil || e.Ref != ref {
		return nil, nil, false
	}
	b, ok := c.Blob(e.WasmDigest)
	if !ok {
		return nil, nil, false
	}
	touch(p)
	return &e, b, true
}

// Store records e (keyed by e.Ref).
func (c *Cache) Store(e *Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeAtomic(c.refPath(e.Ref), raw)
}

// GC removes blobs and reference entries unused (neither written nor read)
// for longer than maxUnused, and reference entries whose blob is gone.
// It returns how many files it removed.
func (c *Cache) GC(maxUnused time.Duration) (int, error) {
	cutoff := time.Now().Add(-maxUnused)
	removed := 0
	var errs []error
	blobs := filepath.Join(c.dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		return 0, err
	}
	for _, de := range ents {
		info, err := de.Info()
		if err != nil {
			continue
		}
		if info.ModTime().Before(cutoff) {
			if err := os.Remove(filepath.Join(blobs, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	refs := filepath.Join(c.dir, "refs")
	ents, err = os.ReadDir(refs)
	if err != nil {
		return removed, err
	}
	for _, de := range ents {
		p := filepath.Join(refs, de.Name())
		info, err := de.Info()
		if err != nil {
			continue
		}
		stale := info.ModTime().Before(cutoff)
		if !stale {
			var e Entry
			raw, err := os.ReadFile(p)
			if err != nil || json.Unmarshal(raw, &e) != nil {
				stale = true
			} else if _, err := os.Stat(c.blobPath(digestHex(e.WasmDigest))); err != nil {
				stale = true
			}
		}
		if stale {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

func touch(p string) {
	now := time.Now()
	os.Chtimes(p, now, now)
}

// writeAtomic writes b to p through a temporary file in the same
// directory, synced, then renamed over p: readers see the old file or the
// whole new one, never a partial write.
func writeAtomic(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
