// Package inspect is mtguard's control plane: the admin HTTP API that reads the transaction log,
// and the HTTP client and terminal formatting that the mtguard CLI uses to talk to it.
//
// It reads through the Transactions interface it declares and never imports proxy.
package inspect
