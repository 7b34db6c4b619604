// Package console is the web console on the admin listener: server-rendered pages over the
// admin API for the people who run the stack (calls, one call, a lead's journey, routes,
// alerts). It is a client of the admin API: every page reads and every button acts through
// the API's handler, with the signed-in token, so roles, audit and the API's checks apply to
// the console exactly as to the CLI. It imports no store, proxy or config.
package console
