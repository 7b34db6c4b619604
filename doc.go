// Command mtguard is a transparent HTTP proxy that validates, records and watches the calls
// between marketing tools and the vendors they push data to.
package main
