// Package examples holds runnable setups: the demo configuration and a fake CRM vendor that
// behaves like a real one (validation errors, slow answers) for the demo and the tests.
package examples
