package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// maxSecretFile bounds how much of a *_file is read: a secret is a line, and a
// path pointing at a log or a device by mistake should fail, not load megabytes.
const maxSecretFile = 64 << 10

// Load reads the config file at path, applies defaults, reads the secrets
// named by *_file keys (relative to the file's directory) and validates the
// result. Every problem is returned at once as Errors, each placed at
// file:line:col where the file allows. Warnings are available on the result.
// codecs read the protocols' [discovery.NAME] tables (protocol.Spec.Config of each driver); a table of a
// protocol not among them is an unknown key.
func Load(path string, codecs ...TableCodec) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{Source: path, Msg: "cannot read config: " + reason(err), Err: err}}
	}
	c, inline, err := parse(path, data, filepath.Dir(path), codecs)
	if err != nil {
		return nil, err
	}
	c.Path = path
	if len(inline) > 0 {
		if fi, err := os.Stat(path); err == nil && othersCanRead(fi.Mode()) {
			c.warnings = append(c.warnings, fmt.Sprintf(
				"%s: holds secrets inline (%s) and is readable by others (mode %04o); chmod 600 it, or move them to *_file keys",
				path, strings.Join(inline, ", "), fi.Mode().Perm()))
		}
	}
	return c, nil
}

// Parse is Load for a config already in memory (tests, `edgegw config check
// -`). name is only used in messages; relative *_file paths are taken relative
// to the current directory. The result's Path is empty.
func Parse(name string, data []byte, codecs ...TableCodec) (*Config, error) {
	c, _, err := parse(name, data, "", codecs)
	return c, err
}

// parse does the work of Load and Parse. It also returns the key paths of the
// secrets written inline, for Load's file-permission warning.
func parse(name string, data []byte, baseDir string, codecs []TableCodec) (*Config, []string, error) {
	doc, err := tomlx.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	c := Default()
	tomlx.Decode(doc.Table(), c, tableKeys(codecs)...)
	var inline []string
	env := &Env{dir: baseDir, warnings: &c.warnings, inline: &inline}
	c.Discovery.Tables = decodeTables(doc, env, codecs, false)
	if top := decodeTables(doc, env, codecs, true); len(top) > 0 {
		c.Tables = top
	}
	var es errs
	inline = append(inline, c.resolve(&es, baseDir)...)
	// A value that failed to decode is reported once: the Doc keeps the first error per key.
	if err := c.Validate(); err != nil {
		es = append(es, err.(Errors)...)
	}
	for _, e := range es {
		doc.Add(e)
	}
	if err := doc.Err(); err != nil {
		return nil, nil, err
	}
	return c, inline, nil
}

// resolve does what needs more than one key or the file system: canonical enum
// spellings, dependent defaults, target parsing, reading *_file secrets,
// relative paths. It returns the key paths of secrets written inline.
func (c *Config) resolve(es *errs, baseDir string) (inline []string) {
	c.Gateway.StateDir = relTo(baseDir, c.Gateway.StateDir)
	for i, d := range c.Profiles.Dirs {
		c.Profiles.Dirs[i] = relTo(baseDir, d)
	}
	c.Cloud.resolve(c, es, baseDir)
	c.Admin.resolve(baseDir)
	c.Log.Level = canonical(c.Log.Level, logLevels)
	c.Log.Format = canonical(c.Log.Format, logFormats)

	return inline
}

// readSecret fills *secret from *file (made absolute against baseDir) when a
// file is named, and warns when other users can read that file.
func (c *Config) readSecret(es *errs, prefix, name string, secret *Secret, file *string, baseDir string) {
	if *file == "" {
		return
	}
	key := prefix + "." + name + "_file"
	if *secret != "" {
		es.add(prefix+"."+name, "set both %s and %s_file; keep only one", name, name)
		return
	}
	*file = relTo(baseDir, *file)
	val, mode, err := readSecretFile(*file)
	if err != nil {
		es.wrap(key, err, "cannot read %s: %s", *file, reason(err))
		return
	}
	*secret = Secret(val)
	if othersCanRead(mode) {
		c.warnings = append(c.warnings, fmt.Sprintf("%s %s is readable by others (mode %04o); chmod 600 it", key, *file, mode.Perm()))
	}
}

// readSecretFile reads a one-line secret. Only regular files are read, so a
// path to a FIFO or a device cannot block or flood the loader.
func readSecretFile(path string) (string, fs.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", 0, err
	}
	if len(b) > maxSecretFile {
		return "", 0, errors.New("larger than 64 KiB; is this the right file?")
	}
	s := strings.TrimRight(string(b), "\r\n")
	switch {
	case s == "":
		return "", 0, errors.New("the file is empty")
	case strings.ContainsAny(s, "\r\n"):
		return "", 0, errors.New("the file has more than one line; it must hold only the secret")
	}
	return s, fi.Mode(), nil
}

// othersCanRead reports a world-readable file. Group-readable is left alone:
// root:edgegw 0640 is the usual way to share a secret with the service user.
// Windows has no such mode bits; its ACLs are not checked.
func othersCanRead(m fs.FileMode) bool {
	return runtime.GOOS != "windows" && m.Perm()&0o004 != 0
}

// relTo makes a relative path relative to the config file's directory, so a
// config behaves the same whatever the daemon's working directory is.
func relTo(baseDir, p string) string {
	if p == "" || baseDir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(baseDir, p)
}

// reason is the part of an os error worth showing: *PathError repeats the path,
// which the message already names.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
