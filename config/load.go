package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// maxFileSize bounds what Load reads: a configuration with 100,000 override
// patterns is a few MB.
const maxFileSize = 16 << 20

// Load reads, decodes and validates the file at path. A missing file is an error
// (wrapping fs.ErrNotExist); errors carry the path, e.g.
// "/etc/tlsprobed/config.toml:12: probe.timout: unknown key".
func Load(path string) (Config, error) {
	return load(path)
}

// LoadOrDefault is Load, except that a missing file at DefaultPath means Default():
// tlsprobed runs without a configuration file unless one is named. A missing file
// at any other path is an error.
func LoadOrDefault(path string) (Config, error) {
	return loadOrDefault(path, DefaultPath)
}

func loadOrDefault(path, defaultPath string) (Config, error) {
	cfg, err := load(path)
	if path == defaultPath && errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	return cfg, err
}

func load(path string) (Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := Parse(data)
	if err != nil {
		setFile(err, path)
		return Config{}, err
	}
	if cfg.OverrideLists.Directory != "" {
		if err := loadOverrideDir(&cfg, path); err != nil {
			setFile(err, path)
			return Config{}, err
		}
	}
	return cfg, nil
}

// readLimited reads a whole file of at most maxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file larger than %d bytes", maxFileSize)}
	}
	return data, nil
}

// Parse decodes data over Default() (absent keys keep their defaults), rejects
// unknown keys, and validates the result. Errors are *Error values (several joined
// when there are several problems) with the line for decoding problems.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, decodeError(data, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeError turns go-toml's errors into *Error values with line and key.
func decodeError(data []byte, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, 0, len(sm.Errors))
		for i := range sm.Errors {
			line, _ := sm.Errors[i].Position()
			key := sm.Errors[i].Key()
			msg := "unknown key"
			if len(key) == 1 {
				if secs := sectionsWithKey(key[0]); len(secs) > 0 {
					msg += "; " + key[0] + " belongs in [" + strings.Join(secs, "] or [") + "]"
				}
			}
			errs = append(errs, &Error{Line: line, Key: strings.Join(key, "."), Msg: msg})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &Error{Line: line, Key: strings.Join(de.Key(), "."), Msg: friendlyMessage(de.Error())}
	}
	// go-toml returns a TextUnmarshaler's rejection of a TOML number without
	// position: find it.
	if e := locateNumberError(data); e != nil {
		return e
	}
	return &Error{Msg: friendlyMessage(err.Error())}
}

// sectionsWithKey names the sections of Config (by their TOML table names)
// that have a key called name: the hint for a key written at the top level.
func sectionsWithKey(name string) []string {
	var secs []string
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sf := ct.Field(i)
		if sf.Type.Kind() != reflect.Struct {
			continue
		}
		for j := range sf.Type.NumField() {
			if tomlName(sf.Type.Field(j)) == name {
				secs = append(secs, tomlName(sf))
				break
			}
		}
	}
	return secs
}

// tomlName is the key go-toml decodes into f.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

var mismatchRE = regexp.MustCompile(`^cannot decode TOML (\S+) into (?:struct field \S+ of type )?(.+)$`)

// goTypeWords names the Go types of Config's fields the way an admin writes them.
var goTypeWords = map[string]string{
	"string":          "a string",
	"int":             "an integer",
	"bool":            "true or false",
	"[]string":        "an array of strings",
	"config.Duration": `a duration string such as "30s"`,
	"config.Rate":     `a rate such as "1/10s" or a number per second`,
}

func friendlyMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	if m := mismatchRE.FindStringSubmatch(msg); m != nil {
		want, ok := goTypeWords[m[2]]
		switch {
		case ok:
		case strings.HasPrefix(m[2], "config."): // a section struct
			want = "a table"
		default:
			want = m[2]
		}
		return "want " + want + ", not a TOML " + m[1]
	}
	return msg
}
