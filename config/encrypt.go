package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// Encrypt is store.encrypt: the stored headers, trailers and bodies of every call are
// encrypted with AES-256-GCM under keys read from the environment variable KeyEnv at start.
// The variable holds one or more keys, "id:base64(32 bytes)" separated by commas: the first
// encrypts what is written from then on, all of them decrypt (rotation: put the new key first,
// keep the old ones until store.retention has deleted what they encrypted). What the indexes
// need (route, path, record keys, status, outcome, findings) stays in clear.
type Encrypt struct {
	KeyEnv string
	Line   int // the line of the block, for messages about it
}

// encrypt reads store.encrypt: {key_env: MTGUARD_STORE_KEYS}; nil when absent.
func (p *configParser) encrypt(n *yaml.Node) *Encrypt {
	const key = "store.encrypt"
	n = yamlstrict.Deref(n)
	if n != nil && !yamlstrict.Present(n) {
		p.Addf(n.Line, key, "empty; write {key_env: MTGUARD_STORE_KEYS} to encrypt the store, or remove the key")
	}
	if !yamlstrict.Present(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, "key_env")
	if !ok {
		return nil
	}
	e := &Encrypt{Line: n.Line}
	v, ok := p.Str(f.Get("key_env"), key+".key_env")
	switch {
	case !ok && !yamlstrict.Given(f.Get("key_env")):
		p.Addf(n.Line, key, "key_env is required: the environment variable holding the keys, like {key_env: MTGUARD_STORE_KEYS}")
	case !ok:
	case !envNameRE.MatchString(v):
		p.Addf(f.Get("key_env").Line, key+".key_env", "%q is not an environment variable name; put the keys (id:base64, comma-separated) in a variable such as MTGUARD_STORE_KEYS and name the variable here, never a key", v)
	default:
		e.KeyEnv = v
	}
	return e
}
