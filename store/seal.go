package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// Encryption at rest (store.encrypt). The sensitive parts of each stored message (headers,
// trailers and body) are sealed together with AES-256-GCM; what the indexes and filters need
// (id, time, route, method, path, caller, record keys, status, outcome, findings, sizes,
// content type) stays in clear. A sealed message is written in the existing txn.Message shape:
// body_encoding "aes-gcm" and body "<key id>:<base64 of nonce and ciphertext>", headers and
// trailers left out. Keeping the shape (rather than adding a field) means every path that
// decodes a stored record and encodes it again without looking at the message (journal
// replay, crash recovery, replay links) carries the sealed bytes along untouched, and the
// plain encoding is byte for byte what it was. The store opens sealed messages on read
// (Get, Query, Forget): its callers see plain text.

// SealedEncoding is the body_encoding of a sealed message.
const SealedEncoding = "aes-gcm"

// ErrKeyUnknown is wrapped by errors about a sealed message whose key id the keyring does
// not hold.
var ErrKeyUnknown = errors.New("encrypted with a key that store.encrypt does not hold")

// keyIDRE is what a key id may be: it is written into every sealed message.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Keys is the keyring of store.encrypt: new messages are sealed with the first key, and
// messages sealed with any of them can be opened (rotation: put the new key first, keep the
// old ones until retention has deleted what they sealed).
type Keys struct {
	ids  []string
	aead map[string]cipher.AEAD
}

// ParseKeys reads a keyring written as "id:base64key[,id:base64key...]", each key 32 bytes
// (AES-256) in standard base64. Its errors never hold key material.
func ParseKeys(s string) (*Keys, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty; write one or more keys as id:base64 (32 random bytes, e.g. from openssl rand -base64 32), separated by commas, the newest first")
	}
	k := &Keys{aead: map[string]cipher.AEAD{}}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		id, b64, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("key %d has no id; write it as id:base64 (e.g. k2025:...)", i+1)
		}
		if !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("key %d: id %q is not 1 to 32 letters, digits, '.', '_' or '-'", i+1, id)
		}
		if _, dup := k.aead[id]; dup {
			return nil, fmt.Errorf("key %d: id %q is used twice; give each key its own id", i+1, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if err != nil {
			return nil, fmt.Errorf("key %q is not valid base64", id)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("key %q is %d bytes; AES-256 needs 32 (openssl rand -base64 32)", id, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		k.ids = append(k.ids, id)
		k.aead[id] = gcm
	}
	return k, nil
}

// Current is the id of the key new messages are sealed with.
func (k *Keys) Current() string { return k.ids[0] }

// IDs lists the key ids, the current one first.
func (k *Keys) IDs() []string { return append([]string(nil), k.ids...) }

// sealedParts is what a sealed message's ciphertext holds.
type sealedParts struct {
	Headers      http.Header `json:"headers,omitempty"`
	Trailers     http.Header `json:"trailers,omitempty"`
	Body         string      `json:"body,omitempty"`
	BodyEncoding string      `json:"body_encoding,omitempty"`
}

// sideRequest and sideResponse bind a sealed message to its place, with the call's id (the
// GCM additional data), so a ciphertext moved to another record or side does not open.
const (
	sideRequest  = "req"
	sideResponse = "res"
)

func additional(keyID, id, side string) []byte {
	return []byte("mtguard-seal-v1\x00" + keyID + "\x00" + id + "\x00" + side)
}

// seal returns m with its headers, trailers and body sealed with the current key; a message
// with none of them (or k nil) is returned as it is.
func (k *Keys) seal(m txn.Message, id, side string) (txn.Message, error) {
	if k == nil || (len(m.Headers) == 0 && len(m.Trailers) == 0 && m.Body == "") {
		return m, nil
	}
	plain, err := json.Marshal(sealedParts{Headers: m.Headers, Trailers: m.Trailers, Body: m.Body, BodyEncoding: m.BodyEncoding})
	if err != nil {
		return m, fmt.Errorf("seal message: %w", err)
	}
	keyID := k.ids[0]
	gcm := k.aead[keyID]
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return m, fmt.Errorf("seal message: %w", err)
	}
	ct := gcm.Seal(nonce, nonce, plain, additional(keyID, id, side))
	m.Headers, m.Trailers = nil, nil
	m.Body = keyID + ":" + base64.StdEncoding.EncodeToString(ct)
	m.BodyEncoding = SealedEncoding
	return m, nil
}

// open restores a sealed message in place; a message that is not sealed is left as it is.
// k may be nil (no store.encrypt): a sealed message then cannot be opened.
func (k *Keys) open(m *txn.Message, id, side string) error {
	if m.BodyEncoding != SealedEncoding {
		return nil
	}
	keyID, b64, _ := strings.Cut(m.Body, ":")
	var gcm cipher.AEAD
	if k != nil {
		gcm = k.aead[keyID]
	}
	if gcm == nil {
		held := "store.encrypt is not set"
		if k != nil {
			held = "store.encrypt's keys are " + strings.Join(k.ids, ", ")
		}
		return fmt.Errorf("the stored headers and body are encrypted with key %q and %s: %w", keyID, held, ErrKeyUnknown)
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) < gcm.NonceSize() {
		return fmt.Errorf("the stored headers and body (key %q) are damaged", keyID)
	}
	plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], additional(keyID, id, side))
	if err != nil {
		return fmt.Errorf("the stored headers and body do not decrypt with key %q (damaged, or another key under the same id)", keyID)
	}
	var p sealedParts
	if err := json.Unmarshal(plain, &p); err != nil {
		return fmt.Errorf("the stored headers and body (key %q) decrypt to something unreadable: %w", keyID, err)
	}
	m.Headers, m.Trailers, m.Body, m.BodyEncoding = p.Headers, p.Trailers, p.Body, p.BodyEncoding
	return nil
}

