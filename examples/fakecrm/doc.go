// Package fakecrm is a small fake CRM vendor for mtguard's demo and tests. CRM is an
// http.Handler with a lead API that fails the way real CRMs fail: errors are shaped like
// HubSpot's (a category, a message, a correlationId and per-property details), a duplicate
// email is a 409 that names the existing contact, and a partly failed batch is a 207
// Multi-Status whose errors point at input indexes. GET /v1/slow answers late on demand, so
// proxy timeouts can be tested.
//
// Leads are kept in memory only. The package has no package-level state: every CRM is
// independent, and one CRM is safe for concurrent use.
package fakecrm
