package socket

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrSocketInUse means another process answers on the socket path.
var ErrSocketInUse = errors.New("socket in use by a running server")

// ListenUnix creates the Unix socket at path with the given mode and group
// (a name or a number; "" keeps the process group). A stale socket left by a
// crash is replaced; a live one is ErrSocketInUse; any other kind of file at
// path is an error and is left alone. The listener removes the socket when
// closed.
func ListenUnix(path string, mode fs.FileMode, group string) (*net.UnixListener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", path, err)
		}
		gid = g
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("listen on %s: %w: %s", path, ErrNoDirectory, filepath.Dir(path))
		}
		return nil, fmt.Errorf("listen on %s: %w", path, bare(err))
	}
	ln.SetUnlinkOnClose(true)
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("set group of %s: %w", path, bare(err))
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set mode of %s: %w", path, bare(err))
	}
	return ln, nil
}

// ErrNoDirectory means the directory of a socket path does not exist.
var ErrNoDirectory = errors.New("directory does not exist")

// CheckPath reports whether ListenUnix could create a socket at path as far
// as the file system goes: its directory must exist (else an error wrapping
// ErrNoDirectory and naming it), and path must be absent or a socket (else an
// error saying what it is).
func CheckPath(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNoDirectory, dir)
	case err != nil:
		return fmt.Errorf("check directory %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is %s, not a directory", dir, fileKind(fi.Mode()))
	}
	fi, err = os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("check %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s is %s, not a socket; remove it or choose another path", path, fileKind(fi.Mode()))
	}
	return nil
}

// fileKind names the type of file m describes, e.g. "a regular file".
func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s is %s, not a socket; remove it or choose another path", path, fileKind(fi.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen on %s: %w", path, ErrSocketInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check %s: %w", path, bare(err))
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, bare(err))
	}
	return nil
}

// bare strips the operation and path that net.OpError and fs.PathError
// add, for errors whose message names the path already.
func bare(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err
}

func lookupGroup(group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("look up group %q: %w", group, err)
	}
	return strconv.Atoi(g.Gid)
}