// sealedMark is in the encoding of a record that holds a sealed message. A JSON string
// cannot hold it unescaped, so a record without it has nothing to open.
var sealedMark = []byte(`"body_encoding":"` + SealedEncoding + `"`)

// encodeCall encodes c, its request sealed when k is not nil.
func (k *Keys) encodeCall(c *txn.Call) ([]byte, error) {
	if k == nil {
		return marshalCall(c)
	}
	sealed := *c
	var err error
	if sealed.Request, err = k.seal(c.Request, c.ID, sideRequest); err != nil {
		return nil, err
	}
	return marshalCall(&sealed)
}

// encodeResult encodes the result of the call id, its response sealed when k is not nil.
func (k *Keys) encodeResult(id string, r *txn.Result) ([]byte, error) {
	if k == nil {
		return marshalResult(r)
	}
	sealed := *r
	var err error
	if sealed.Response, err = k.seal(r.Response, id, sideResponse); err != nil {
		return nil, err
	}
	return marshalResult(&sealed)
}

// openTx opens the sealed messages of tx in place. One that cannot be opened is left empty
// (no headers, no body) and the call gets the finding store.undecryptable saying why: a
// listing still shows it, and nothing crashes.
func (k *Keys) openTx(tx *txn.Transaction) (unreadable bool) {
	for _, side := range []struct {
		m    *txn.Message
		name string
	}{{&tx.Request, sideRequest}, {&tx.Response, sideResponse}} {
		if err := k.open(side.m, tx.ID, side.name); err != nil {
			unreadable = true
			side.m.Headers, side.m.Trailers, side.m.Body, side.m.BodyEncoding = nil, nil, "", ""
			what := "request"
			if side.name == sideResponse {
				what = "response"
			}
			tx.Findings = append(tx.Findings, catalogueFinding(txn.CodeStoreUndecryptable, "The "+what+": "+err.Error()+"."))
		}
	}
	return unreadable
}

// plainForScan returns the encoding of a stored call (isCall) or result with its sealed
// message opened, for Forget's search of every stored byte; v itself when nothing is sealed
// or it cannot be opened.
func (s *Store) plainForScan(id string, v []byte, isCall bool) []byte {
	if !bytes.Contains(v, sealedMark) {
		return v
	}
	var tx txn.Transaction
	tx.ID = id
	var out []byte
	var err error
	if isCall {
		if json.Unmarshal(v, &tx.Call) != nil || s.keys.open(&tx.Request, id, sideRequest) != nil {
			return v
		}
		out, err = marshalCall(&tx.Call)
	} else {
		if json.Unmarshal(v, &tx.Result) != nil || s.keys.open(&tx.Response, id, sideResponse) != nil {
			return v
		}
		out, err = marshalResult(&tx.Result)
	}
	if err != nil {
		return v
	}
	return out
}
