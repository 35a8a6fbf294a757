package config

import (
	"encoding"
	"reflect"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2/unstable"
)

// go-toml hands the raw text of a TOML number to a TextUnmarshaler (Duration, Rate)
// and returns its error without a position. locateNumberError finds that value: the
// first key-value in document order whose key is such a field, whose value is a
// number, and whose text the field's UnmarshalText rejects (decoding stops at the
// first error, so that is the one). It returns nil when none is found.
func locateNumberError(data []byte) *Error {
	fields := textFields()
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
		case unstable.KeyValue:
			v := e.Value()
			if v.Kind != unstable.Integer && v.Kind != unstable.Float {
				continue
			}
			key := strings.Join(append(append([]string{}, table...), keyParts(e.Key())...), ".")
			t, ok := fields[key]
			if !ok {
				continue
			}
			err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText(v.Data)
			if err == nil {
				continue
			}
			k := e.Key()
			k.Next()
			return &Error{Line: p.Shape(k.Node().Raw).Start.Line, Key: key, Msg: err.Error()}
		}
	}
	return nil
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// textFields maps the dotted TOML key of every Config field whose type implements
// encoding.TextUnmarshaler (through a pointer) to that type.
var textFields = sync.OnceValue(func() map[string]reflect.Type {
	tu := reflect.TypeFor[encoding.TextUnmarshaler]()
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			switch {
			case reflect.PointerTo(f.Type).Implements(tu):
				out[prefix+name] = f.Type
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
})
