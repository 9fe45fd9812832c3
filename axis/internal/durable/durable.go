// Package durable writes files that survive a crash of the machine: whole or not at
// all, with the directory entry synced. The store keeps its own, stricter, helpers.
package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncDir makes the entries of dir durable: files created, renamed or removed in it. A
// filesystem that cannot sync a directory (EINVAL) has nothing more it can do.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, fs.ErrInvalid) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFile writes b to path so that path either keeps what it held or holds all of b,
// even across a crash: a hidden temporary file in the same directory, synced, given
// perm, renamed over path, then the directory synced so the rename is durable too.
func WriteFile(path string, b []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}
