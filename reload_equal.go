package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/mtguard/mtguard/config"
)

// sameSetting reports whether two config values say the same thing. Where each thing was
// written does not count (Line fields, a pin's Key, unexported position records), so a route
// that only moved in the file is not reported as changed. Functions count as equal: they are
// derived from the data beside them.
func sameSetting(a, b any) bool {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

func sameValue(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		t, exported := a.Type(), 0
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			exported++
			if f.Name == "Line" || (f.Name == "Key" && f.Type.Kind() == reflect.String) {
				continue
			}
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		if exported == 0 && a.CanInterface() && b.CanInterface() {
			// A value type such as time.Time or netip.Prefix: compare it whole.
			return reflect.DeepEqual(a.Interface(), b.Interface())
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !sameValue(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	case reflect.Func:
		return true
	}
	if a.CanInterface() && b.CanInterface() {
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
	return true
}

// contractDigests is, per route, a digest of the contract files its pins name: a schema file
// edited in place changes what the route checks without changing the config.
func contractDigests(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, rc := range cfg.Routes {
		var files []string
		for _, p := range rc.Contracts.Pins {
			files = append(files, p.Request)
			for _, f := range p.Responses {
				files = append(files, f)
			}
		}
		slices.Sort(files)
		h := sha256.New()
		for _, f := range files {
			if f == "" || strings.HasPrefix(f, "builtin:") {
				continue
			}
			b, _ := os.ReadFile(f) // unreadable: the check of the config says so
			h.Write([]byte(f + "\x00"))
			h.Write(b)
		}
		out[rc.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// routesDiffer reports whether a setting that only a restart applies (pick) differs between a
// route of next and the route of the same name at start (a new route is compared with one
// that does not set it).
func routesDiffer(boot, next *config.Config, pick func(config.Route) any) bool {
	for _, n := range next.Routes {
		var b config.Route
		for _, r := range boot.Routes {
			if r.Name == n.Name {
				b = r
			}
		}
		if !sameSetting(pick(b), pick(n)) {
			return true
		}
	}
	return false
}
